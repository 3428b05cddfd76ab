"""Bad input raises clear errors before any iteration; unreachable targets return, not raise."""

from __future__ import annotations

import numpy as np
import pytest

import symrecon as sr
from symrecon.errors import InfeasibleTargetError, InvalidValueError, ShapeError

ITERATIVE = ("gd", "newton", "scipy", "lbfgs", "auto")


@pytest.fixture
def tanh_model():
    rng = np.random.default_rng(3)
    return sr.Sequential([sr.Dense(rng.normal(size=(3, 4)), None, "tanh"), sr.Dense(rng.normal(size=(4, 2)), None,
                                                                                    "sigmoid")])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", ITERATIVE)
def test_non_finite_targets(tanh_model, method, bad):
    with pytest.raises(InvalidValueError, match="NaN or inf"):
        sr.reconstruct(tanh_model, [0.5, bad], method=method)


@pytest.mark.parametrize("y", [[0.5], [0.5, 0.5, 0.5], [[[0.5, 0.5]]], np.zeros((0, 2))])
def test_wrong_target_shapes(tanh_model, y):
    with pytest.raises(ShapeError, match="target y"):
        sr.reconstruct(tanh_model, y, method="newton")


def test_wrong_x0_shape(tanh_model):
    with pytest.raises(ShapeError, match="x0"):
        sr.reconstruct(tanh_model, [0.5, 0.5], method="newton", x0=np.zeros(2))


def test_bounds_excluding_x0(tanh_model):
    with pytest.raises(InvalidValueError, match="outside the bounds"):
        sr.reconstruct(tanh_model, [0.5, 0.5], method="newton", x0=[0.0, 0.0, 5.0], bounds=(-1.0, 1.0))


def test_inverted_bounds(tanh_model):
    with pytest.raises(InvalidValueError, match="inverted"):
        sr.reconstruct(tanh_model, [0.5, 0.5], method="newton", bounds=([0.0, 1.0, 0.0], [1.0, 0.0, 1.0]))


def test_bounds_of_wrong_shape(tanh_model):
    with pytest.raises(ShapeError, match="bound"):
        sr.reconstruct(tanh_model, [0.5, 0.5], method="newton", bounds=(np.zeros(2), np.ones(2)))


@pytest.mark.parametrize("tol", [0.0, -1e-9, np.nan, np.inf, True])
def test_non_positive_tol(tanh_model, tol):
    with pytest.raises(InvalidValueError, match="tol"):
        sr.reconstruct(tanh_model, [0.5, 0.5], method="newton", tol=tol)


@pytest.mark.parametrize("max_iter", [0, -5, 2.5, True])
def test_non_positive_max_iter(tanh_model, max_iter):
    with pytest.raises(InvalidValueError, match="max_iter"):
        sr.reconstruct(tanh_model, [0.5, 0.5], method="gd", max_iter=max_iter)


@pytest.mark.parametrize("method", ITERATIVE)
@pytest.mark.parametrize("y", [[1.0, 0.5], [0.5, 0.0], [0.5, 1.5]])
def test_target_outside_the_output_image_fails_before_iterating(tanh_model, method, y, monkeypatch):
    # any solve_block() call would mean iteration started: make it explode
    from symrecon.solvers import SOLVERS

    def boom(self, problem):
        raise AssertionError("a solver ran on an infeasible target")

    monkeypatch.setattr(SOLVERS[method], "solve_block", boom)
    with pytest.raises(InfeasibleTargetError, match="sigmoid") as info:
        sr.reconstruct(tanh_model, y, method=method)
    assert info.value.unit in (0, 1)


def test_unknown_method_lists_the_registered_ones(tanh_model):
    with pytest.raises(ValueError, match="newton"):
        sr.reconstruct(tanh_model, [0.5, 0.5], method="no_such_method")


@pytest.mark.parametrize("method", ["newton", "auto", "scipy", "gd"])
def test_unreachable_target_inside_the_image_returns_stalled(method):
    # ReLU outputs are >= 0, so a linear output of -1 is in the last layer's image but unreachable
    relu = sr.Sequential([sr.Dense([[1.0, 2.0]], [0.5, -0.5], "relu"), sr.Dense([[1.0], [1.0]])])
    res = sr.reconstruct(relu, [-1.0], method=method, max_iter=200)
    assert res.success is False
    assert res.status in (sr.Status.STALLED, sr.Status.MAX_ITER)
    assert "unreachable" in res.message or "iteration limit" in res.message
    if method in ("newton", "auto", "scipy"):
        assert res.status is sr.Status.STALLED and "unreachable" in res.message


def test_unreachable_intermediate_value_in_auto_batch():
    # tanh then tanh: the output is in (-1, 1) but a hidden value beyond the first tanh's image is needed
    w = np.array([[0.1]])
    model = sr.Sequential([sr.Dense(w, None, "tanh"), sr.Dense([[1.0]], None, "tanh")])
    res = sr.reconstruct(model, [[0.05], [0.9]])
    assert res.success.tolist() == [True, False]
    assert res.method[0] == "analytic"
    # the closed form proves that no input reaches it (tanh(0.1 x) would have to be artanh(0.9) > 1),
    # and no iterative method finds one: the verdict says so
    assert sr.Status.from_code(res.status[1]) is sr.Status.INFEASIBLE
    assert "No input produces this target" in res.message
