"""``sensitivity`` (issue 10, item 5): the Jacobian against central differences, conditioning against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon.errors import InvalidValueError, ShapeError


def _net(seed, widths=(3, 4, 2), acts=("tanh", "sigmoid")):
    rng = np.random.default_rng(seed)
    return sr.Sequential([sr.Dense(rng.normal(size=(a, b)), rng.normal(size=b) * 0.3, act)
                          for a, b, act in zip(widths[:-1], widths[1:], acts)])


def _central_differences(model, x, h=1e-5):
    cols = [(model(x + h * e) - model(x - h * e)) / (2 * h) for e in np.eye(x.size)]
    return np.stack(cols, axis=-1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_jacobian_agrees_with_central_differences(seed):
    model = _net(seed)
    x = np.random.default_rng(seed).normal(size=3)
    s = sr.sensitivity(model, x)
    # central differences err by O(h^2 f''') ~ 1e-10 for these smooth nets
    np.testing.assert_allclose(s.jacobian, _central_differences(model, x), atol=1e-8)
    np.testing.assert_allclose(s.y, model(x), atol=1e-15)


def test_batches_match_single_points_and_numpy_linalg():
    model = _net(1, widths=(3, 3, 3), acts=("tanh", "linear"))
    xs = np.random.default_rng(2).normal(size=(6, 3))
    s = sr.sensitivity(model, xs)
    assert s.jacobian.shape == (6, 3, 3) and s.singular_values.shape == (6, 3)
    for i, x in enumerate(xs):
        one = sr.sensitivity(model, x)
        np.testing.assert_allclose(s.jacobian[i], one.jacobian, atol=1e-14)
        J = one.jacobian
        assert float(s.condition_number[i]) == pytest.approx(np.linalg.cond(J), rel=1e-10)
        np.testing.assert_allclose(s.singular_values[i], np.linalg.svd(J, compute_uv=False), rtol=1e-12)
        np.testing.assert_allclose(s.inverse_jacobian[i], np.linalg.inv(J), rtol=1e-8, atol=1e-12)
        assert float(s.amplification[i]) == pytest.approx(np.linalg.norm(np.linalg.inv(J), 2), rel=1e-10)
    assert len(s.report().splitlines()) == 6 and s.report().startswith("x[0]: square Jacobian 3x3")


def test_wide_and_tall_jacobians_pseudo_inverse_and_null_space():
    wide = _net(3, widths=(4, 2), acts=("tanh",))
    s = sr.sensitivity(wide, np.zeros(4))
    np.testing.assert_allclose(s.inverse_jacobian, np.linalg.pinv(s.jacobian), atol=1e-12)
    N = s.null_space
    assert N.shape == (4, 2) and s.rank == 2
    np.testing.assert_allclose(s.jacobian @ N, 0.0, atol=1e-12)
    np.testing.assert_allclose(N.T @ N, np.eye(2), atol=1e-12)
    assert "wide Jacobian 2x4" in s.report() and "null space" in s.report()

    tall = _net(4, widths=(2, 3), acts=("linear",))
    t = sr.sensitivity(tall, [0.5, 0.5])
    np.testing.assert_allclose(t.inverse_jacobian, np.linalg.pinv(t.jacobian), atol=1e-12)
    assert t.null_space.shape == (2, 0) and "least-squares" in t.report()


def test_rank_deficient_square_jacobian_is_unbounded():
    model = sr.Sequential([sr.Dense([[1.0, 2.0], [2.0, 4.0]])])    # rank 1
    s = sr.sensitivity(model, [0.0, 0.0])
    assert s.rank == 1 and np.isinf(s.amplification)
    # the condition number is what NumPy says (round-off leaves s_min ~ 1e-16, not 0)
    assert s.condition_number > 1e15 and s.condition_number == pytest.approx(np.linalg.cond(s.jacobian), rel=1e-6)
    assert "without bound" in s.report()
    np.testing.assert_allclose(s.jacobian @ s.null_space, 0.0, atol=1e-12)


def test_symbolic_jacobian_evaluates_to_the_numeric_one():
    model = _net(5, widths=(2, 2, 1), acts=("tanh", "sigmoid"))
    x = np.array([0.3, -0.7])
    s = sr.sensitivity(model, x)
    J = s.symbolic()
    g = sr.forward_graph(model)
    value = np.array(J.subs(dict(zip(g.inputs, x))).evalf(), dtype=np.float64)
    np.testing.assert_allclose(value, s.jacobian, atol=1e-12)
    assert s.latex().startswith(r"\frac{\partial y}{\partial x} = ") and r"\tanh" in s.latex()
    big = _net(6, widths=(8, 8, 2), acts=("relu", "linear"))
    text = sr.sensitivity(big, np.zeros(8)).latex()
    assert text.count(r"\operatorname{diag}") == 2 and "W^{(2)\\top}" in text
    assert isinstance(J, sp.MatrixBase)


@pytest.mark.parametrize("x, error", [([0.1, 0.2], ShapeError), ([np.nan, 0.0, 0.0], InvalidValueError)])
def test_bad_input(x, error):
    with pytest.raises(error):
        sr.sensitivity(_net(0), x)


def test_caller_array_is_not_modified():
    x = np.array([0.1, 0.2, 0.3])
    s = sr.sensitivity(_net(0), x)
    assert x.tolist() == [0.1, 0.2, 0.3] and s.x is not x
