"""Robustness on reachable targets: newton finds what scipy's trust region finds, and more (issue 8).

The families and the rule are in ``tests/robustness_families.py`` (seeded
networks, targets ``y = model(x_true)``, start ``x0 = 0``, tol 1e-9,
success = the library's re-checked residual).  The benchmark prints the same
table on larger samples (``benchmarks/run.py``, robustness section).
"""

from __future__ import annotations

import numpy as np
import pytest
from robustness_families import FAMILIES, TOL, cases, success_rates

import symrecon as sr
from symrecon.solvers.rescue import pinv_start
from symrecon.status import _ADVICE, Status, advice

#: networks per family and targets per scale: 90 targets per family, 720 in all
SAMPLE = {"n_models": 15, "per_scale": 2}
METHODS = {"newton": {"method": "newton"}, "trf": {"method": "scipy", "lsq_method": "trf"},
           "auto": {"method": "auto"}}


@pytest.fixture(scope="module")
def table():
    return {family: success_rates(family, METHODS, **SAMPLE) for family in FAMILIES}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_newton_solves_every_target_trf_solves_per_family(table, family):
    (ok_newton, n), (ok_trf, _) = table[family]["newton"], table[family]["trf"]
    assert ok_newton >= ok_trf, (family, table[family])


def test_newton_overall_at_least_99_percent_and_auto_995(table):
    def overall(label):
        ok = sum(table[f][label][0] for f in FAMILIES)
        return ok / sum(table[f][label][1] for f in FAMILIES)

    assert overall("newton") >= 0.99, table
    assert overall("auto") >= 0.995, table


def test_second_chances_are_what_lifts_newton_above_its_first_run():
    # without continuation, informed start, restarts and trf, the deep narrow family loses targets
    family = "deep_narrow"
    counts = success_rates(family, {"plain": {"method": "newton", "restarts": 0, "fallback": False},
                                    "full": {"method": "newton"}}, **SAMPLE)
    assert counts["full"][0] >= counts["plain"][0]
    first = [sr.reconstruct(c.model, c.y, x0=np.zeros_like(c.x_true), tol=TOL, progress=False, method="newton")
             for c in cases(family, **SAMPLE)]
    assert sum(r.stats["n_rescued"] for r in first) > 0


def test_a_rescue_never_makes_an_answer_worse_and_keeps_an_explicit_limit():
    case = next(cases("deep_narrow", n_models=1, per_scale=4))
    x0 = np.zeros_like(case.x_true)
    limited = sr.reconstruct(case.model, case.y, x0=x0, tol=1e-15, max_iter=1, progress=False, method="newton")
    assert np.all(limited.n_iter <= 1)
    plain = sr.reconstruct(case.model, case.y, x0=x0, tol=TOL, progress=False, method="newton", restarts=0,
                           fallback=False)
    full = sr.reconstruct(case.model, case.y, x0=x0, tol=TOL, progress=False, method="newton")
    assert np.all(full.residual <= plain.residual)


def test_pinv_start_inverts_a_chain_of_invertible_layers():
    rng = np.random.default_rng(3)
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 3)), rng.normal(size=3), "tanh"),
                           sr.Dense(rng.normal(size=(3, 3)), rng.normal(size=3), "sigmoid")])
    x = rng.normal(size=(5, 3)) * 0.3
    np.testing.assert_allclose(pinv_start(model, model(x)), x, atol=1e-9)


def test_pinv_start_is_finite_where_a_hidden_value_leaves_the_image():
    # y = 0.999 needs a hidden tanh value of artanh(0.999) = 3.8, outside (-1, 1): clipped into the image
    model = sr.Sequential([sr.Dense([[0.1]], [0.0], "tanh"), sr.Dense([[1.0]], [0.0], "tanh")])
    x = pinv_start(model, np.array([[0.999]]))
    assert np.all(np.isfinite(x))


def test_stalled_verdict_says_residual_and_restarts_not_unreachable_as_fact():
    relu = sr.Sequential([sr.Dense([[1.0, 2.0]], [0.5, -0.5], "relu"), sr.Dense([[1.0], [1.0]])])
    res = sr.reconstruct(relu, [-1.0], method="newton")
    assert res.status is Status.STALLED
    assert "not proved" in res.message and "residual 1" in res.message
    assert f"after {res.stats['restarts']} restarts" in res.message
    assert "method='newton'" not in res.message and "max_iter" not in res.message


@pytest.mark.parametrize("status", [s for s in Status if not s.success])
@pytest.mark.parametrize("method", ["newton", "scipy", "lbfgs", "gd", "analytic"])
def test_advice_never_recommends_the_method_that_ran(status, method):
    text = advice(status, method, max_iter=100, restarts=3, residual=0.5)
    assert f"method='{method}'" not in text
    if "max_iter" in text:
        assert "above 100" in text
    if (status, method) in _ADVICE or (status, "*") in _ADVICE:
        assert text


def test_gd_stall_points_to_newton():
    text = advice(Status.STALLED, "gd", residual=1e-6)
    assert "method='newton'" in text and "1e-06" in text


def test_readme_compare_example_agrees_with_the_closed_form_to_9_digits():
    rng = np.random.default_rng(0)
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 3)) * 0.8, rng.normal(size=3), "tanh"),
                           sr.Dense(rng.normal(size=(3, 3)) * 0.8, rng.normal(size=3), "tanh")])
    y = model(rng.normal(size=(4, 3)) * 0.5)
    x_a = sr.reconstruct(model, y, method="analytic").x
    for method in ("newton", "scipy"):
        res = sr.reconstruct(model, y, method=method)
        assert np.all(res.success), method
        assert np.max(np.abs(res.x - x_a)) <= 1e-9 * np.max(np.abs(x_a)), method
    gd = sr.reconstruct(model, y, method="gd")   # the first-order row: reached on the output
    assert np.all(gd.success) and np.max(np.abs(gd.x - x_a)) <= 1e-6
