"""The activation table: one constructor per formula, each returning a complete :class:`Activation`.

Adding an activation is one constructor here (NumPy, SymPy, derivative,
image, inverse, LaTeX, Keras names, kernel code), one entry in
:data:`ACTIVATIONS`, and its numba formulas in
:mod:`symrecon.backends.numba.activations`; the tests pick up every entry.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import sympy as sp

from ..errors import InvalidValueError
from . import _numpy as F
from ._core import SELU_ALPHA, SELU_SCALE, Activation, ImageStep, KernelCode, Y, Z

__all__ = ["ACTIVATIONS"]

_REALS = sp.Interval(-sp.oo, sp.oo)


def linear() -> Activation:
    return Activation(
        "linear", Z, F.f64(lambda z: z.copy()), F.f64(np.ones_like), _REALS,
        Y, F.f64(lambda y: y.copy()), None, KernelCode.LINEAR, 0.0,
        (ImageStep(Z, Y, "the activation is the identity, so the pre-activation equals the output"),),
        latex=r"\operatorname{id}", keras_names=("linear",),
    )


def sigmoid() -> Activation:
    e = sp.exp(-Z)
    steps = (
        ImageStep(Y, 1 / (1 + e), "definition of the sigmoid"),
        ImageStep(sp.exp(-Z), 1 / Y - 1, "solve for the exponential"),
        ImageStep(sp.log(sp.exp(-Z), evaluate=False), sp.log(1 / Y - 1), "take the logarithm of both sides"),
        ImageStep(Z, -sp.log(1 / Y - 1), "solve for z (numerically evaluated as log(y) - log1p(-y))"),
    )
    return Activation(
        "sigmoid", 1 / (1 + e), F.f64(F.sigmoid), F.f64(F.dsigmoid), sp.Interval.open(0, 1),
        -sp.log(1 / Y - 1), F.f64(F.logit), None, KernelCode.SIGMOID, 0.0, steps,
        latex=r"\sigma", keras_names=("sigmoid",),
    )


def tanh() -> Activation:
    steps = (
        ImageStep(Y, sp.tanh(Z), "definition of tanh"),
        ImageStep(Z, sp.atanh(Y), "tanh is strictly increasing onto (-1, 1); apply artanh"),
    )
    return Activation(
        "tanh", sp.tanh(Z), F.f64(np.tanh), F.f64(lambda z: 1.0 - np.tanh(z) ** 2), sp.Interval.open(-1, 1),
        sp.atanh(Y), F.f64(np.arctanh), None, KernelCode.TANH, 0.0, steps,
        latex=r"\tanh", keras_names=("tanh",),
    )


def relu() -> Activation:
    return Activation(
        "relu", sp.Max(0, Z), F.f64(lambda z: np.maximum(z, 0.0)), F.f64(lambda z: (z > 0).astype(np.float64)),
        sp.Interval(0, sp.oo), None, None,
        "relu maps every z <= 0 to 0, so the output 0 has a whole half-line of preimages",
        KernelCode.RELU, latex=r"\operatorname{ReLU}", keras_names=("relu",),
    )


def leaky_relu(negative_slope: float = 0.2) -> Activation:
    a = float(negative_slope)
    if not math.isfinite(a):
        raise InvalidValueError(f"leaky_relu negative_slope must be finite; got {negative_slope!r}")
    expr = sp.Piecewise((Z, Z >= 0), (sp.Float(a) * Z, True))
    fn = F.f64(lambda z: np.where(z >= 0, z, a * z))
    dfn = F.f64(lambda z: np.where(z >= 0, 1.0, a))
    # Keras's "leaky_relu" activation string means slope 0.2 (its layer default is 0.3).
    common: dict[str, Any] = {"latex": r"\operatorname{LeakyReLU}", "param_name": "negative_slope",
              "keras_names": ("leaky_relu",) if a == 0.2 else ()}
    if a > 0:
        inv = sp.Piecewise((Y, Y >= 0), (Y / sp.Float(a), True))
        steps = (
            ImageStep(Y, expr, f"definition of leaky ReLU with slope {a:g} below zero"),
            ImageStep(Z, inv, "each branch is a line with positive slope; invert it branch by branch"),
        )
        return Activation(
            "leaky_relu", expr, fn, dfn, _REALS, inv,
            F.f64(lambda y: np.where(y >= 0, y, y / a)), None, KernelCode.LEAKY_RELU, a, steps, **common,
        )
    reason = (
        "a zero slope maps every z <= 0 to 0" if a == 0
        else f"the negative slope {a:g} makes it non-monotone (z and {1 / a:g} z give the same output)"
    )
    image = sp.Interval(0, sp.oo) if a <= 0 else _REALS
    return Activation("leaky_relu", expr, fn, dfn, image, None, None, reason, KernelCode.LEAKY_RELU, a, **common)


def elu(alpha: float = 1.0) -> Activation:
    a = float(alpha)
    if not (math.isfinite(a) and a > 0):
        raise InvalidValueError(f"elu alpha must be a finite positive number; got {alpha!r}")
    A = sp.Float(a) if a != 1.0 else sp.Integer(1)
    expr = sp.Piecewise((Z, Z > 0), (A * (sp.exp(Z) - 1), True))
    inv = sp.Piecewise((Y, Y > 0), (sp.log(1 + Y / A), True))
    steps = (
        ImageStep(Y, expr, f"definition of ELU with alpha = {a:g}"),
        ImageStep(Z, inv, "both branches are strictly increasing; for y <= 0 solve alpha (e^z - 1) = y"),
    )
    return Activation(
        "elu", expr, F.f64(lambda z: F.elu(z, a)), F.f64(lambda z: F.delu(z, a)), sp.Interval.open(-A, sp.oo),
        inv, F.f64(lambda y: F.elu_inverse(y, a)), None, KernelCode.ELU, a, steps,
        latex=r"\operatorname{ELU}", keras_names=("elu",) if a == 1.0 else (), param_name="alpha",
    )


def selu() -> Activation:
    s, al = sp.Float(SELU_SCALE), sp.Float(SELU_ALPHA)
    expr = sp.Piecewise((s * Z, Z > 0), (s * al * (sp.exp(Z) - 1), True))
    inv = sp.Piecewise((Y / s, Y > 0), (sp.log(1 + Y / (s * al)), True))
    steps = (
        ImageStep(Y, expr, "definition of SELU (scale 1.0507..., alpha 1.6732...)"),
        ImageStep(Z, inv, "both branches are strictly increasing; invert each"),
    )
    return Activation(
        "selu", expr, F.f64(F.selu), F.f64(F.dselu), sp.Interval.open(-s * al, sp.oo), inv,
        F.f64(F.selu_inverse), None, KernelCode.SELU, 0.0, steps,
        latex=r"\operatorname{SELU}", keras_names=("selu",),
    )


def softplus() -> Activation:
    expr = sp.log(1 + sp.exp(Z))
    steps = (
        ImageStep(Y, expr, "definition of softplus"),
        ImageStep(sp.exp(Z), sp.exp(Y) - 1, "exponentiate both sides and solve for e^z"),
        ImageStep(Z, sp.log(sp.exp(Y) - 1), "take the logarithm (numerically y + log(-expm1(-y)))"),
    )
    return Activation(
        "softplus", expr, F.f64(F.softplus), F.f64(F.sigmoid), sp.Interval.open(0, sp.oo),
        sp.log(sp.exp(Y) - 1), F.f64(F.softplus_inverse), None, KernelCode.SOFTPLUS, 0.0, steps,
        keras_names=("softplus",),
    )


def softsign() -> Activation:
    expr = Z / (1 + sp.Abs(Z))
    inv = Y / (1 - sp.Abs(Y))
    steps = (
        ImageStep(Y, expr, "definition of softsign"),
        ImageStep(Z, inv, "sign(z) = sign(y) and |y| = |z| / (1 + |z|), so |z| = |y| / (1 - |y|)"),
    )
    return Activation(
        "softsign", expr, F.f64(lambda z: z / (1.0 + np.abs(z))), F.f64(lambda z: 1.0 / (1.0 + np.abs(z)) ** 2),
        sp.Interval.open(-1, 1), inv, F.f64(lambda y: y / (1.0 - np.abs(y))), None, KernelCode.SOFTSIGN, 0.0,
        steps, keras_names=("softsign",),
    )


def exponential() -> Activation:
    steps = (
        ImageStep(Y, sp.exp(Z), "definition of the exponential activation"),
        ImageStep(Z, sp.log(Y), "take the logarithm"),
    )
    return Activation(
        "exponential", sp.exp(Z), F.f64(np.exp), F.f64(np.exp), sp.Interval.open(0, sp.oo),
        sp.log(Y), F.f64(np.log), None, KernelCode.EXPONENTIAL, 0.0, steps,
        latex=r"\exp", keras_names=("exponential",),
    )


def hard_sigmoid(slope: float = 1.0 / 6.0) -> Activation:
    """Keras 3: ``clip(z/6 + 1/2, 0, 1)``; Keras 2 used ``slope=0.2``.

    Both versions write the string ``"hard_sigmoid"``; the loader picks the
    entry from the file's Keras version, so neither entry claims the name.
    """
    k = float(slope)
    ks = sp.Rational(1, 6) if abs(k - 1 / 6) < 1e-15 else sp.nsimplify(k)
    expr = sp.Min(1, sp.Max(0, ks * Z + sp.Rational(1, 2)))
    name = "hard_sigmoid" if ks == sp.Rational(1, 6) else "hard_sigmoid_keras2"
    return Activation(
        name, expr, F.f64(lambda z: np.clip(k * z + 0.5, 0.0, 1.0)),
        F.f64(lambda z: np.where(np.abs(k * z) < 0.5, k, 0.0)), sp.Interval(0, 1), None, None,
        f"it saturates: every z <= {-0.5 / k:g} gives 0 and every z >= {0.5 / k:g} gives 1",
        KernelCode.HARD_SIGMOID, k, param_name="slope",
    )


def relu6() -> Activation:
    return Activation(
        "relu6", sp.Min(6, sp.Max(0, Z)), F.f64(lambda z: np.clip(z, 0.0, 6.0)),
        F.f64(lambda z: ((z > 0) & (z < 6)).astype(np.float64)), sp.Interval(0, 6), None, None,
        "it is flat below 0 and above 6, so 0 and 6 have half-lines of preimages", KernelCode.RELU6,
        keras_names=("relu6",),
    )


# Images of the non-monotone activations start at their global minimum: the NumPy forms' minima
# as F.minimum_of finds them (brentq on f'; brackets (-3, -0.5), gelu's (-3, -0.1)), written out
# because computing them at import needed scipy.optimize (~0.2 s). They are within 1 ulp of the
# 40-digit mpmath minima and not above them rounded; tests/test_activation_minima.py checks both.
_SILU_MIN = -0.27846454276107385
_GELU_MIN = -0.16997120747990366
_MISH_MIN = -0.30884341301725043


def _dips(name: str, where: float) -> str:
    return (f"{name} is not monotone (it dips to a minimum near z = {where:g}), so most outputs below 0 "
            f"have two preimages")


def silu() -> Activation:
    return Activation(
        "silu", Z / (1 + sp.exp(-Z)), F.f64(F.silu), F.f64(F.dsilu), sp.Interval(sp.Float(_SILU_MIN, 17), sp.oo),
        None, None, _dips("silu", -1.28), KernelCode.SILU, keras_names=("silu", "swish"),
    )


def gelu() -> Activation:
    expr = Z / 2 * (1 + sp.erf(Z / sp.sqrt(2)))
    return Activation(
        "gelu", expr, F.f64(F.gelu), F.f64(F.dgelu), sp.Interval(sp.Float(_GELU_MIN, 17), sp.oo), None, None,
        _dips("gelu", -0.75), KernelCode.GELU, keras_names=("gelu",),
    )


def mish() -> Activation:
    return Activation(
        "mish", Z * sp.tanh(sp.log(1 + sp.exp(Z))), F.f64(F.mish), F.f64(F.dmish),
        sp.Interval(sp.Float(_MISH_MIN, 17), sp.oo), None, None, _dips("mish", -1.19), KernelCode.MISH,
        keras_names=("mish",),
    )


def log_sigmoid() -> Activation:
    expr = -sp.log(1 + sp.exp(-Z))
    inv = Y - sp.log(1 - sp.exp(Y))
    steps = (
        ImageStep(Y, expr, "definition of the log-sigmoid, log(1 / (1 + e^(-z)))"),
        ImageStep(sp.exp(-Z), sp.exp(-Y) - 1, "exponentiate -y and solve for e^(-z)"),
        ImageStep(Z, inv, "take the logarithm: z = -log(e^(-y) - 1) = y - log(1 - e^y) "
                          "(numerically y - log(-expm1(y)))"),
    )
    return Activation(
        "log_sigmoid", expr, F.f64(F.log_sigmoid), F.f64(F.dlog_sigmoid), sp.Interval.open(-sp.oo, 0),
        inv, F.f64(F.log_sigmoid_inverse), None, KernelCode.LOG_SIGMOID, 0.0, steps,
        latex=r"\log\sigma", keras_names=("log_sigmoid",),
    )


#: name -> constructor.  Aliases map other spellings onto one formula.
ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    "linear": linear,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "softplus": softplus,
    "softsign": softsign,
    "exponential": exponential,
    "hard_sigmoid": hard_sigmoid,
    "hard_sigmoid_keras2": lambda: hard_sigmoid(0.2),
    "relu6": relu6,
    "silu": silu,
    "swish": silu,
    "gelu": gelu,
    "mish": mish,
    "log_sigmoid": log_sigmoid,
}
