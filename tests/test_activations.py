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
from symrecon.backends.numba import activations as nb_act
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
    ("log_sigmoid", -1e-15), ("log_sigmoid", -1e-12), ("log_sigmoid", -800.0),
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
    for name in ("silu", "gelu", "mish"):
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
                                     "softsign", "exponential", "log_sigmoid"}
    assert set(NON_INVERTIBLE_NAMES) >= {"relu", "gelu", "silu", "swish", "hard_sigmoid", "relu6", "mish"}
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


# -- the rest of the table: numba formulas, kernel codes, Keras names, LaTeX ---------


def test_numba_formulas_match_numpy_for_every_entry(act):
    """Value, derivative and (where there is one) inverse, scalar and per-layer, at tight tolerance."""
    z = np.concatenate([np.linspace(-30, 30, 2001), [0.0, -0.0, 1e-300, -1e-300, 6.0, 3.0, -3.0, 700.0, -700.0]])
    a_ref, d_ref = act.numpy(z), act.numpy_derivative(z)
    a_vec, d_vec = np.empty_like(z), np.empty_like(z)
    nb_act.act_vec(z, a_vec, d_vec, z.size, act.kernel_code, act.param)
    scalar = np.array([nb_act.act_and_deriv(float(v), act.kernel_code, act.param) for v in z])
    for a, d in ((a_vec, d_vec), (scalar[:, 0], scalar[:, 1])):
        # absolute error is what matters for residuals; relative for large values
        np.testing.assert_allclose(a, a_ref, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(d, d_ref, rtol=1e-13, atol=1e-15)
    if act.is_invertible:
        y = act.numpy(z[np.abs(z) < 15])
        y = y[act.in_image(y)]
        np.testing.assert_allclose(nb_act.inverse_vec(y, act.kernel_code, act.param), act.numpy_inverse(y),
                                   rtol=1e-13, atol=1e-15)


test_numba_formulas_match_numpy_for_every_entry = pytest.mark.parametrize("act", ALL, ids=IDS)(
    test_numba_formulas_match_numpy_for_every_entry)


def test_every_kernel_code_is_dispatched():
    """No entry falls through a dispatch to the NaN default (value, derivative, inverse)."""
    codes = {}
    for act in ALL:
        codes.setdefault(act.kernel_code, act)
        a, d = nb_act.act_and_deriv(0.3, act.kernel_code, act.param)
        assert np.isfinite(a) and np.isfinite(d), act
        out = np.empty((2, 1))
        nb_act.act_vec(np.array([0.3]), out[0], out[1], 1, act.kernel_code, act.param)
        assert np.all(np.isfinite(out)), act
        if act.is_invertible:
            y = act.numpy(np.array([0.3]))
            assert np.isfinite(nb_act.inverse_vec(y, act.kernel_code, act.param)[0]), act
    # codes are unique per formula, and the default of a dispatch really is NaN
    assert sorted(codes) == sorted({v for k, v in vars(activations.KernelCode).items() if k.isupper()})
    assert all(np.isnan(nb_act.act_and_deriv(0.3, 99, 0.0)))
    assert np.isnan(nb_act.inverse_vec(np.array([0.3]), 99, 0.0)[0])
    for act in ALL:
        back = activations.from_kernel_code(act.kernel_code, act.param)
        assert (back.name, back.param) == (act.name, act.param)


def test_keras_names_come_from_the_table():
    table = {k: activations.from_keras(k).name for k in activations.keras_names()}
    assert table["swish"] == table["silu"] == "silu"
    assert table["mish"] == "mish" and table["log_sigmoid"] == "log_sigmoid"
    assert activations.from_keras("leaky_relu").param == 0.2  # Keras's activation default (the layer's is 0.3)
    # every entry that claims a Keras name is what that name resolves to
    for name in activations.names():
        for keras_name in activations.get(name).keras_names:
            assert activations.from_keras(keras_name).name == activations.get(name).name
    assert "hard_sigmoid" not in table  # version dependent: the loader decides
    with pytest.raises(InvalidValueError, match="unknown Keras activation"):
        activations.from_keras("relu_6")


def test_latex_names_come_from_the_table():
    from symrecon.symbolic.latex import activation_latex

    assert activations.get("sigmoid").latex == r"\sigma" and activations.get("log_sigmoid").latex == r"\log\sigma"
    assert activations.get("mish").latex == r"\operatorname{mish}"
    for act in ALL:
        assert act.latex and activation_latex(act) == act.latex


def test_log_sigmoid_closed_form_inverse_is_stable():
    act = activations.get("log_sigmoid")
    z = np.array([-745.0, -700.0, -40.0, -1.0, 0.0, 1e-8, 1.0, 30.0, 36.0])
    y = act.numpy(z)
    assert np.all(y < 0) and np.all(np.isfinite(y))
    # exact in the mpmath sense, and the numba formula is the same
    exact = [float((Y - sp.log(1 - sp.exp(Y))).evalf(40, subs={Y: sp.Float(v, 60)})) for v in y]
    np.testing.assert_allclose(act.numpy_inverse(y), exact, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(act.numpy_inverse(y), z, rtol=1e-7, atol=1e-7)  # y rounds for z >> 0


def test_mish_is_keras_mish_and_not_invertible():
    act = activations.get("mish")
    z = np.linspace(-10, 10, 41)
    np.testing.assert_allclose(act.numpy(z), z * np.tanh(np.log1p(np.exp(z))), rtol=1e-14, atol=1e-300)
    assert not act.is_invertible and "not monotone" in act.no_inverse_reason
    assert float(act.image.start) == pytest.approx(-0.3088434130172504, abs=1e-13)  # mpmath, 30 digits
