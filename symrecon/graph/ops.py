"""The dense ops: :class:`Affine`, :class:`Elementwise`, :class:`Softmax`, :class:`ThresholdedReLU`.

Each op holds everything it means in one place (see :mod:`._base`): forward,
JVP/VJP, SymPy form and LaTeX, preimage rule, interval bounds.  Batches are
rows (Keras layout): an affine op computes ``x @ W + b``.

Examples
--------
>>> import numpy as np
>>> from symrecon.graph import Affine, Elementwise
>>> z = Affine([[1.0, 2.0]], [0.0, 1.0]).forward([np.array([[1.0]])])
>>> Elementwise("relu", 2).forward([z - 2.0])
array([[0., 1.]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike

from .. import activations as _activations
from ..activations import Activation
from ..errors import InfeasibleTargetError, ShapeError
from ._base import Array, Op, Preimage, PreimageRule, safe_product

__all__ = ["Affine", "Elementwise", "Softmax", "ThresholdedReLU", "sympy_number", "sympy_matrix"]

#: relative singular-value cut-off below which a weight matrix counts as rank deficient
RANK_RTOL = 1e-12


def sympy_number(v: float) -> sp.Expr:
    """A float as SymPy, whole numbers as integers (identity weights give ``x_0``, not ``1.0 x_0``)."""
    v = float(v)
    return sp.Integer(int(v)) if v.is_integer() and abs(v) < 2.0**53 else sp.Float(v)


def sympy_matrix(a: ArrayLike) -> sp.Matrix:
    """A 1-D or 2-D array as a SymPy Matrix (a 1-D array becomes one row)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    return sp.Matrix(a.shape[0], a.shape[1], [sympy_number(v) for v in a.ravel()])


def _check_one(op: Op, widths: Sequence[int], n: int) -> int:
    if len(widths) != 1 or widths[0] != n:
        raise ShapeError(f"{type(op).__name__} expects one input of width {n}; got widths {tuple(widths)}")
    return n


def _frozen(a: ArrayLike, ndim: int, what: str) -> Array:
    arr = np.array(a, dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise ShapeError(f"{what} must be {ndim}-D; got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


class Affine(Op):
    """``x @ W + b`` with ``W`` of shape ``(n_in, n_out)`` (Keras layout).

    Parameters
    ----------
    W : array_like, shape (n_in, n_out)
    b : array_like, shape (n_out,), optional (zeros)

    Examples
    --------
    >>> import numpy as np
    >>> op = Affine([[2.0, 0.0], [0.0, 4.0]], [1.0, 1.0])
    >>> op.preimage()(np.array([[3.0, 5.0]])).point
    array([[1., 1.]])
    """

    def __init__(self, W: ArrayLike, b: ArrayLike | None = None):
        W = _frozen(W, 2, "Affine W")
        b = _frozen(np.zeros(W.shape[1]) if b is None else b, 1, "Affine b")
        if b.shape != (W.shape[1],):
            raise ShapeError(f"Affine b must have shape ({W.shape[1]},) to match W {W.shape}; got {b.shape}")
        self._set(W=W, b=b)

    W: Array
    b: Array

    @property
    def n_in(self) -> int:
        return int(self.W.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.W.shape[1])

    def out_width(self, widths: Sequence[int]) -> int:
        _check_one(self, widths, self.n_in)
        return self.n_out

    def forward(self, xs: Sequence[Array]) -> Array:
        return xs[0] @ self.W + self.b

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        # W^T (n_out, n_in) broadcast over the batch: a BLAS call, several times faster than einsum.
        return np.matmul(self.W.T, tangents[0])

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        return (g @ self.W.T,)

    def sympy(self, xs: Sequence[sp.Matrix], symbols: tuple[sp.MatrixSymbol, sp.MatrixSymbol] | None = None):
        """``x W + b``: numbers substituted, or with ``symbols=(W, b)`` the matrix-symbol form."""
        if symbols is not None:
            return sp.MatAdd(sp.MatMul(xs[0], symbols[0]), symbols[1])
        return xs[0] * sympy_matrix(self.W) + sympy_matrix(self.b)

    def latex(self, args: Sequence[str]) -> str:
        return rf"{args[0]} W + b, \quad W \in \mathbb{{R}}^{{{self.n_in} \times {self.n_out}}}"

    def preimage(self) -> PreimageRule:
        """Square full rank: one point; wide full row rank: an affine set; tall full column rank: least squares."""
        s = np.linalg.svd(self.W, compute_uv=False)
        rank = int(np.sum(s > RANK_RTOL * s[0])) if s[0] > 0 else 0
        n_in, n_out = self.n_in, self.n_out
        if rank < min(n_in, n_out):
            return (f"W ({n_in} x {n_out}) has rank {rank} < {min(n_in, n_out)}: "
                    "the affine map loses information in every direction of its null space")
        pinv = np.linalg.pinv(self.W)
        basis = None
        if n_in > n_out:
            # Right singular vectors beyond the rank span the directions x can move along.
            basis = np.linalg.svd(self.W.T)[2][n_out:].T

        def rule(y: Array) -> Preimage:
            rhs = np.asarray(y, dtype=np.float64) - self.b
            point = rhs @ pinv
            residual = np.linalg.norm(point @ self.W - rhs, axis=1)
            return Preimage(point, basis, residual)

        return rule

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        lo, hi = lowers[0], uppers[0]
        Wp, Wn = np.maximum(self.W, 0.0), np.minimum(self.W, 0.0)
        if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            return lo @ Wp + hi @ Wn + self.b, hi @ Wp + lo @ Wn + self.b
        # Unbounded boxes: 0 * inf must count as 0, which matmul cannot do.
        def mm(v: Array, M: Array) -> Array:
            return np.sum(safe_product(v[:, :, None], M[None]), axis=1)
        return mm(lo, Wp) + mm(hi, Wn) + self.b, mm(hi, Wp) + mm(lo, Wn) + self.b

    def __repr__(self) -> str:
        return f"Affine({self.n_in}->{self.n_out})"


class Elementwise(Op):
    """An activation from :mod:`symrecon.activations` applied to every entry.

    Parameters
    ----------
    activation : str or Activation
    width : int
        Number of entries (input and output width).

    Examples
    --------
    >>> import numpy as np
    >>> op = Elementwise("sigmoid", 1)
    >>> float(op.preimage()(np.array([[0.5]])).point[0, 0])
    0.0
    """

    activation: Activation
    width: int

    def __init__(self, activation: str | Activation, width: int):
        self._set(activation=_activations.get(activation), width=int(width))

    def out_width(self, widths: Sequence[int]) -> int:
        return _check_one(self, widths, self.width)

    def forward(self, xs: Sequence[Array]) -> Array:
        return self.activation.numpy(xs[0])

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        return self.activation.numpy_derivative(xs[0])[:, :, None] * tangents[0]

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        return (g * self.activation.numpy_derivative(xs[0]),)

    def sympy(self, xs: Sequence[sp.Matrix]):
        """Entry by entry for explicit matrices; ``f(z)`` as one matrix expression for matrix symbols."""
        if isinstance(xs[0], sp.MatrixBase):
            return xs[0].applyfunc(self.activation.sympy)
        from ..symbolic.latex import Activated  # symbolic imports the graph: import late

        return Activated(self.activation, xs[0])

    def latex(self, args: Sequence[str]) -> str:
        from ..symbolic.latex import activation_latex

        return rf"{activation_latex(self.activation)}\left({args[0]}\right)"

    def preimage(self) -> PreimageRule:
        """The activation's stable inverse after an image check, or why it has none."""
        act = self.activation
        if not act.is_invertible or act.numpy_inverse is None:
            return f"activation {act.name!r} has no inverse: {act.no_inverse_reason}"
        inverse = act.numpy_inverse

        def rule(y: Array) -> Preimage:
            y = np.asarray(y, dtype=np.float64)
            ok = act.in_image(y)
            if not np.all(ok):
                row, unit = (int(i) for i in np.argwhere(~ok)[0])
                raise InfeasibleTargetError(
                    f"unit {unit} = {float(y[row, unit])!r} (row {row}) is outside the image {act.image} of "
                    f"{act.name!r}", unit=unit, value=float(y[row, unit]), interval=act.image)
            return Preimage(inverse(y), None, np.zeros(y.shape[0]))

        return rule

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        """Endpoints for monotone activations; the image's minimum where a dip may lie inside.

        Every activation of the table is non-decreasing or has one dip
        (silu, gelu, leaky_relu with a negative slope): on ``[l, u]`` it is
        increasing when ``f'(l) > 0``, decreasing when ``f'(u) < 0``, and
        otherwise may reach its minimum, the lower end of its image.
        """
        act = self.activation
        lo, hi = lowers[0], uppers[0]
        low_end, high_end = (float(v) for v in act.image_bounds[:2])
        with np.errstate(invalid="ignore", over="ignore"):
            fl, fu = act.numpy(lo), act.numpy(hi)
            fl = np.where(np.isnan(fl), low_end, fl)
            fu = np.where(np.isnan(fu), high_end, fu)
            if act.is_invertible:
                return np.minimum(fl, fu), np.maximum(fl, fu)
            rising = act.numpy_derivative(lo) > 0
            falling = act.numpy_derivative(hi) < 0
        upper = np.maximum(fl, fu)
        lower = np.where(rising, fl, np.where(falling, fu, np.minimum(low_end, np.minimum(fl, fu))))
        return lower, upper

    def __repr__(self) -> str:
        return f"Elementwise({self.activation.name!r}, {self.width})"


class Softmax(Op):
    """``exp(z_i) / sum_j exp(z_j)`` over the units.

    Parameters
    ----------
    width : int

    Examples
    --------
    >>> import numpy as np
    >>> p = Softmax(2).forward([np.array([[0.0, np.log(3.0)]])])
    >>> p.round(2), Softmax(2).preimage()(p).basis.round(3).ravel()
    (array([[0.25, 0.75]]), array([0.707, 0.707]))
    """

    width: int

    def __init__(self, width: int):
        self._set(width=int(width))

    def out_width(self, widths: Sequence[int]) -> int:
        return _check_one(self, widths, self.width)

    def forward(self, xs: Sequence[Array]) -> Array:
        # Subtracting the row maximum keeps exp() from overflowing.
        e = np.exp(xs[0] - np.max(xs[0], axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        p = y[:, :, None]
        return p * (tangents[0] - np.sum(p * tangents[0], axis=1, keepdims=True))

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        return (y * (g - np.sum(g * y, axis=1, keepdims=True)),)

    def sympy(self, xs: Sequence[sp.Matrix]) -> sp.Matrix:
        e = xs[0].applyfunc(sp.exp)
        return e / sum(e)

    def latex(self, args: Sequence[str]) -> str:
        return rf"\operatorname{{softmax}}\left({args[0]}\right)"

    def preimage(self) -> PreimageRule:
        """``z = log p + c 1`` for any ``c``: the point ``log p`` and the basis ``1/sqrt(n)``."""
        basis = np.full((self.width, 1), 1.0 / np.sqrt(self.width))

        def rule(y: Array) -> Preimage:
            y = np.asarray(y, dtype=np.float64)
            bad = ~((y > 0).all(axis=1) & np.isclose(y.sum(axis=1), 1.0, rtol=0.0, atol=1e-12))
            if np.any(bad):
                row = int(np.argmax(bad))
                raise InfeasibleTargetError(
                    f"softmax outputs are positive and sum to 1; row {row} is {y[row].tolist()}")
            return Preimage(np.log(y), basis, np.zeros(y.shape[0]))

        return rule

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        """``p_i = 1 / (1 + sum_{j != i} exp(z_j - z_i))``, monotone in every difference."""
        lo, hi = lowers[0], uppers[0]
        with np.errstate(over="ignore", invalid="ignore"):
            worst = np.exp(hi[:, None, :] - lo[:, :, None])   # [n, i, j]: z_j high, z_i low
            best = np.exp(lo[:, None, :] - hi[:, :, None])
        eye = np.eye(self.width, dtype=bool)[None]
        worst = np.where(eye, 0.0, np.where(np.isnan(worst), np.inf, worst))
        best = np.where(eye, 0.0, np.where(np.isnan(best), 0.0, best))
        return 1.0 / (1.0 + worst.sum(axis=2)), 1.0 / (1.0 + best.sum(axis=2))

    def __repr__(self) -> str:
        return f"Softmax({self.width})"


class ThresholdedReLU(Op):
    """Keras's general ``ReLU`` layer: threshold ``t``, ceiling ``m``, negative slope ``a``.

    ``pos = x if x > t else 0`` (``max(x, 0)`` when ``t == 0``), clipped to
    ``[0, m]`` when ``m`` is given; ``out = pos - a max(t - x, 0)``.

    Parameters
    ----------
    width : int
    max_value : float or None
    negative_slope : float (>= 0)
    threshold : float

    Examples
    --------
    >>> import numpy as np
    >>> ThresholdedReLU(3, 1.0, 0.0, 0.5).forward([np.array([[0.2, 0.7, 4.0]])])
    array([[0. , 0.7, 1. ]])
    """

    width: int
    max_value: float | None
    negative_slope: float
    threshold: float

    def __init__(self, width: int, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0):
        self._set(width=int(width), max_value=None if max_value is None else float(max_value),
                  negative_slope=float(negative_slope), threshold=float(threshold))

    def out_width(self, widths: Sequence[int]) -> int:
        return _check_one(self, widths, self.width)

    def _pos(self, x: Array) -> Array:
        t = self.threshold
        pos = np.where(x > t, x, 0.0) if t != 0.0 else np.maximum(x, 0.0)
        return pos if self.max_value is None else np.clip(pos, 0.0, self.max_value)

    def forward(self, xs: Sequence[Array]) -> Array:
        out = self._pos(xs[0])
        if self.negative_slope != 0.0:
            out = out - self.negative_slope * np.maximum(self.threshold - xs[0], 0.0)
        return out

    def _derivative(self, x: Array) -> Array:
        t, m = self.threshold, self.max_value
        # Without a ceiling nothing clips the kept values, negative ones included (t < 0).
        inside = (x > t) & (((x > 0) & (x < m)) if m is not None else True)
        return np.where(inside, 1.0, np.where(x < t, self.negative_slope, 0.0))

    def jvp(self, xs: Sequence[Array], y: Array, tangents: Sequence[Array]) -> Array:
        return self._derivative(xs[0])[:, :, None] * tangents[0]

    def vjp(self, xs: Sequence[Array], y: Array, g: Array) -> tuple[Array, ...]:
        return (g * self._derivative(xs[0]),)

    def _scalar(self, z: sp.Expr) -> sp.Expr:
        t = sympy_number(self.threshold)
        pos = sp.Piecewise((z, z > t), (0, True)) if self.threshold != 0.0 else sp.Max(0, z)
        if self.max_value is not None:
            pos = sp.Min(sympy_number(self.max_value), sp.Max(0, pos))
        return pos - sympy_number(self.negative_slope) * sp.Max(0, t - z)

    def sympy(self, xs: Sequence[sp.Matrix]) -> sp.Matrix:
        return xs[0].applyfunc(self._scalar)

    def latex(self, args: Sequence[str]) -> str:
        return rf"\operatorname{{ReLU}}_{{t={self.threshold:g}}}\left({args[0]}\right)"

    def preimage(self) -> PreimageRule:
        return "a thresholded ReLU is flat on whole intervals, so its outputs have intervals of preimages"

    def bound(self, lowers: Sequence[Array], uppers: Sequence[Array]) -> tuple[Array, Array]:
        """Non-decreasing on each side of ``t``; a box around ``t`` also reaches the right limit at ``t``."""
        lo, hi = lowers[0], uppers[0]
        fl, fu = self.forward([lo]), self.forward([hi])
        t = self.threshold
        right_limit = t if self.max_value is None else min(max(t, 0.0), self.max_value)
        across = (lo <= t) & (hi > t)
        lower = np.where(across, np.minimum(fl, right_limit), fl)
        upper = np.where(across, np.maximum(fu, 0.0), fu)
        return lower, upper

    def __repr__(self) -> str:
        return f"ThresholdedReLU({self.width}, t={self.threshold:g})"
