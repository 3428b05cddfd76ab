"""``shutdown_region`` (issue 10, item 6): inside shuts the unit, outside does not, nearest matches a QP."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import symrecon as sr
from symrecon.errors import CapabilityError, InvalidParameterError
from symrecon.sets import EmptySet, Polyhedron


def _first_layer(act, seed=0, n=3, width=4):
    rng = np.random.default_rng(seed)
    return sr.Sequential([sr.Dense(rng.normal(size=(n, width)), rng.normal(size=width), act, name="h"),
                          sr.Dense(rng.normal(size=(width, 1)), name="out")])


def _unit(model, layer, x, unit):
    return sr.Sequential(model.layers[:layer + 1])(np.atleast_2d(x))[:, unit]


def _qp_nearest(w, b, z_hi, x_ref, lower, upper, z_lo=None):
    cons = [{"type": "ineq", "fun": lambda x: z_hi - (x @ w + b), "jac": lambda x: -w}]
    if z_lo is not None:
        cons.append({"type": "ineq", "fun": lambda x: x @ w + b - z_lo, "jac": lambda x: w})
    res = minimize(lambda x: 0.5 * np.sum((x - x_ref) ** 2), np.clip(x_ref, lower, upper), jac=lambda x: x - x_ref,
                   bounds=list(zip(lower, upper)), constraints=cons, method="SLSQP",
                   options={"ftol": 1e-12, "maxiter": 500})
    assert res.success, res.message
    return res.x


@pytest.mark.parametrize("act, threshold, off", [
    ("relu", None, lambda a, t: a <= 0.0),
    ("sigmoid", 0.05, lambda a, t: a <= t),
    ("tanh", 0.2, lambda a, t: np.abs(a) <= t),
    ("softplus", 0.1, lambda a, t: a <= t),
    ("elu", None, lambda a, t: a <= 0.0),
])
def test_first_layer_regions_shut_the_unit_exactly(act, threshold, off):
    model = _first_layer(act)
    bounds = (-3.0, 3.0)
    r = sr.shutdown_region(model, "h", 1, threshold=threshold, bounds=bounds)
    assert isinstance(r, Polyhedron) and r.exact and r.derivation
    t = 0.0 if threshold is None else threshold
    inside = r.sample(200, rng=1)
    assert np.all(off(_unit(model, 0, inside, 1), t + 1e-9))
    draws = np.random.default_rng(2).uniform(-3.0, 3.0, size=(4000, 3))
    members = r.contains(draws)
    assert 0 < members.sum() < len(draws)
    # points outside do not shut it (away from the boundary, where round-off decides)
    a = _unit(model, 0, draws, 1)
    np.testing.assert_array_equal(members, off(a, t))


def test_nearest_is_the_smallest_change_that_turns_the_unit_off():
    model = _first_layer("relu", seed=3)
    w, b = model.layers[0].kernel[:, 2], model.layers[0].bias[2]
    lower, upper = np.full(3, -2.0), np.full(3, 2.0)
    r = sr.shutdown_region(model, 0, 2, bounds=(lower, upper))
    x_refs = np.random.default_rng(4).uniform(-2.0, 2.0, size=(8, 3))
    got = r.nearest(x_refs)
    for x_ref, x in zip(x_refs, got):
        np.testing.assert_allclose(x, _qp_nearest(w, b, 0.0, x_ref, lower, upper), atol=1e-6)
        assert _unit(model, 0, x, 2)[0] <= 1e-9

    tanh = _first_layer("tanh", seed=5)
    w, b = tanh.layers[0].kernel[:, 0], tanh.layers[0].bias[0]
    slab = sr.shutdown_region(tanh, "h", 0, threshold=0.1)
    z = np.arctanh(0.1)
    x_ref = np.array([2.0, 2.0, 2.0])
    np.testing.assert_allclose(slab.nearest(x_ref), _qp_nearest(w, b, z, x_ref, [-9.0] * 3, [9.0] * 3, -z), atol=1e-6)


def test_latex_and_derivation_of_a_relu_halfspace():
    model = sr.Sequential([sr.Dense([[1.0], [-2.0]], [0.5], "relu", name="h")])
    r = sr.shutdown_region(model, "h", 0)
    assert r.latex() == r"\begin{aligned} x_{1} - 2 x_{2} &\le -0.5 \end{aligned}"
    assert r.derivation[-1] == r"z = x_{1} - 2 x_{2} + 0.5" and r"\le 0" in r.derivation[0]
    sig = sr.Sequential([sr.Dense([[1.0], [1.0]], [0.0], "sigmoid")])
    region = sr.shutdown_region(sig, 0, 0, threshold=0.01)
    assert region.c[0] == pytest.approx(np.log(0.01) - np.log1p(-0.01), abs=1e-12)   # z <= logit(0.01)


def test_deeper_relu_unit_is_exact_inside_the_box():
    rng = np.random.default_rng(7)
    model = sr.Sequential([sr.Dense(rng.normal(size=(2, 6)), rng.normal(size=6), "relu"),
                           sr.Dense(rng.normal(size=(6, 5)), rng.normal(size=5), "relu", name="h2"),
                           sr.Dense(rng.normal(size=(5, 1)))])
    r = sr.shutdown_region(model, "h2", 3, bounds=(-2.0, 2.0))
    assert r.exact and not r.is_empty
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 121), np.linspace(-2, 2, 121)), -1).reshape(-1, 2)
    a = _unit(model, 1, grid, 3)
    inside = r.contains(grid, tol=1e-9)
    np.testing.assert_array_equal(inside[np.abs(a) > 1e-7], (a <= 0)[np.abs(a) > 1e-7])
    assert np.all(_unit(model, 1, r.sample(100, rng=0), 3) <= 1e-9)
    # nearest: never farther than the nearest grid point that shuts the unit, and within the grid spacing of it
    x_ref = grid[np.argmax(a)]   # where the unit is most on
    q = r.nearest(x_ref)
    assert _unit(model, 1, q, 3)[0] <= 1e-9
    d_grid = np.min(np.linalg.norm(grid[a <= 0] - x_ref, axis=1))
    assert np.linalg.norm(q - x_ref) <= d_grid + 1e-9 and np.linalg.norm(q - x_ref) >= d_grid - 4.0 / 120


def test_deeper_smooth_unit_is_a_local_region():
    model = sr.Sequential([sr.Dense([[1.0, 0.5], [-0.5, 1.0]], [0.1, 0.0], "tanh"),
                           sr.Dense([[1.0, -1.0], [1.0, 2.0]], [0.0, 0.3], "sigmoid", name="gate")])
    r = sr.shutdown_region(model, "gate", 1, threshold=0.3, bounds=(-3.0, 3.0))
    assert r.exact is False and r.kind == "local"
    members = r.sample(50, rng=0)
    assert np.all(model(members)[:, 1] <= 0.3 + 1e-9)
    draws = np.random.default_rng(1).uniform(-3, 3, size=(500, 2))
    np.testing.assert_array_equal(r.contains(draws), model(draws)[:, 1] <= 0.3)
    q = r.nearest([2.0, 2.0])
    assert model(q)[1] == pytest.approx(0.3, abs=1e-7)


def test_a_unit_that_can_never_be_off_is_an_empty_set():
    model = sr.Sequential([sr.Dense([[1.0]], [0.0], "sigmoid", name="s")])
    e = sr.shutdown_region(model, "s", 0, threshold=0.0)
    assert isinstance(e, EmptySet) and "never" in e.certificate
    boxed = sr.shutdown_region(sr.Sequential([sr.Dense([[1.0]], [0.0], "relu")]), 0, 0, bounds=(1.0, 2.0))
    assert isinstance(boxed, EmptySet)


@pytest.mark.parametrize("layer, unit, threshold, error, match", [
    ("nope", 0, None, InvalidParameterError, "'layer' parameter .*'h', 'out'"),
    (5, 0, None, InvalidParameterError, r"index in 0..1"),
    ("h", 4, None, InvalidParameterError, r"'unit' parameter must be an int in 0..3"),
    ("h", -1, None, InvalidParameterError, "'unit'"),
    (True, 0, None, InvalidParameterError, "'layer'"),
])
def test_bad_layer_or_unit(layer, unit, threshold, error, match):
    with pytest.raises(error, match=match):
        sr.shutdown_region(_first_layer("relu"), layer, unit, threshold=threshold)


def test_bad_threshold_and_unsupported_activation():
    with pytest.raises(InvalidParameterError, match="threshold"):
        sr.shutdown_region(_first_layer("tanh"), "h", 0, threshold=-0.1)
    with pytest.raises(CapabilityError, match="not monotone"):
        sr.shutdown_region(_first_layer("gelu"), "h", 0, threshold=-0.1)


def test_large_pattern_searches_hand_over_to_the_milp_region(monkeypatch):
    import symrecon.shutdown as shutdown

    rng = np.random.default_rng(8)
    model = sr.Sequential([sr.Dense(rng.normal(size=(2, 6)), rng.normal(size=6), "relu"),
                           sr.Dense(rng.normal(size=(6, 4)), rng.normal(size=4), "relu", name="h2")])
    monkeypatch.setitem(shutdown.ENUMERATION_LIMITS, "max_pieces", 1)
    try:
        from symrecon.milp.region import unit_off_region  # noqa: F401  (merged from the milp branch)
    except ImportError:
        with pytest.raises(CapabilityError, match="max_pieces=1"):
            sr.shutdown_region(model, "h2", 0, bounds=(-2.0, 2.0))
        return
    r = sr.shutdown_region(model, "h2", 0, bounds=(-2.0, 2.0))
    assert type(r).__name__ == "UnitOffRegion" and r.exact
    assert np.all(_unit(model, 1, r.sample(20, rng=0), 0) <= 1e-7)
    with pytest.raises(CapabilityError, match="finite bounds"):
        sr.shutdown_region(model, "h2", 0)
