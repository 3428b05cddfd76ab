"""Reconstruction: success is re-checked by a forward pass, never taken on trust."""

import json

import numpy as np
import pytest

import symrecon as sr
from symrecon.result import Reconstruction, Status
from symrecon.solvers import BlockResult


@pytest.fixture
def model():
    return sr.Sequential([sr.Dense([[2.0, 0.0], [0.0, 4.0]], [1.0, -1.0], "tanh")])


def _build(model, x, y, status, single=False, tol=1e-9):
    x = np.atleast_2d(np.asarray(x, dtype=float))
    codes = np.broadcast_to(np.asarray(status, dtype=np.int8), (x.shape[0],))
    block = BlockResult(x=x, status=codes, n_iter=np.full(x.shape[0], 3), method="test")
    return Reconstruction.build(model, block, np.atleast_2d(y), tol=tol, elapsed=0.01, single=single)


def test_success_claim_with_large_residual_becomes_inaccurate(model):
    y = model(np.array([[0.1, 0.2]]))
    res = _build(model, [[0.3, 0.2]], y, Status.CONVERGED, single=True)
    assert res.success is False
    assert res.status is Status.INACCURATE
    assert res.message.startswith(Status.INACCURATE.message) and "Loosen `tol`" in res.message
    assert res.residual == pytest.approx(np.max(np.abs(model([0.3, 0.2]) - y[0])))


def test_failure_claim_within_tolerance_becomes_converged(model):
    x = np.array([[0.1, 0.2]])
    res = _build(model, x, model(x), Status.MAX_ITER, single=True)
    assert res.success is True and res.status is Status.CONVERGED


def test_batch_fields_and_json_summary(model, rng):
    x = rng.normal(size=(5, 2)) * 0.1
    y = model(x)
    x_bad = x.copy()
    x_bad[3] += 1.0
    res = _build(model, x_bad, y, Status.CONVERGED)
    assert res.is_batch
    np.testing.assert_array_equal(res.success, [True, True, True, False, True])
    assert res.statuses[3] is Status.INACCURATE
    summary = res.summary()
    json.dumps(summary)
    assert summary["n_success"] == 4 and summary["n_targets"] == 5
    assert "4 of 5" in res.message
    assert "[[Reconstruction]]" in res.report()


def test_result_is_immutable(model):
    x = np.array([[0.1, 0.2]])
    res = _build(model, x, model(x), Status.CONVERGED, single=True)
    with pytest.raises(AttributeError):
        res.x = None
    with pytest.raises(ValueError):
        res.x[0] = 1.0


def test_non_finite_x_gives_infinite_residual_not_nan(model):
    x = np.array([[np.nan, 0.2], [0.1, 0.2]])
    y = model(np.array([[0.1, 0.2], [0.1, 0.2]]))
    res = _build(model, x, y, Status.DIVERGED)
    assert np.isinf(res.residual[0]) and res.success.tolist() == [False, True]


@pytest.mark.parametrize("single", [True, False])
def test_a_result_pickles_to_an_equal_read_only_result(model, rng, single):
    import pickle

    y = model(rng.normal(size=(20, model.n_in)))
    res = sr.reconstruct(model, y[0] if single else y, method="newton", progress=False)
    back = pickle.loads(pickle.dumps(res))
    assert type(back.stats) is type(res.stats) and dict(back.stats) == dict(res.stats)
    for name in ("x", "y_target", "y_pred", "residual", "status", "within_tol"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))
    assert all(not a.flags.writeable for a in (back.x, back.y_target, back.y_pred))
    assert back.message == res.message and back.is_batch != single
