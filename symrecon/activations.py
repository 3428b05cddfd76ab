"""The activation registry.

Each activation is one frozen :class:`Activation` holding everything the rest
of symrecon needs to know about it: the SymPy form (for derivations), the NumPy
form and its derivative (for numeric forward passes and solvers), its image
(the set of values it can output, a SymPy ``Interval``), and its inverse where
it is strictly monotone, or the reason it has none.  The numba kernels refer
to an activation by its integer ``kernel_code`` and ``param``.

Examples
--------
>>> from symrecon import activations
>>> sig = activations.get("sigmoid")
>>> float(sig.numpy(0.0))
0.5
>>> sig.image
Interval.open(0, 1)
>>> lrelu = activations.get("leaky_relu", negative_slope=0.1)
>>> lrelu.is_invertible
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp
from scipy import special

from .errors import InvalidValueError

__all__ = ["Activation", "ACTIVATIONS", "get", "names", "KernelCode", "ImageStep"]

Z = sp.Symbol("z", real=True)
Y = sp.Symbol("y", real=True)


class KernelCode:
    """Integer codes the numba kernels dispatch on (one per registered formula)."""

    LINEAR = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3
    LEAKY_RELU = 4
    ELU = 5
    SELU = 6
    SOFTPLUS = 7
    SOFTSIGN = 8
    EXPONENTIAL = 9
    HARD_SIGMOID = 10  # clip(param * z + 0.5, 0, 1); param = 1/6 (Keras 3) or 0.2 (Keras 2)
    RELU6 = 11
    SILU = 12
    GELU = 13


SELU_SCALE = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772


@dataclass(frozen=True)
class ImageStep:
    """One step of solving ``y = f(z)`` for ``z``: ``lhs = rhs`` with a sentence."""

    lhs: sp.Expr
    rhs: sp.Expr
    text: str


@dataclass(frozen=True, eq=False)
class Activation:
    """An elementwise activation function and everything known about it.

    Parameters
    ----------
    name : str
        Registry name (Keras's activation string where one exists).
    expr : sympy.Expr
        ``f(z)`` in the real symbol ``activations.Z``.
    numpy : callable
        Vectorised ``f``; accepts any array, returns float64.
    numpy_derivative : callable
        Vectorised ``f'``.
    image : sympy.Interval
        The set of values ``f`` can output over the reals.
    inverse_expr : sympy.Expr or None
        ``f^{-1}(y)`` in the real symbol ``activations.Y``; None when not injective.
    numpy_inverse : callable or None
        Numerically stable vectorised inverse (valid on ``image``).
    no_inverse_reason : str or None
        Why there is no inverse (None when there is one).
    kernel_code, param : int, float
        What the numba kernels dispatch on.
    inverse_steps : tuple of ImageStep
        The algebra from ``y = f(z)`` to ``z = f^{-1}(y)`` for derivations.
    """

    name: str
    expr: sp.Expr
    numpy: Callable[[np.ndarray], np.ndarray]
    numpy_derivative: Callable[[np.ndarray], np.ndarray]
    image: sp.Interval
    inverse_expr: sp.Expr | None
    numpy_inverse: Callable[[np.ndarray], np.ndarray] | None
    no_inverse_reason: str | None
    kernel_code: int
    param: float = 0.0
    inverse_steps: tuple[ImageStep, ...] = field(default=())

    # -- SymPy side ---------------------------------------------------------
    def sympy(self, z: sp.Expr) -> sp.Expr:
        """``f(z)`` as a SymPy expression of ``z``."""
        return self.expr.subs(Z, z)

    @property
    def derivative(self) -> sp.Lambda:
        """``f'`` as a SymPy ``Lambda``."""
        return sp.Lambda(Z, sp.diff(self.expr, Z))

    @property
    def inverse(self) -> sp.Lambda | None:
        """``f^{-1}`` as a SymPy ``Lambda``, or None when ``f`` is not injective."""
        if self.inverse_expr is None:
            return None
        return sp.Lambda(Y, self.inverse_expr)

    def sympy_inverse(self, y: sp.Expr) -> sp.Expr:
        """``f^{-1}(y)`` as a SymPy expression; raises when there is no inverse."""
        if self.inverse_expr is None:
            from .errors import NotInvertibleError

            raise NotInvertibleError(
                f"activation {self.name!r} has no inverse: {self.no_inverse_reason}",
                reason="activation",
            )
        return self.inverse_expr.subs(Y, y)

    # -- numeric side -------------------------------------------------------
    @property
    def is_invertible(self) -> bool:
        return self.inverse_expr is not None

    @property
    def image_bounds(self) -> tuple[float, float, bool, bool]:
        """``(low, high, low_open, high_open)`` of the image as floats (±inf allowed)."""
        im = self.image
        return (float(im.start), float(im.end), bool(im.left_open), bool(im.right_open))

    def in_image(self, y: np.ndarray) -> np.ndarray:
        """Boolean mask: which values of ``y`` the activation can output."""
        lo, hi, lo_open, hi_open = self.image_bounds
        y = np.asarray(y, dtype=np.float64)
        ok_lo = y > lo if lo_open else y >= lo
        ok_hi = y < hi if hi_open else y <= hi
        return ok_lo & ok_hi

    def __repr__(self) -> str:
        extra = f", param={self.param!r}" if self.param else ""
        return f"Activation({self.name!r}{extra})"


# ---------------------------------------------------------------------------
# NumPy forms.  Written so that they never overflow for large |z| (float64).


def _sigmoid(z):
    return special.expit(z)


def _dsigmoid(z):
    s = special.expit(z)
    return s * (1.0 - s)


def _logit(y):
    # log(y) - log1p(-y) keeps full relative precision near both edges.
    return np.log(y) - np.log1p(-y)


def _softplus(z):
    return np.logaddexp(0.0, z)


def _softplus_inverse(y):
    # log(expm1(y)) overflows for y > ~709; y + log(-expm1(-y)) does not.
    return y + np.log(-np.expm1(-y))


def _elu(z, alpha):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def _delu(z, alpha):
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def _elu_inverse(y, alpha):
    return np.where(y > 0, y, np.log1p(np.minimum(y, 0.0) / alpha))


def _gelu(z):
    # 1 + erf(t) = erfc(-t) without the cancellation for z << 0.
    return 0.5 * z * special.erfc(-z / math.sqrt(2.0))


def _dgelu(z):
    return 0.5 * special.erfc(-z / math.sqrt(2.0)) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _silu(z):
    return z * special.expit(z)


def _dsilu(z):
    s = special.expit(z)
    return s * (1.0 + z * (1.0 - s))


def _f64(fn):
    def wrapped(z):
        return fn(np.asarray(z, dtype=np.float64))

    wrapped.__name__ = getattr(fn, "__name__", "activation")
    return wrapped


def _minimum_of(numpy_fn, dfn, bracket) -> float:
    """Global minimum value of a non-monotone activation (root of f' in ``bracket``)."""
    from scipy.optimize import brentq

    z_star = brentq(lambda t: float(dfn(np.float64(t))), *bracket, xtol=1e-15)
    return float(numpy_fn(np.float64(z_star)))


# ---------------------------------------------------------------------------
# Constructors: one function per formula; parametrised ones take keywords.


def linear() -> Activation:
    return Activation(
        "linear", Z, _f64(lambda z: z.copy()), _f64(np.ones_like), sp.Interval(-sp.oo, sp.oo),
        Y, _f64(lambda y: y.copy()), None, KernelCode.LINEAR, 0.0,
        (ImageStep(Z, Y, "the activation is the identity, so the pre-activation equals the output"),),
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
        "sigmoid", 1 / (1 + e), _f64(_sigmoid), _f64(_dsigmoid), sp.Interval.open(0, 1),
        -sp.log(1 / Y - 1), _f64(_logit), None, KernelCode.SIGMOID, 0.0, steps,
    )


def tanh() -> Activation:
    steps = (
        ImageStep(Y, sp.tanh(Z), "definition of tanh"),
        ImageStep(Z, sp.atanh(Y), "tanh is strictly increasing onto (-1, 1); apply artanh"),
    )
    return Activation(
        "tanh", sp.tanh(Z), _f64(np.tanh), _f64(lambda z: 1.0 - np.tanh(z) ** 2), sp.Interval.open(-1, 1),
        sp.atanh(Y), _f64(np.arctanh), None, KernelCode.TANH, 0.0, steps,
    )


def relu() -> Activation:
    return Activation(
        "relu", sp.Max(0, Z), _f64(lambda z: np.maximum(z, 0.0)), _f64(lambda z: (z > 0).astype(np.float64)),
        sp.Interval(0, sp.oo), None, None,
        "relu maps every z <= 0 to 0, so the output 0 has a whole half-line of preimages",
        KernelCode.RELU,
    )


def leaky_relu(negative_slope: float = 0.2) -> Activation:
    a = float(negative_slope)
    if not math.isfinite(a):
        raise InvalidValueError(f"leaky_relu negative_slope must be finite; got {negative_slope!r}")
    expr = sp.Piecewise((Z, Z >= 0), (sp.Float(a) * Z, True))
    fn = _f64(lambda z: np.where(z >= 0, z, a * z))
    dfn = _f64(lambda z: np.where(z >= 0, 1.0, a))
    if a > 0:
        inv = sp.Piecewise((Y, Y >= 0), (Y / sp.Float(a), True))
        steps = (
            ImageStep(Y, expr, f"definition of leaky ReLU with slope {a:g} below zero"),
            ImageStep(Z, inv, "each branch is a line with positive slope; invert it branch by branch"),
        )
        return Activation(
            "leaky_relu", expr, fn, dfn, sp.Interval(-sp.oo, sp.oo), inv,
            _f64(lambda y: np.where(y >= 0, y, y / a)), None, KernelCode.LEAKY_RELU, a, steps,
        )
    reason = (
        "a zero slope maps every z <= 0 to 0" if a == 0
        else f"the negative slope {a:g} makes it non-monotone (z and {1 / a:g} z give the same output)"
    )
    image = sp.Interval(0, sp.oo) if a <= 0 else sp.Interval(-sp.oo, sp.oo)
    return Activation("leaky_relu", expr, fn, dfn, image, None, None, reason, KernelCode.LEAKY_RELU, a)


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
        "elu", expr, _f64(lambda z: _elu(z, a)), _f64(lambda z: _delu(z, a)), sp.Interval.open(-A, sp.oo),
        inv, _f64(lambda y: _elu_inverse(y, a)), None, KernelCode.ELU, a, steps,
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
        "selu", expr,
        _f64(lambda z: SELU_SCALE * _elu(z, SELU_ALPHA)),
        _f64(lambda z: SELU_SCALE * _delu(z, SELU_ALPHA)),
        sp.Interval.open(-s * al, sp.oo), inv,
        _f64(lambda y: _elu_inverse(y / SELU_SCALE, SELU_ALPHA)), None, KernelCode.SELU, 0.0, steps,
    )


def softplus() -> Activation:
    expr = sp.log(1 + sp.exp(Z))
    steps = (
        ImageStep(Y, expr, "definition of softplus"),
        ImageStep(sp.exp(Z), sp.exp(Y) - 1, "exponentiate both sides and solve for e^z"),
        ImageStep(Z, sp.log(sp.exp(Y) - 1), "take the logarithm (numerically y + log(-expm1(-y)))"),
    )
    return Activation(
        "softplus", expr, _f64(_softplus), _f64(_sigmoid), sp.Interval.open(0, sp.oo),
        sp.log(sp.exp(Y) - 1), _f64(_softplus_inverse), None, KernelCode.SOFTPLUS, 0.0, steps,
    )


def softsign() -> Activation:
    expr = Z / (1 + sp.Abs(Z))
    inv = Y / (1 - sp.Abs(Y))
    steps = (
        ImageStep(Y, expr, "definition of softsign"),
        ImageStep(Z, inv, "sign(z) = sign(y) and |y| = |z| / (1 + |z|), so |z| = |y| / (1 - |y|)"),
    )
    return Activation(
        "softsign", expr, _f64(lambda z: z / (1.0 + np.abs(z))), _f64(lambda z: 1.0 / (1.0 + np.abs(z)) ** 2),
        sp.Interval.open(-1, 1), inv, _f64(lambda y: y / (1.0 - np.abs(y))), None, KernelCode.SOFTSIGN, 0.0, steps,
    )


def exponential() -> Activation:
    steps = (
        ImageStep(Y, sp.exp(Z), "definition of the exponential activation"),
        ImageStep(Z, sp.log(Y), "take the logarithm"),
    )
    return Activation(
        "exponential", sp.exp(Z), _f64(np.exp), _f64(np.exp), sp.Interval.open(0, sp.oo),
        sp.log(Y), _f64(np.log), None, KernelCode.EXPONENTIAL, 0.0, steps,
    )


def hard_sigmoid(slope: float = 1.0 / 6.0) -> Activation:
    """Keras 3: ``clip(z/6 + 1/2, 0, 1)``; Keras 2 used ``slope=0.2``."""
    k = float(slope)
    ks = sp.Rational(1, 6) if abs(k - 1 / 6) < 1e-15 else sp.nsimplify(k)
    expr = sp.Min(1, sp.Max(0, ks * Z + sp.Rational(1, 2)))
    name = "hard_sigmoid" if ks == sp.Rational(1, 6) else "hard_sigmoid_keras2"
    return Activation(
        name, expr, _f64(lambda z: np.clip(k * z + 0.5, 0.0, 1.0)),
        _f64(lambda z: np.where(np.abs(k * z) < 0.5, k, 0.0)), sp.Interval(0, 1), None, None,
        f"it saturates: every z <= {-0.5 / k:g} gives 0 and every z >= {0.5 / k:g} gives 1",
        KernelCode.HARD_SIGMOID, k,
    )


def relu6() -> Activation:
    return Activation(
        "relu6", sp.Min(6, sp.Max(0, Z)), _f64(lambda z: np.clip(z, 0.0, 6.0)),
        _f64(lambda z: ((z > 0) & (z < 6)).astype(np.float64)), sp.Interval(0, 6), None, None,
        "it is flat below 0 and above 6, so 0 and 6 have half-lines of preimages", KernelCode.RELU6,
    )


_SILU_MIN = _minimum_of(_silu, _dsilu, (-3.0, -0.5))
_GELU_MIN = _minimum_of(_gelu, _dgelu, (-3.0, -0.1))


def silu() -> Activation:
    return Activation(
        "silu", Z / (1 + sp.exp(-Z)), _f64(_silu), _f64(_dsilu), sp.Interval(sp.Float(_SILU_MIN, 17), sp.oo),
        None, None, "silu is not monotone (it dips to a minimum near z = -1.28), so most outputs below 0 "
        "have two preimages", KernelCode.SILU,
    )


def gelu() -> Activation:
    expr = Z / 2 * (1 + sp.erf(Z / sp.sqrt(2)))
    return Activation(
        "gelu", expr, _f64(_gelu), _f64(_dgelu), sp.Interval(sp.Float(_GELU_MIN, 17), sp.oo), None, None,
        "gelu is not monotone (it dips to a minimum near z = -0.75), so most outputs below 0 have two preimages",
        KernelCode.GELU,
    )


#: name -> constructor.  Aliases map Keras spellings onto one formula.
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
}

_CACHE: dict[tuple, Activation] = {}


def names() -> tuple[str, ...]:
    """All registered activation names (aliases included), sorted."""
    return tuple(sorted(ACTIVATIONS))


def get(name: str | Activation | None, **params: float) -> Activation:
    """Look up an activation by name, with its parameters.

    Parameters
    ----------
    name : str, Activation or None
        A registry name (see :func:`names`); None means ``"linear"``; an
        :class:`Activation` is returned unchanged (``params`` must be empty).
    **params : float
        Parameters of parametrised activations (``leaky_relu(negative_slope=)``,
        ``elu(alpha=)``, ``hard_sigmoid(slope=)``).

    Returns
    -------
    Activation

    Raises
    ------
    InvalidValueError
        Unknown name (the message lists the valid ones) or bad parameter.
    """
    if isinstance(name, Activation):
        if params:
            raise TypeError(f"parameters {sorted(params)} given with an Activation object")
        return name
    if name is None:
        name = "linear"
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise InvalidValueError(
            f"unknown activation {name!r}; expected one of: {', '.join(names())}"
        )
    key = (name, tuple(sorted(params.items())))
    if key not in _CACHE:
        try:
            _CACHE[key] = ACTIVATIONS[name](**params)
        except TypeError as exc:
            raise TypeError(f"activation {name!r} does not take parameters {sorted(params)}: {exc}") from None
    return _CACHE[key]
