"""newton: few iterations, both phases, wide / tall / bounded, progress bar."""

from __future__ import annotations

import numpy as np
import pytest

import symrecon as sr
from symrecon.solvers.newton import layer_inverses


def test_writeup_case_in_at_most_three_iterations():
    m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    for structured in (True, False):
        res = sr.reconstruct(m, [100.0], method="newton", x0=[1.0], structured=structured)
        assert res.success and res.n_iter <= 3
        assert abs(res.x[0] - 312.5) <= 1e-9 * 312.5
        assert res.history.shape == (res.n_iter + 1, 1)


def _tanh_chain(n=6, depth=3, seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(depth):
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        layers.append(sr.Dense(0.9 * q, 0.1 * rng.normal(size=n), "tanh"))
    return sr.Sequential(layers), rng


def test_structured_and_damped_phases_agree():
    model, rng = _tanh_chain()
    y = model(rng.normal(size=(300, 6)))
    a = sr.reconstruct(model, y, method="newton", tol=1e-11)
    b = sr.reconstruct(model, y, method="newton", tol=1e-11, structured=False)
    assert a.stats["structured"] and not b.stats["structured"]
    assert np.all(a.success) and np.all(b.success)
    np.testing.assert_allclose(a.x, b.x, atol=1e-9)
    assert np.max(a.n_iter) <= 20


def test_layer_inverses_only_for_square_well_conditioned_chains():
    model, _ = _tanh_chain(n=3, depth=2)
    assert layer_inverses(model) is not None
    wide = sr.Sequential([sr.Dense(np.ones((3, 2)))])
    assert layer_inverses(wide) is None
    singular = sr.Sequential([sr.Dense([[1.0, 1.0], [1.0, 1.0]])])
    assert layer_inverses(singular) is None


def test_wide_linear_from_origin_gives_minimum_norm_point():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(5, 2))
    model = sr.Sequential([sr.Dense(w, [0.3, -0.1])])
    y = rng.normal(size=(4, 2))
    res = sr.reconstruct(model, y, method="newton", tol=1e-12)
    x_min = (y - [0.3, -0.1]) @ np.linalg.pinv(w)
    np.testing.assert_allclose(res.x, x_min, atol=1e-10)


def test_tall_inconsistent_target_ends_stalled_at_least_squares_point():
    # 1 input, 2 outputs: y = (x, x); the target (0, 2) is in the image of each unit but not reachable
    model = sr.Sequential([sr.Dense([[1.0, 1.0]])])
    res = sr.reconstruct(model, [0.0, 2.0], method="newton")
    assert not res.success and res.status is sr.Status.STALLED
    assert res.x[0] == pytest.approx(1.0)


def test_bounds_with_active_set_reach_a_feasible_preimage():
    model = sr.Sequential([sr.Dense([[1.0], [1.0], [1.0]])])
    res = sr.reconstruct(model, [3.5], method="newton", bounds=([1.3, 0.0, 0.0], [2.0, 2.0, 2.0]), tol=1e-12)
    assert res.success
    assert res.x[0] >= 1.3


def test_progress_bar_shown_on_request(capsys):
    model, rng = _tanh_chain(n=3, depth=1)
    y = model(rng.normal(size=(10, 3)))
    sr.reconstruct(model, y, method="newton", progress=True)
    assert "newton" in capsys.readouterr().err
    sr.reconstruct(model, y, method="newton", progress=False)
    assert capsys.readouterr().err == ""


def test_exploding_exponential_output_is_reached():
    # y = exp(50 x) = 1e300 is reachable (x = ln(1e300) / 50 = 13.8155...): from x0 = 0 a step in y
    # overshoots by ~300 orders of magnitude, so newton retries on the pre-activation 50 x, where it is linear
    model = sr.Sequential([sr.Dense([[50.0]], None, "exponential")])
    res = sr.reconstruct(model, [1e300], method="newton", x0=[0.0], max_iter=50)
    assert res.status is sr.Status.CONVERGED and res.success
    assert res.x[0] == pytest.approx(np.log(1e300) / 50.0, rel=1e-14)
    assert res.stats["n_pre_activation"] == 1


def test_saturated_sigmoid_target_is_reached_on_the_pre_activation():
    # sigmoid(0.4 x - 25) = 1e-300: in y the derivative is ~1e-300 and steps vanish; in z it is one linear step
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0], "sigmoid")])
    res = sr.reconstruct(model, [1e-300], method="newton")
    assert res.success and res.x[0] == pytest.approx((np.log(1e-300) + 25.0) / 0.4, rel=1e-12)
