"""The activation registry: NumPy vs SymPy forms, derivatives, inverses, images."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from strategies import INVERTIBLE_NAMES, NON_INVERTIBLE_NAMES

import symrecon as sr
from symrecon import activations
from symrecon.activations import Y, Z
from symrecon.errors import InvalidValueError, NotInvertibleError

ALL = [activations.get(n) for n in activations.names()] + [
    activations.get("leaky_relu", negative_slope=0.05), activations.get("elu", alpha=2.5),
    activations.get("leaky_relu", negative_slope=0.0), activations.get("leaky_relu", negative_slope=-0.5),
]
IDS = [f"{a.name}-{a.param:g}" for a in ALL]
INVERTIBLE = [a for a in ALL if a.is_invertible]
INV_IDS = [f"{a.name}-{a.param:g}" for a in INVERTIBLE]

#: points away from the kinks (z = 0, the hard_sigmoid/relu6 corners), where
#: one-sided formulas and finite differences are both well defined
Z_POINTS = np.array([-7.3, -3.1, -2.9, -1.7, -0.9, -0.31, -0.05, 0.07, 0.4, 1.3, 2.2, 3.7, 5.9, 8.1])


def _lambdify(expr, sym):
    return sp.lambdify(sym, expr, modules=["scipy", "numpy"])


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_numpy_and_sympy_forms_agree(act):
    f = _lambdify(act.expr, Z)
    expected = np.array([float(f(z)) for z in Z_POINTS])
    np.testing.assert_allclose(act.numpy(Z_POINTS), expected, rtol=1e-13, atol=1e-15)
    assert act.numpy(Z_POINTS).dtype == np.float64
    assert sp.simplify(act.sympy(sp.Symbol("t")) - act.expr.subs(Z, sp.Symbol("t"))) == 0


@given(st.sampled_from(ALL), st.floats(-20, 20).filter(lambda z: min(abs(z), abs(abs(z) - 3), abs(z - 6)) > 1e-3))
def test_numpy_and_sympy_forms_agree_at_random_points(act, z):
    exact = act.expr.subs(Z, sp.Float(z, 30)).evalf(30)
    assert float(act.numpy(np.array([z]))[0]) == pytest.approx(float(exact), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_derivative_matches_sympy_diff_and_finite_differences(act):
    d_sym = _lambdify(sp.diff(act.expr, Z), Z)
    d_num = act.numpy_derivative(Z_POINTS)
    np.testing.assert_allclose(d_num, [float(d_sym(z)) for z in Z_POINTS], rtol=1e-10, atol=1e-14)
    h = 1e-6
    fd = (act.numpy(Z_POINTS + h) - act.numpy(Z_POINTS - h)) / (2 * h)
    np.testing.assert_allclose(d_num, fd, rtol=1e-6, atol=1e-6)
    assert callable(act.derivative) and sp.simplify(act.derivative(Z) - sp.diff(act.expr, Z)) == 0


@pytest.mark.parametrize("act", INVERTIBLE, ids=INV_IDS)
def test_inverse_round_trip_and_sympy_inverse(act):
    y = act.numpy(Z_POINTS)
    keep = np.abs(Z_POINTS) < (5 if act.name in ("sigmoid", "tanh") else 9)  # tanh(8) rounds near 1
    np.testing.assert_allclose(act.numpy_inverse(y[keep]), Z_POINTS[keep], rtol=1e-9, atol=1e-12)
    inv_sym = _lambdify(act.inverse_expr, Y)
    np.testing.assert_allclose([float(inv_sym(v)) for v in y[keep]], Z_POINTS[keep], rtol=1e-8, atol=1e-10)
    # f(f^{-1}(y)) = y symbolically, on both sides of any kink
    for v in (sp.Rational(-1, 3), sp.Rational(2, 7)):
        if act.image.contains(v):
            assert float(act.expr.subs(Z, act.inverse_expr.subs(Y, v))) == pytest.approx(float(v), rel=1e-12)


@pytest.mark.parametrize("name, y", [
    ("sigmoid", 1 - 1e-12), ("sigmoid", 1e-300), ("tanh", 1 - 1e-12), ("tanh", -1 + 1e-12),
    ("softplus", 1e-300), ("softplus", 800.0), ("exponential", 1e-300), ("softsign", 1 - 1e-12),
    ("elu", -1 + 1e-12), ("selu", -1.7580993408473766 + 1e-12),
])
def test_inverse_is_finite_and_accurate_at_the_edges_of_the_image(name, y):
    act = activations.get(name)
    assert act.in_image(np.array([y]))[0]
    z = act.numpy_inverse(np.array([y]))[0]
    assert np.isfinite(z)
    # re-applying f lands back on y (to what float64 can resolve there)
    back = float(act.numpy(np.array([z]))[0])
    assert abs(back - y) <= max(4 * np.spacing(abs(y)), 1e-12 * abs(y))
    # and z matches the high-precision inverse within the problem's own
    # conditioning: an error of one ulp in y moves z by ulp(y) / f'(z)
    exact = float(act.inverse_expr.evalf(30, subs={Y: sp.Float(y, 60)}, maxn=2000))
    slope = abs(float(act.numpy_derivative(np.array([z]))[0]))
    assert abs(z - exact) <= 4 * np.spacing(abs(y)) / slope + 1e-12 * abs(exact)


def test_sigmoid_logit_near_one_is_accurate():
    act = activations.get("sigmoid")
    y = 1 - 1e-12
    z = act.numpy_inverse(np.array([y]))[0]
    exact = float(sp.log(sp.Float(y, 40) / (1 - sp.Float(y, 40))))
    assert z == pytest.approx(exact, rel=1e-12)
    naive = -np.log(1 / y - 1)  # the write-up's formula, evaluated naively, is worse
    assert abs(z - exact) <= abs(naive - exact)


@pytest.mark.parametrize("act", ALL, ids=IDS)
def test_image_endpoints(act):
    im = act.image
    lo, hi, lo_open, hi_open = act.image_bounds
    grid = np.concatenate([[-1e15, -1e6], np.linspace(-40, 40, 200001), [1e6, 1e15]])
    with np.errstate(over="ignore"):
        values = act.numpy(grid)
    finite = values[np.isfinite(values)]
    # every finite output is in the image (or rounds onto an open end: tanh(40) == 1.0)
    assert np.all(act.in_image(finite) | (finite == lo) | (finite == hi))
    # the infimum / supremum are approached (or attained) on a wide grid
    if np.isfinite(lo):
        assert finite.min() == pytest.approx(lo, abs=1e-6)
        assert act.in_image(np.array([lo]))[0] == (not lo_open)
    else:
        assert finite.min() < -1e3
    if np.isfinite(hi):
        assert finite.max() == pytest.approx(hi, abs=1e-6)
        assert act.in_image(np.array([hi]))[0] == (not hi_open)
    else:
        assert values.max() > 1e3
    # nothing outside the image is "in" it
    assert not act.in_image(np.array([lo - 1.0]))[0] if np.isfinite(lo) else True
    assert not act.in_image(np.array([hi + 1.0]))[0] if np.isfinite(hi) else True
    assert not act.in_image(np.array([np.nan]))[0]
    assert isinstance(im, sp.Interval)


def test_non_monotone_minimum_is_the_image_start():
    for name in ("silu", "gelu"):
        act = activations.get(name)
        z = np.linspace(-4, 0, 400001)
        assert float(act.numpy(z).min()) == pytest.approx(float(act.image.start), abs=1e-10)


@pytest.mark.parametrize("act", INVERTIBLE, ids=INV_IDS)
def test_inverse_steps_go_from_definition_to_inverse(act):
    steps = act.inverse_steps
    assert steps and all(s.text for s in steps)
    last = steps[-1]
    assert last.lhs == Z and sp.simplify(last.rhs - act.inverse_expr) == 0
    if act.name != "linear":
        first = steps[0]
        assert first.lhs == Y and sp.simplify(first.rhs - act.expr) == 0


def test_registry_partition_and_errors():
    assert set(INVERTIBLE_NAMES) == {"linear", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "softplus",
                                     "softsign", "exponential"}
    assert set(NON_INVERTIBLE_NAMES) >= {"relu", "gelu", "silu", "swish", "hard_sigmoid", "relu6"}
    for name in NON_INVERTIBLE_NAMES:
        act = activations.get(name)
        assert act.inverse is None and act.no_inverse_reason
        with pytest.raises(NotInvertibleError):
            act.sympy_inverse(Y)
    with pytest.raises(InvalidValueError, match="unknown activation 'nope'"):
        activations.get("nope")
    assert activations.get("tanh") is activations.get("tanh")
    assert activations.get(None).name == "linear"
    with pytest.raises(TypeError):
        activations.get("tanh", alpha=1.0)
    assert not activations.get("leaky_relu", negative_slope=0.0).is_invertible
    assert sr.activations.get("swish").name == "silu"
