"""Property tests where solvers are most likely to get the verdict wrong (issue 14, item 11).

The strategies (``tests/strategies.py``) drive networks into saturation and
ill-conditioning, repeat kernel columns, and pick targets no input reaches.
Every test asserts the *verdict*, not only success:

* ``success`` is true exactly when an independent forward pass puts the answer
  within tolerance (never a success with a large residual, never a
  failure reported for an answer that is within tolerance);
* a target on the boundary of an activation's image (saturation rounded to
  ``1.0`` in float64) is an ``InfeasibleTargetError``, before any iteration;
* an exactly rank-deficient kernel has no closed form (``NotInvertibleError``
  naming the rank) while ``auto`` still reaches the (reachable) target;
* an unreachable target inside the output layer's image ends with
  ``success=False`` (status ``STALLED`` or ``MAX_ITER``), not an exception.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import symrecon as sr
from symrecon.tolerance import DEFAULT_RTOL, unit_tolerance
from strategies import ill_conditioned_networks, rank_deficient_networks, saturating_cases, unreachable_cases
from symrecon.result import Status

TOL = 1e-9


def max_residual(model, x, y) -> float:
    with np.errstate(all="ignore"):
        r = np.max(np.abs(model(np.asarray(x)) - y))
    return float(r) if np.isfinite(r) else np.inf


def worst_ratio(model, x, y) -> float:
    """max_j |model(x)_j - y_j| / tol_j under the library's documented rule (symrecon.tolerance)."""
    y2 = np.atleast_2d(np.asarray(y, dtype=np.float64))
    tol = unit_tolerance(model, y2, atol=TOL, rtol=DEFAULT_RTOL)
    with np.errstate(all="ignore"):
        q = np.max(np.abs(np.atleast_2d(model(np.asarray(x))) - y2) / tol)
    return float(q) if np.isfinite(q) else np.inf


def assert_verdict(model, y, res):
    """``success`` agrees with an independent forward pass; a failure carries a failing status and a message."""
    if res.status is Status.INFEASIBLE:
        # proved by the closed form (auto, analytic): no answer is offered
        assert not res.success and np.all(np.isnan(res.x)) and res.residual == np.inf and res.message
        return
    r = max_residual(model, res.x, y)
    q = worst_ratio(model, res.x, y)
    note(f"method {res.method}, status {res.status}, residual {r:.3e}, residual / tolerance {q:.3g}")
    if res.success:
        assert q <= 1 + 1e-6, f"success claimed with residual {r:.3e} ({q:.3g} x its tolerance)"
        assert np.all(np.isfinite(res.x))
        assert res.status in (Status.EXACT, Status.CONVERGED)
    else:
        assert res.status not in (Status.EXACT, Status.CONVERGED)
        assert res.message
        # an answer within tolerance must not be reported as a failure
        assert not q <= 1 - 1e-6, f"failure reported for residual {r:.3e} ({q:.3g} x its tolerance, {res.status})"


def _at_image_bound(model, x) -> bool:
    """Does any unit of any layer reach its activation's bound in float64 (tanh = +-1, sigmoid = 0 or 1)?"""
    a = np.asarray(x, dtype=np.float64)
    for layer in model.layers:
        a = layer.forward(a)
        name = layer.activation.name
        if name == "tanh" and np.any(np.abs(a) >= 1.0):
            return True
        if name == "sigmoid" and np.any((a <= 0.0) | (a >= 1.0)):
            return True
    return False


@pytest.mark.parametrize("method", ["auto", "newton"])
@given(saturating_cases())
def test_saturated_targets_get_the_right_verdict(method, case):
    model, x, level = case
    assert level >= 3.5  # the strategy really saturates
    y = model(x)
    note(f"max first-layer pre-activation {level:.1f}, y = {y}")
    if np.any(_output_at_bound(model, y)):
        # the output itself sits on the image's bound: no input produces it, say so before iterating
        with pytest.raises(sr.InfeasibleTargetError):
            sr.reconstruct(model, y, method=method, tol=TOL)
        return
    try:
        res = sr.reconstruct(model, y, method=method, tol=TOL)
    except sr.InfeasibleTargetError:
        # only allowed where some hidden unit rounds onto its bound (the inverse then leaves the image)
        assert _at_image_bound(model, x)
        return
    assert_verdict(model, y, res)


def _output_at_bound(model, y):
    name = model.layers[-1].activation.name
    y = np.asarray(y)
    if name == "tanh":
        return np.abs(y) >= 1.0
    if name == "sigmoid":
        return (y <= 0.0) | (y >= 1.0)
    return np.zeros(y.shape, dtype=bool)


@given(saturating_cases(max_width=1))
def test_single_unit_saturation_is_infeasible_exactly_at_the_bound(case):
    model, x, _ = case
    y = model(x)
    if _output_at_bound(model, y).any():
        for method in ("analytic", "auto", "newton", "gd"):
            with pytest.raises(sr.InfeasibleTargetError, match="outside the image"):
                sr.reconstruct(model, y, method=method)
    elif len(model.layers) == 1:
        res = sr.reconstruct(model, y, method="analytic", tol=TOL)
        assert res.success and max_residual(model, res.x, y) <= TOL


@pytest.mark.parametrize("method", ["auto", "analytic", "newton"])
@given(ill_conditioned_networks(), st.integers(0, 2**32 - 1))
def test_ill_conditioned_networks_get_the_right_verdict(method, model, seed):
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, size=model.n_in)
    y = model(x)
    s = np.linalg.svd(model.layers[0].kernel, compute_uv=False)
    note(f"condition number of the first kernel {s[0] / s[-1]:.2e}")
    try:
        res = sr.reconstruct(model, y, method=method, tol=TOL)
    except sr.NotInvertibleError as err:
        # a kernel this ill-conditioned may be declared numerically singular, with the reason
        assert method == "analytic" and "rank" in str(err)
        assert s[-1] / s[0] <= 1e-8
        return
    assert_verdict(model, y, res)


@given(rank_deficient_networks(), st.integers(0, 2**32 - 1))
def test_rank_deficient_kernel_has_no_closed_form_but_auto_reaches_the_target(model, seed):
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, size=model.n_in)
    y = model(x)
    with pytest.raises(sr.NotInvertibleError, match="rank"):
        sr.analytic_inverse(model)
    res = sr.reconstruct(model, y, tol=TOL)
    assert res.method != "analytic"
    assert_verdict(model, y, res)
    assert res.success


@pytest.mark.parametrize("method", ["auto", "newton", "scipy", "gd"])
@given(unreachable_cases())
def test_unreachable_targets_inside_the_image_end_unsuccessful(method, case):
    model, y, sup = case
    res = sr.reconstruct(model, y, method=method, tol=TOL)
    assert not res.success
    # auto has the closed form's proof that no input reaches the target; the iterative methods
    # alone can only say that they stalled
    proved = (Status.INFEASIBLE,) if method == "auto" else ()
    assert res.status in (Status.STALLED, Status.MAX_ITER) + proved, res.status
    assert res.message
    if res.status is Status.INFEASIBLE:
        assert np.all(np.isnan(res.x)) and res.residual == np.inf
        return
    # the residual it reports is honest: at least the distance to what the network can reach
    assert res.residual >= (y[0] - sup) * (1 - 1e-9)
    assert max_residual(model, res.x, y) == pytest.approx(float(res.residual), rel=1e-9, abs=1e-12)
