"""What every operation of the graph provides, and the small helpers they share.

An op maps its inputs, each a batch of row vectors ``(N, d_i)``, to one batch
``(N, d)``.  Every method takes the inputs as a sequence (one entry per input
edge) so that the evaluators treat unary and n-ary ops alike:

* ``forward(xs) -> y``                        NumPy, ``(N, d)``
* ``jvp(xs, y, tangents) -> t``               tangents ``(N, d_i, k)`` -> ``(N, d, k)``
* ``vjp(xs, y, g) -> (g_0, ...)``             cotangent ``(N, d)`` -> one ``(N, d_i)`` per input
* ``sympy(xs) -> Matrix``                     rows ``1 x d_i`` -> ``1 x d``
* ``latex(args) -> str``                      the right-hand side, given the inputs' LaTeX
* ``preimage() -> callable | str``            ``y -> Preimage`` or the reason there is none
* ``bound(lowers, uppers) -> (lower, upper)`` sound interval propagation

Examples
--------
>>> import numpy as np
>>> from symrecon.graph import Affine
>>> Affine([[2.0]], [1.0]).forward([np.array([[3.0]])])
array([[7.]])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import sympy as sp
from numpy.typing import NDArray

__all__ = ["Array", "Op", "Preimage", "PreimageRule", "safe_product"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Preimage:
    """The set of inputs an op maps to a target: ``point + span(basis)``.

    Attributes
    ----------
    point : ndarray, shape (N, d_in)
        One preimage per target row (the minimum-norm one for affine sets;
        the least-squares one when ``residual`` is non-zero).
    basis : ndarray, shape (d_in, k), or None
        Directions along which the input can move without changing the
        output (None: the preimage is the single point).
    residual : ndarray, shape (N,)
        ``||op(point) - y||``: zero when the target is reachable.
    """

    point: Array
    basis: Array | None
    residual: Array


#: what :meth:`Op.preimage` returns: a rule ``y -> Preimage`` or why there is none
PreimageRule = Union[Callable[[Array], Preimage], str]


def safe_product(a: Array, b: Array) -> Array:
    """``a * b`` with ``0 * inf = 0``, the convention of interval arithmetic.

    An interval ``[0, 0]`` times an unbounded one is exactly ``{0}``; IEEE's
    NaN would poison every bound downstream.
    """
    with np.errstate(invalid="ignore"):
        out = np.multiply(a, b)
    return np.where(np.isnan(out), 0.0, out)


class Op(ABC):
    """Base class of the graph's operations (frozen: configure in ``__init__`` only)."""

    #: number of inputs (None: any number >= 1)
    arity: int | None = 1

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; build a new op instead")

    def _set(self, **values: object) -> None:
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def __setstate__(self, state: dict) -> None:
        # Unpickled arrays come back writeable; an op's weights stay read-only.
        for value in state.values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
        self.__dict__.update(state)

    # -- structure ---------------------------------------------------------
    @abstractmethod
    def out_width(self, widths: Sequence[int]) -> int:
        """Output width for inputs of the given widths; raises ShapeError when they do not fit."""

    # -- NumPy -------------------------------------------------------------
    @abstractmethod
    def forward(self, xs: Sequence[Array]) -> Array:
        """The op on a batch: inputs ``(N, d_i)`` -> output ``(N, d)``."""

    @abstractmethod
    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        """Push tangents ``(N, d_i, k)`` forward to ``(N, d, k)`` (``y`` is ``forward(xs)``)."""

    @abstractmethod
    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        """Pull a cotangent ``(N, d)`` back to one ``(N, d_i)`` per input."""

    def __call__(self, *xs: Array) -> Array:
        return self.forward([np.asarray(x, dtype=np.float64) for x in xs])

    # -- SymPy -------------------------------------------------------------
    @abstractmethod
    def sympy(self, xs: Sequence[sp.Matrix]) -> sp.Matrix:
        """The op on ``1 x d_i`` SymPy row matrices."""

    @abstractmethod
    def latex(self, args: Sequence[str]) -> str:
        """The op's right-hand side in LaTeX, given its inputs' LaTeX."""

    # -- sets --------------------------------------------------------------
    def preimage(self) -> PreimageRule:
        """A rule ``y (N, d) -> Preimage`` or a sentence saying why there is none."""
        return f"{type(self).__name__} has no preimage rule"

    @abstractmethod
    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        """Sound elementwise bounds ``(lower, upper)`` of the output over the input boxes."""
