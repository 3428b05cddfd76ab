"""The :class:`Activation` record: everything one activation means, in one frozen object.

Examples
--------
>>> from symrecon.activations import get
>>> act = get("log_sigmoid")
>>> act.keras_names, act.latex, act.is_invertible
(('log_sigmoid',), '\\\\log\\\\sigma', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp

__all__ = ["Activation", "ImageStep", "KernelCode", "SELU_ALPHA", "SELU_SCALE", "Y", "Z"]

Z = sp.Symbol("z", real=True)
Y = sp.Symbol("y", real=True)

SELU_SCALE = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772


class KernelCode:
    """Integer codes the numba kernels dispatch on (one per registered formula).

    The values are stored in packed models, so they are fixed; a new
    activation takes the next free code and one branch in each dispatch of
    :mod:`symrecon.backends.numba.activations` (a test checks that every
    table entry's code is dispatched).
    """

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
    MISH = 14
    LOG_SIGMOID = 15


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
        What the numba kernels dispatch on: the formulas of
        :mod:`symrecon.backends.numba.activations` selected by ``kernel_code``
        (value and derivative; the inverse for invertible entries).
    inverse_steps : tuple of ImageStep
        The algebra from ``y = f(z)`` to ``z = f^{-1}(y)`` for derivations.
    latex : str
        The function's name in LaTeX (``\\sigma``, ``\\operatorname{ReLU}``).
    keras_names : tuple of str
        The activation strings Keras writes for this formula with these
        parameters (``("silu", "swish")``); empty when Keras has none.
    param_name : str or None
        The keyword of :func:`~symrecon.activations.get` that ``param`` is.
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
    latex: str = ""
    keras_names: tuple[str, ...] = ()
    param_name: str | None = None

    def __post_init__(self):
        # Anything without its own LaTeX name is typeset as an operator name.
        if not self.latex:
            object.__setattr__(self, "latex", rf"\operatorname{{{self.name}}}")

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
            from ..errors import NotInvertibleError

            raise NotInvertibleError(
                f"activation {self.name!r} has no inverse: {self.no_inverse_reason}",
                reason="activation",
            )
        return self.inverse_expr.subs(Y, y)

    # -- numeric side -------------------------------------------------------
    @property
    def is_invertible(self) -> bool:
        """True when ``f`` is strictly monotone (it has :attr:`inverse_expr`)."""
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

    def __reduce__(self) -> tuple[object, tuple[str, str | None, float]]:
        # the NumPy callables are closures: pickle the table entry's name and parameter instead
        return (_from_table, (self.name, self.param_name, float(self.param)))

    def __repr__(self) -> str:
        extra = f", param={self.param!r}" if self.param else ""
        return f"Activation({self.name!r}{extra})"


def _from_table(name: str, param_name: str | None, param: float) -> "Activation":
    """Rebuild a pickled activation from the table (see :meth:`Activation.__reduce__`)."""
    from . import get

    default = get(name)
    # fixed-parameter entries (e.g. Keras 2's hard sigmoid) carry a param_name but take no argument
    if param_name is None or param == default.param:
        return default
    return get(name, **{param_name: param})
