"""Ops that wire values together: :class:`Add`, :class:`Mul`, :class:`Slice`, :class:`Concat`, :class:`Constant`.

The recurrent cells are built from these and the dense ops: a gate block is a
:class:`Slice` of a projection, a state update is :class:`Mul` and
:class:`Add`, the initial state a :class:`Constant`, a returned sequence a
:class:`Concat` of the steps.

Examples
--------
>>> import numpy as np
>>> from symrecon.graph import Add, Mul
>>> one_minus = Add((-1.0,), const=1.0)           # 1 - z, as in the GRU update
>>> one_minus.forward([np.array([[0.25]])]), Mul().forward([np.ones((1, 2)), np.full((1, 2), 3.0)])
(array([[0.75]]), array([[3., 3.]]))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike

from ..errors import ShapeError
from ._base import Array, Op, Preimage, PreimageRule, safe_product
from .ops import sympy_matrix, sympy_number

__all__ = ["Add", "Concat", "Constant", "Mul", "Slice"]


def _same_widths(op: Op, widths: Sequence[int], arity: int | None) -> int:
    if (arity is not None and len(widths) != arity) or not widths or len(set(widths)) != 1:
        raise ShapeError(f"{type(op).__name__} expects {arity or 'one or more'} inputs of one width; "
                         f"got widths {tuple(widths)}")
    return widths[0]


class Add(Op):
    """``const + sum_i c_i x_i`` for inputs of one width.

    Parameters
    ----------
    coefs : sequence of float
        One coefficient per input (its length is the arity).
    const : float, default 0

    Examples
    --------
    >>> import numpy as np
    >>> Add((1.0, -1.0)).forward([np.array([[3.0]]), np.array([[1.0]])])
    array([[2.]])
    """

    arity = None
    coefs: tuple[float, ...]
    const: float

    def __init__(self, coefs: Sequence[float] = (1.0, 1.0), const: float = 0.0):
        self._set(coefs=tuple(float(c) for c in coefs), const=float(const))

    def out_width(self, widths: Sequence[int]) -> int:
        return _same_widths(self, widths, len(self.coefs))

    def forward(self, xs: Sequence[Array]) -> Array:
        out = self.coefs[0] * xs[0] if self.coefs[0] != 1.0 else xs[0].copy()
        for c, x in zip(self.coefs[1:], xs[1:]):
            out = out + c * x
        return out + self.const if self.const else out

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        return sum(c * t for c, t in zip(self.coefs, tangents))  # type: ignore[return-value]

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        return tuple(c * g for c in self.coefs)

    def sympy(self, xs: Sequence[sp.Matrix]) -> sp.Matrix:
        out = sp.zeros(*xs[0].shape).applyfunc(lambda _: sympy_number(self.const))
        for c, x in zip(self.coefs, xs):
            out = out + sympy_number(c) * x
        return out

    def latex(self, args: Sequence[str]) -> str:
        terms = [a if c == 1.0 else f"{c:g} {a}" for c, a in zip(self.coefs, args)]
        return " + ".join(([f"{self.const:g}"] if self.const else []) + terms)

    def preimage(self) -> PreimageRule:
        if len(self.coefs) == 1 and self.coefs[0] != 0.0:
            c, k = self.coefs[0], self.const
            return lambda y: Preimage((np.asarray(y, dtype=np.float64) - k) / c, None, np.zeros(len(y)))
        return "a sum of several inputs does not determine its terms"

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        lo = np.full_like(lowers[0], self.const)
        hi = lo.copy()
        for c, l, u in zip(self.coefs, lowers, uppers):
            lo = lo + (c * l if c >= 0 else c * u)
            hi = hi + (c * u if c >= 0 else c * l)
        return lo, hi

    def __repr__(self) -> str:
        return f"Add({self.coefs}, const={self.const:g})"


class Mul(Op):
    """The elementwise product of two inputs of one width (gate times state).

    Examples
    --------
    >>> import numpy as np
    >>> lo, hi = Mul().bound([np.array([[-1.0]]), np.array([[2.0]])], [np.array([[1.0]]), np.array([[3.0]])])
    >>> float(lo[0, 0]), float(hi[0, 0])
    (-3.0, 3.0)
    """

    arity = 2

    def __init__(self) -> None:
        pass

    def out_width(self, widths: Sequence[int]) -> int:
        return _same_widths(self, widths, 2)

    def forward(self, xs: Sequence[Array]) -> Array:
        return xs[0] * xs[1]

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        return xs[1][:, :, None] * tangents[0] + xs[0][:, :, None] * tangents[1]

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        return g * xs[1], g * xs[0]

    def sympy(self, xs: Sequence[sp.Matrix]) -> sp.Matrix:
        return xs[0].multiply_elementwise(xs[1])

    def latex(self, args: Sequence[str]) -> str:
        return rf"{args[0]} \odot {args[1]}"

    def preimage(self) -> PreimageRule:
        return "a product of two inputs does not determine its factors"

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        (a, b), (c, d) = lowers, uppers
        corners = [safe_product(p, q) for p in (a, c) for q in (b, d)]
        return np.minimum.reduce(corners), np.maximum.reduce(corners)

    def __repr__(self) -> str:
        return "Mul()"


class Slice(Op):
    """Columns ``start:stop`` of the input (a gate block, or one time step of a sequence).

    Parameters
    ----------
    start, stop : int

    Examples
    --------
    >>> import numpy as np
    >>> Slice(1, 3).forward([np.arange(4.0)[None]])
    array([[1., 2.]])
    """

    start: int
    stop: int

    def __init__(self, start: int, stop: int):
        if not 0 <= int(start) < int(stop):
            raise ShapeError(f"Slice needs 0 <= start < stop; got {start}:{stop}")
        self._set(start=int(start), stop=int(stop))

    def out_width(self, widths: Sequence[int]) -> int:
        if len(widths) != 1 or widths[0] < self.stop:
            raise ShapeError(f"Slice {self.start}:{self.stop} needs one input of width >= {self.stop}; "
                             f"got widths {tuple(widths)}")
        return self.stop - self.start

    def forward(self, xs: Sequence[Array]) -> Array:
        return xs[0][:, self.start:self.stop]

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        return tangents[0][:, self.start:self.stop]

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        out = np.zeros_like(xs[0])
        out[:, self.start:self.stop] = g
        return (out,)

    def sympy(self, xs: Sequence[sp.Matrix]) -> sp.Matrix:
        return xs[0][:, self.start:self.stop]

    def latex(self, args: Sequence[str]) -> str:
        return rf"{args[0]}_{{[{self.start}:{self.stop}]}}"

    def preimage(self) -> PreimageRule:
        return "a slice drops the other entries, which any value fits"

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        return lowers[0][:, self.start:self.stop], uppers[0][:, self.start:self.stop]

    def __repr__(self) -> str:
        return f"Slice({self.start}, {self.stop})"


class Concat(Op):
    """Inputs side by side (a returned sequence of hidden states, in step order).

    Examples
    --------
    >>> import numpy as np
    >>> Concat().forward([np.ones((1, 1)), np.zeros((1, 2))])
    array([[1., 0., 0.]])
    """

    arity = None

    def __init__(self) -> None:
        pass

    def out_width(self, widths: Sequence[int]) -> int:
        if not widths:
            raise ShapeError("Concat needs at least one input")
        return int(sum(widths))

    def forward(self, xs: Sequence[Array]) -> Array:
        return np.concatenate(list(xs), axis=1)

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        return np.concatenate(list(tangents), axis=1)

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        cuts = np.cumsum([x.shape[1] for x in xs])[:-1]
        return tuple(np.split(g, cuts, axis=1))

    def sympy(self, xs: Sequence[sp.Matrix]) -> sp.Matrix:
        return sp.Matrix.hstack(*xs)

    def latex(self, args: Sequence[str]) -> str:
        return r"\left[" + ",\\ ".join(args) + r"\right]"

    def preimage(self) -> PreimageRule:
        def rule(y: Array) -> Preimage:
            return Preimage(np.asarray(y, dtype=np.float64), None, np.zeros(len(y)))
        return rule

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        return np.concatenate(list(lowers), axis=1), np.concatenate(list(uppers), axis=1)

    def __repr__(self) -> str:
        return "Concat()"


class Constant(Op):
    """A fixed row ``(d,)`` broadcast over the batch (a recurrent layer's zero initial state).

    Parameters
    ----------
    value : array_like, shape (d,)

    Examples
    --------
    >>> import numpy as np
    >>> Constant(np.zeros(2)).forward([np.ones((3, 5))]).shape   # the input only gives N
    (3, 2)
    """

    value: Array

    def __init__(self, value: ArrayLike):
        v = np.array(value, dtype=np.float64, copy=True).reshape(-1)
        v.setflags(write=False)
        self._set(value=v)

    def out_width(self, widths: Sequence[int]) -> int:
        # Takes one input only for its batch size, so any width fits.
        if len(widths) != 1:
            raise ShapeError(f"Constant takes one input (for the batch size); got {len(widths)}")
        return int(self.value.shape[0])

    def forward(self, xs: Sequence[Array]) -> Array:
        return np.broadcast_to(self.value, (xs[0].shape[0], self.value.shape[0])).copy()

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        t = tangents[0]
        return np.zeros((t.shape[0], self.value.shape[0], t.shape[2]))

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        return (np.zeros_like(xs[0]),)

    def sympy(self, xs: Sequence[sp.Matrix]) -> sp.Matrix:
        return sympy_matrix(self.value)

    def latex(self, args: Sequence[str]) -> str:
        return r"\mathbf{0}" if not np.any(self.value) else str(self.value.tolist())

    def preimage(self) -> PreimageRule:
        return "a constant ignores its input"

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        v = self.forward([lowers[0]])
        return v, v.copy()

    def __repr__(self) -> str:
        return f"Constant({self.value.shape[0]})"
