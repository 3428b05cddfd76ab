"""Graph ops: JVP/VJP against finite differences and each other, sound interval bounds, SymPy vs NumPy, preimages."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symrecon.errors import InfeasibleTargetError, ShapeError
from symrecon.graph import (Add, Affine, Concat, Constant, Elementwise, Mul, Preimage, Slice, Softmax,
                            ThresholdedReLU)

SMOOTH = ("linear", "sigmoid", "tanh", "softplus", "softsign", "exponential", "silu", "gelu", "selu", "elu")
ALL_ACTS = SMOOTH + ("relu", "relu6", "hard_sigmoid", "hard_sigmoid_keras2", "leaky_relu")

_W = np.random.default_rng(7).normal(size=(3, 4))

#: (label, op, input widths); every op the recurrent cells and dense layers use
CASES = [
    ("affine", Affine(_W, np.arange(4.0)), (3,)),
    ("affine_tall", Affine(_W.T, None), (4,)),
    *[(f"elementwise_{a}", Elementwise(a, 3), (3,)) for a in ALL_ACTS],
    ("leaky_negative_slope", Elementwise.__new__(Elementwise), (3,)),
    ("softmax", Softmax(4), (4,)),
    ("trelu", ThresholdedReLU(3, 2.0, 0.3, 0.5), (3,)),
    ("trelu_negative_threshold", ThresholdedReLU(3, None, 0.2, -0.5), (3,)),
    ("add", Add((1.0, -2.0), const=0.5), (3, 3)),
    ("one_minus", Add((-1.0,), const=1.0), (3,)),
    ("mul", Mul(), (3, 3)),
    ("slice", Slice(1, 3), (4,)),
    ("concat", Concat(), (2, 3)),
    ("constant", Constant([1.0, -2.0]), (3,)),
]
# leaky_relu with a negative slope is the non-monotone (V-shaped) member of the table
from symrecon import activations  # noqa: E402

CASES[2 + len(ALL_ACTS)] = ("leaky_negative_slope", Elementwise(activations.get("leaky_relu", negative_slope=-0.5), 3),
                            (3,))
IDS = [c[0] for c in CASES]
KINKED = {"elementwise_relu", "elementwise_relu6", "elementwise_hard_sigmoid", "elementwise_hard_sigmoid_keras2",
          "elementwise_leaky_relu", "leaky_negative_slope", "trelu", "trelu_negative_threshold"}


def _inputs(rng, widths, n=5, away_from_kinks=False):
    xs = [rng.normal(scale=2.0, size=(n, w)) for w in widths]
    if away_from_kinks:
        # Keep clear of the breakpoints 0, +-0.5, 2, +-3 and 6 so that central differences see one piece.
        xs = [np.where(np.abs(x) < 0.2, x + 0.4, x) for x in xs]
        xs = [np.where(np.abs(np.abs(x) - 0.5) < 0.1, x + 0.3, x) for x in xs]
        xs = [np.where(np.abs(np.abs(x) - 3.0) < 0.1, x + 0.3, x) for x in xs]
        xs = [np.where(np.abs(x - 2.0) < 0.1, x + 0.3, x) for x in xs]
    return xs


@pytest.mark.parametrize("label, op, widths", CASES, ids=IDS)
def test_jvp_matches_finite_differences(rng, label, op, widths):
    xs = _inputs(rng, widths, away_from_kinks=label in KINKED)
    y = op.forward(xs)
    assert y.shape == (5, op.out_width(widths))
    ts = [rng.normal(size=x.shape) for x in xs]
    eps = 1e-6
    fd = (op.forward([x + eps * t for x, t in zip(xs, ts)]) - op.forward([x - eps * t for x, t in zip(xs, ts)])) / (2 * eps)
    jvp = op.jvp(xs, y, [t[:, :, None] for t in ts])[:, :, 0]
    np.testing.assert_allclose(jvp, fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(y).max()))


@pytest.mark.parametrize("label, op, widths", CASES, ids=IDS)
def test_vjp_is_the_adjoint_of_jvp(rng, label, op, widths):
    xs = _inputs(rng, widths, away_from_kinks=label in KINKED)
    y = op.forward(xs)
    ts = [rng.normal(size=x.shape + (1,)) for x in xs]
    g = rng.normal(size=y.shape)
    pulled = op.vjp(xs, y, g)
    assert len(pulled) == len(xs) and all(p.shape == x.shape for p, x in zip(pulled, xs))
    lhs = sum(np.sum(p * t[:, :, 0], axis=1) for p, t in zip(pulled, ts))
    rhs = np.sum(g * op.jvp(xs, y, ts)[:, :, 0], axis=1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("label, op, widths", CASES, ids=IDS)
def test_sympy_form_matches_numpy(rng, label, op, widths):
    xs = _inputs(rng, widths, n=1, away_from_kinks=True)
    expr = op.sympy([sp.Matrix(x) for x in xs])
    got = np.array(sp.Matrix(expr).evalf(30), dtype=np.float64)
    np.testing.assert_allclose(got, op.forward(xs), rtol=1e-12, atol=1e-12)
    assert isinstance(op.latex([f"x_{i}" for i in range(len(widths))]), str)


def _boxes(draw, widths):
    lows, highs = [], []
    for w in widths:
        lo = np.array(draw(st.lists(st.floats(-6, 6), min_size=w, max_size=w)))[None]
        span = np.array(draw(st.lists(st.floats(0, 4), min_size=w, max_size=w)))[None]
        lows.append(lo)
        highs.append(lo + span)
    return lows, highs


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(CASES), st.data())
def test_bounds_are_sound(case, data):
    label, op, widths = case
    lows, highs = _boxes(data.draw, widths)
    lo, hi = op.bound(lows, highs)
    assert np.all(lo <= hi)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    samples = [lw + (hg - lw) * rng.uniform(size=(200, lw.shape[1])) for lw, hg in zip(lows, highs)]
    for k, (lw, hg) in enumerate(zip(lows, highs)):  # the corners too, where extremes often are
        samples[k][:2] = np.vstack([lw, hg])
    y = op.forward(samples)
    tol = 1e-9 * (1.0 + np.abs(y))
    assert np.all(y >= lo - tol) and np.all(y <= hi + tol), (label, lo, hi, y.min(0), y.max(0))


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "silu", "relu", "leaky_relu"])
def test_bounds_with_unbounded_boxes(act):
    op = Elementwise(act, 2)
    lo, hi = op.bound([np.array([[-np.inf, 0.0]])], [np.array([[np.inf, np.inf]])])
    assert not np.any(np.isnan(lo)) and not np.any(np.isnan(hi))
    lo, hi = Affine([[1.0, 0.0], [0.0, -1.0]]).bound([np.array([[-np.inf, 0.0]])], [np.array([[0.0, 1.0]])])
    np.testing.assert_array_equal(lo, [[-np.inf, -1.0]])
    np.testing.assert_array_equal(hi, [[0.0, 0.0]])


def test_affine_preimages_follow_the_closed_form_table(rng):
    square = Affine(rng.normal(size=(3, 3)), rng.normal(size=3))
    x = rng.normal(size=(4, 3))
    pre = square.preimage()(square(x))
    np.testing.assert_allclose(pre.point, x, rtol=1e-9, atol=1e-12)
    assert pre.basis is None and np.all(pre.residual < 1e-12)
    wide = Affine(rng.normal(size=(4, 2)))
    pre = wide.preimage()(wide(x[:, :1] @ np.ones((1, 4))))
    assert pre.basis.shape == (4, 2)
    moved = pre.point + rng.normal(size=(4, 2)) @ pre.basis.T
    np.testing.assert_allclose(wide(moved), wide(pre.point), atol=1e-12)
    tall = Affine(rng.normal(size=(2, 4)))
    assert np.all(tall.preimage()(tall(x[:, :2])).residual < 1e-12)
    assert np.all(tall.preimage()(rng.normal(size=(3, 4))).residual > 1e-6)   # inconsistent: least squares
    reason = Affine(np.ones((2, 2))).preimage()
    assert isinstance(reason, str) and "rank 1" in reason


def test_elementwise_and_softmax_preimages(rng):
    rule = Elementwise("sigmoid", 2).preimage()
    pre = rule(np.array([[0.25, 0.5]]))
    assert isinstance(pre, Preimage)
    np.testing.assert_allclose(pre.point, [[np.log(1 / 3), 0.0]], atol=1e-15)
    with pytest.raises(InfeasibleTargetError, match="unit 1"):
        rule(np.array([[0.5, 1.0]]))
    assert "half-line" in Elementwise("relu", 2).preimage()
    soft = Softmax(3)
    p = soft(rng.normal(size=(2, 3)))
    pre = soft.preimage()(p)
    np.testing.assert_allclose(soft(pre.point + 5.0 * pre.basis.T), p, rtol=1e-12)
    with pytest.raises(InfeasibleTargetError, match="sum to 1"):
        soft.preimage()(np.array([[0.5, 0.6, 0.1]]))
    for op in (Mul(), Slice(0, 1), ThresholdedReLU(2), Constant([0.0])):
        assert isinstance(op.preimage(), str)


def test_ops_are_frozen_and_check_widths():
    op = Affine(np.eye(2))
    with pytest.raises(AttributeError, match="frozen"):
        op.W = np.eye(3)
    assert not op.W.flags.writeable
    with pytest.raises(ShapeError, match="width 2"):
        op.out_width([3])
    with pytest.raises(ShapeError):
        Mul().out_width([2, 3])
    with pytest.raises(ShapeError):
        Slice(0, 5).out_width([4])
