"""gd: the write-up's run reproduced exactly, the optimizers, bounds, history, options."""

from __future__ import annotations

import numpy as np
import pytest

import symrecon as sr

W, B, Y0 = 0.4, -25.0, 100.0


@pytest.fixture(scope="module")
def writeup_model():
    return sr.Sequential([sr.Dense([[W]], [B])])


def test_writeup_run_lands_on_the_closed_form(writeup_model):
    res = sr.reconstruct(writeup_model, [Y0], method="gd", x0=[1.0], learning_rate=0.4, optimizer="constant",
                         max_iter=200, tol=1e-12)
    assert res.n_iter == 200
    assert abs(res.x[0] - (Y0 - B) / W) <= 1e-6 * (Y0 - B) / W
    # the write-up's update, x -= lr * d/dx (W x + b - y0)^2, by hand
    x = 1.0
    expect = [x]
    for _ in range(200):
        x -= 0.4 * 2.0 * W * (W * x + B - Y0)
        expect.append(x)
    np.testing.assert_allclose(res.history[:, 0], expect, rtol=1e-13)
    assert res.history.shape == (201, 1)
    assert res.stats["learning_rate"] == 0.4 and res.stats["optimizer"] == "constant"


def test_writeup_run_with_default_tol_stops_when_within_tolerance(writeup_model):
    res = sr.reconstruct(writeup_model, [Y0], method="gd", x0=[1.0], learning_rate=0.4, optimizer="constant",
                         max_iter=200)
    assert res.success and res.n_iter < 200 and res.method == "gd"


@pytest.mark.parametrize("optimizer", ["linesearch", "adam", "momentum", "constant"])
def test_optimizers_converge_on_a_small_tanh_net(optimizer):
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(2, 2)))
    model = sr.Sequential([sr.Dense(q, [0.1, -0.2], "tanh")])
    y = model(np.array([[0.3, -0.4], [0.1, 0.2]]))
    lr = {"linesearch": None, "adam": 0.01, "momentum": 0.05, "constant": 0.5}[optimizer]
    res = sr.reconstruct(model, y, method="gd", optimizer=optimizer, learning_rate=lr, tol=1e-7, max_iter=20000)
    assert np.all(res.success), res.message


def test_divergence_is_reported_not_raised(writeup_model):
    res = sr.reconstruct(writeup_model, [Y0], method="gd", x0=[1.0], learning_rate=100.0, optimizer="constant",
                         max_iter=500)
    assert not res.success
    assert res.status in (sr.Status.DIVERGED, sr.Status.MAX_ITER)


def test_bounds_are_respected_by_projection(writeup_model):
    # the answer, 312.5, is outside [0, 300]: interval bound propagation refuses the target before gd runs
    with pytest.raises(sr.InfeasibleTargetError, match=r"outside \[-25, 95\]"):
        sr.reconstruct(writeup_model, [Y0], method="gd", bounds=(0.0, 300.0), tol=1e-9)
    res = sr.reconstruct(writeup_model, [Y0], method="gd", bounds=(0.0, 400.0), x0=[400.0], tol=1e-6)
    assert 0.0 <= res.x[0] <= 400.0 and res.success


@pytest.mark.parametrize("bad", [{"optimizer": "sgd"}, {"learning_rate": -1.0}, {"learning_rate": 0.0},
                                 {"beta1": 1.0}, {"eps": 0.0}])
def test_bad_options(writeup_model, bad):
    with pytest.raises((TypeError, ValueError)):
        sr.reconstruct(writeup_model, [Y0], method="gd", **bad)


def test_no_history_for_batches(writeup_model):
    res = sr.reconstruct(writeup_model, [[Y0], [0.0]], method="gd")
    assert res.history is None and res.is_batch
