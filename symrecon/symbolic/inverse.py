"""The analytic inverse ``x(y)`` of a chain of Dense layers, where one exists.

One rule per row of DESIGN.md's table "When is there a closed form?", applied
layer by layer from the output back to the input (never ``sympy.solve`` on
the whole network, which can run for days):

========================================  =====================================
layer (kernel ``W``: ``n_in x n_out``)     preimage of a point
========================================  =====================================
square, full rank, invertible ``f``        ``(f^{-1}(a) - b) W^{-1}``
first layer, ``n_out < n_in``, full        an affine set: min-norm point
row rank                                   ``(f^{-1}(a) - b) W^+`` + null space
``n_out > n_in`` (tall), full column rank  ``(f^{-1}(a) - b) W^+`` if consistent
anything else                              :class:`NotInvertibleError`
========================================  =====================================

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.5]], [-1.0], "sigmoid")])
>>> inv = sr.analytic_inverse(m)
>>> x = inv(np.array([0.5]))
>>> float(x[0])
2.0
>>> inv.expr
Matrix([[2.0 - 2.0*log(-1 + 1/y_0)]])
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike, NDArray

from .. import activations as _act
from ..errors import InvalidValueError, NotInvertibleError
from ..models import Dense, Sequential, as_batch
from ..sets import AffineSet
from ..softmax import is_classifier, reduction
from ..status import Status
from .graph import substitute
from ..backends.numba.pack import pack, rank_tolerance
from .numeric import (
    NUMBA_MIN_ROWS,
    InversePlan,
    LayerPlan,
    back_views,
    evaluate_rows,
    lambdify_matrix,
    row_error,
)

__all__ = ["DEFAULT_CONSISTENCY_RTOL", "NUMBA_MIN_ROWS", "AnalyticInverse", "analytic_inverse"]

#: a tall layer accepts a target when the least-squares residual is within this (relative)
DEFAULT_CONSISTENCY_RTOL = 1e-8


def _svd_rank(kernel: NDArray[np.float64]) -> tuple[int, NDArray, NDArray, NDArray]:
    """Numerical rank with NumPy's relative tolerance ``max(shape) * eps * s_max``."""
    u, s, vt = np.linalg.svd(kernel, full_matrices=True)
    tol = rank_tolerance(s, kernel.shape)
    return int(np.sum(s > tol)), u, s, vt


def _not_invertible(layer, index: int, reason: str, why: str) -> NotInvertibleError:
    return NotInvertibleError(
        f"no closed-form inverse: layer {layer.name!r} (layer {index}, {type(layer).__name__}) {why}",
        layer=layer.name, reason=reason,
    )


def _plan_full_column_rank(layer: Dense, index: int, n_layers: int) -> tuple[str, NDArray | None]:
    """Square or tall: the kernel must have rank ``n_in`` (the packed back-matrix is ``W^{-1}`` or the least-squares ``W^+``)."""
    kind = "square" if layer.n_in == layer.n_out else "tall"
    rank, u, s, vt = _svd_rank(layer.kernel)
    if rank < layer.n_in:
        shape = (f"has a square {layer.n_in}x{layer.n_out} kernel of numerical rank {rank} (singular values "
                 f"{np.array2string(s, precision=3)})" if kind == "square" else
                 f"maps {layer.n_in} inputs to {layer.n_out} outputs with a kernel of rank {rank} < {layer.n_in}")
        raise _not_invertible(layer, index, "rank", f"{shape}: many inputs give the same output")
    return kind, None


def _plan_wide(layer: Dense, index: int, n_layers: int) -> tuple[str, NDArray | None]:
    if index != 0:
        raise _not_invertible(layer, index, "shape",
                              f"maps {layer.n_in} inputs to {layer.n_out} outputs: its preimage of a point "
                              f"is an affine set, and only the first layer may be wide for a closed form "
                              f"(the layers before it would have to be inverted on a whole set)")
    rank, u, _, _ = _svd_rank(layer.kernel)
    if rank < layer.n_out:
        raise _not_invertible(layer, index, "rank",
                              f"maps {layer.n_in} inputs to {layer.n_out} outputs with a kernel of rank "
                              f"{rank} < {layer.n_out}: some outputs are unreachable and the rest have "
                              f"larger preimages")
    # x W = u: min-norm solution u W^+; directions v with v W = 0 are the
    # left-singular vectors of W beyond its rank (orthonormal by construction).
    null = np.ascontiguousarray(u[:, rank:])
    return "wide", null


#: kernel shape -> rule (one per row of the closed-form table)
_SHAPE_RULES: dict[str, Callable[[Dense, int, int], tuple[str, NDArray | None]]] = {
    "square": _plan_full_column_rank,
    "tall": _plan_full_column_rank,
    "wide": _plan_wide,
}


def _shape_kind(layer: Dense) -> str:
    if layer.n_in == layer.n_out:
        return "square"
    return "tall" if layer.n_out > layer.n_in else "wide"


def _frozen(a: NDArray) -> NDArray[np.float64]:
    a = np.ascontiguousarray(a, dtype=np.float64).copy()
    a.setflags(write=False)
    return a


class AnalyticInverse:
    """The closed-form inverse ``x(y)`` of a model; build it with :func:`analytic_inverse`.

    Calling it evaluates the inverse numerically (vectorised; a fused numba
    kernel for large batches).  The SymPy form, its derivation and, for a wide
    first layer, the affine set of all solutions are available as attributes.

    Attributes
    ----------
    model : Sequential
    plan : InversePlan
        Per-layer precomputed matrices (``W^{-1}`` or ``W^+``).
    n_in, n_out : int
    is_affine : bool
        True when the first layer is wide: every target has a whole affine set
        of inputs, and ``inv(y)`` returns its minimum-norm member.
    null_basis : ndarray, shape (n_in, k)
        Orthonormal basis of the input directions that do not change the
        output (``k = 0`` unless :attr:`is_affine`).
    symbols : tuple of sympy.Symbol
        ``y_0 .. y_{m-1}``, the variables of :attr:`expr`.
    expr : sympy.Matrix, shape (n_in, 1)
        ``x_i(y)`` with the trained numbers substituted (built on first use).
    derivation : Derivation
        The algebra, first in symbols, then with the numbers (built on first use).

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[1.0, 1.0]], [0.0, 0.0], "tanh")])  # 1 -> 2: tall
    >>> inv = sr.analytic_inverse(m)
    >>> inv(m(np.array([0.3]))).round(12)
    array([0.3])
    """

    def __init__(self, model: Sequential, plan: InversePlan, null_basis: NDArray[np.float64]):
        self.model = model
        self.plan = plan
        self._null_basis = _frozen(null_basis)

    # -- shape and structure --------------------------------------------
    @property
    def n_in(self) -> int:
        return self.plan.n_in

    @property
    def n_out(self) -> int:
        return self.plan.n_out

    @property
    def is_affine(self) -> bool:
        return self._null_basis.shape[1] > 0

    @property
    def null_basis(self) -> NDArray[np.float64]:
        return self._null_basis

    # -- numeric ----------------------------------------------------------
    def __call__(self, y: ArrayLike, backend: str = "auto") -> NDArray[np.float64]:
        """Evaluate ``x(y)``.

        Parameters
        ----------
        y : array_like, shape (n_out,) or (N, n_out)
            Target output(s); not modified.
        backend : {"auto", "numba", "numpy"}
            ``"numba"``: the fused parallel kernel; ``"numpy"``: the NumPy
            twin; ``"auto"``: numba for batches of at least
            :data:`NUMBA_MIN_ROWS` targets.

        Returns
        -------
        ndarray, shape (n_in,) or (N, n_in)
            The input (the minimum-norm one when :attr:`is_affine`).

        Raises
        ------
        ShapeError, InvalidValueError
            Wrong shape; NaN or inf in ``y``.
        InfeasibleTargetError
            No input produces the target: a value outside an activation's
            image (output or intermediate layer; ``.layer``, ``.unit``,
            ``.value``, ``.interval`` say where), an inconsistent tall layer,
            or an input beyond float64's range.
        """
        batch, single = self._target_batch(y)
        x = self._evaluate(batch, backend, y)
        return x[0] if single else x

    def _target_batch(self, y: ArrayLike) -> tuple[NDArray[np.float64], bool]:
        """``y`` as a batch, read in place (not copied) and not scanned for NaN/inf beforehand.

        The kernel (and its twin) fail NaN and inf in the output layer's image
        check; only then is ``y`` scanned, by :meth:`_evaluate`, for the error.
        """
        return as_batch(y, self.n_out, "target y", check_finite=False, copy=False)

    def _evaluate(self, batch: NDArray[np.float64], backend: str, y: ArrayLike | None = None) -> NDArray[np.float64]:
        x, status = evaluate_rows(self.plan, batch, backend)
        bad = np.flatnonzero(status != Status.EXACT)
        if bad.size:
            # the scan :meth:`_target_batch` skipped, on ``y`` as the caller passed it (the same error message)
            as_batch(batch if y is None else y, self.n_out, "target y")
            err = row_error(self.plan, batch, int(bad[0]))
            if err is not None:
                raise err
        return x

    def evaluate_rows(self, y: ArrayLike, backend: str = "auto") -> tuple[NDArray[np.float64], NDArray[np.int8]]:
        """Evaluate ``x(y)`` row by row, with a :class:`~symrecon.status.Status` per row; never raises for a bad row.

        Parameters
        ----------
        y : array_like, shape (n_out,) or (N, n_out)
        backend : {"auto", "numba", "numpy"}

        Returns
        -------
        x : ndarray, shape (N, n_in)
            NaN in the rows that are not ``EXACT`` (always 2-D).
        status : ndarray of int8, shape (N,)
            ``Status.EXACT`` or ``Status.INFEASIBLE``; :meth:`row_error` says why.
        """
        batch, _ = as_batch(y, self.n_out, "target y")
        return evaluate_rows(self.plan, batch, backend)

    def row_error(self, y: ArrayLike, row: int):
        """Why row ``row`` of ``y`` has no preimage (an unraised :class:`InfeasibleTargetError`), or None."""
        batch, _ = as_batch(y, self.n_out, "target y")
        return row_error(self.plan, batch, row)

    def affine_set(self, y: ArrayLike) -> AffineSet:
        """All inputs giving ``y``: ``{point + null_basis @ t}``.

        Parameters
        ----------
        y : array_like, shape (n_out,) or (N, n_out)

        Returns
        -------
        AffineSet
            ``point`` has shape ``(n_in,)`` or ``(N, n_in)`` (minimum norm);
            ``null_basis`` is ``(n_in, k)`` (``k = 0``: a single point).
        """
        return AffineSet(point=self(y), null_basis=self._null_basis)

    # -- symbolic ---------------------------------------------------------
    @cached_property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(sp.Symbol(f"y_{j}", real=True) for j in range(self.n_out))

    @cached_property
    def expr(self) -> sp.Matrix:
        """``x(y)`` as an ``(n_in, 1)`` SymPy matrix, composed layer by layer."""
        a = sp.Matrix([list(self.symbols)])
        for lp in reversed(self.plan.layers):
            inv = lp.activation.inverse_expr
            assert inv is not None  # plans hold invertible activations only
            # Piecewise inverses (leaky ReLU, ELU, SELU) are plugged in unevaluated:
            # evaluating their conditions on nested sub-expressions can take forever.
            apply = substitute if inv.has(sp.Piecewise) else (lambda e, rule: e.xreplace(rule))
            z = a.applyfunc(lambda v, inv=inv, apply=apply: apply(inv, {_act.Y: v}))
            u = z - sp.Matrix([[sp.Float(float(v)) for v in lp.bias]])
            a = u * sp.Matrix(lp.back.shape[0], lp.back.shape[1], [sp.Float(float(v)) for v in lp.back.ravel()])
        return a.T

    def sympy_function(self, modules: str = "numpy") -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
        """:attr:`expr` as a vectorised function ``(N, n_out) -> (N, n_in)`` (``lambdify``, ``cse=True``).

        For checking the symbolic form against the numeric evaluator; the
        numeric paths never go through SymPy.
        """
        return lambdify_matrix(self.symbols, self.expr, modules=modules)

    def evaluate_expr(self, y: ArrayLike, modules: str = "numpy") -> NDArray[np.float64]:
        """Evaluate :attr:`expr` at numbers.

        Parameters
        ----------
        y : array_like, shape (n_out,) or (N, n_out)
        modules : {"numpy", "mpmath"}

        Returns
        -------
        ndarray, shape (n_in,) or (N, n_in)
        """
        batch, single = as_batch(y, self.n_out, "target y")
        if modules not in self._lambdified:
            self._lambdified[modules] = self.sympy_function(modules)
        x = self._lambdified[modules](batch)
        return x[0] if single else x

    @cached_property
    def _lambdified(self) -> dict:
        return {}

    @cached_property
    def derivation(self):
        """The :class:`~symrecon.symbolic.Derivation` of this inverse."""
        from .derivation import derive

        return derive(self)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{lp.name}:{lp.kind}/{lp.activation.name}" for lp in self.plan.layers)
        extra = f", affine dimension {self._null_basis.shape[1]}" if self.is_affine else ""
        return f"AnalyticInverse({self.n_out} -> {self.n_in} [{kinds}]{extra})"


def analytic_inverse(model, *, consistency_rtol: float = DEFAULT_CONSISTENCY_RTOL) -> AnalyticInverse:
    """Build the closed-form inverse of a model, layer by layer.

    Parameters
    ----------
    model : Sequential or Dense
        Dense layers (Keras layout ``a = f(x @ W + b)``).
    consistency_rtol : float, optional
        Relative tolerance of a tall layer's consistency check.

    Returns
    -------
    AnalyticInverse

    Raises
    ------
    NotInvertibleError
        ``.layer`` names the blocking layer and ``.reason`` is one of
        ``"layer"`` (not a Dense layer), ``"activation"`` (not strictly
        monotone: relu, gelu, ...), ``"shape"`` (a wide layer after the
        first) or ``"rank"`` (a rank-deficient kernel).

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense(np.eye(2), activation="relu")])
    >>> try:
    ...     sr.analytic_inverse(m)
    ... except sr.NotInvertibleError as e:
    ...     print(e.reason)
    activation
    """
    if isinstance(model, Dense):
        model = Sequential([model])
    if is_classifier(model):  # softmax: the inverse of the reduced model at r = log(p) Q (symbolic.classifier)
        from .classifier import ClassifierInverse

        red = reduction(model)
        return ClassifierInverse(red, analytic_inverse(red.reduced, consistency_rtol=consistency_rtol))
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a symrecon Sequential or Dense; got {type(model).__name__}")
    if not (isinstance(consistency_rtol, (int, float)) and 0 < consistency_rtol < 1):
        raise InvalidValueError(f"consistency_rtol must be a number in (0, 1); got {consistency_rtol!r}")
    n = len(model.layers)
    null_basis = np.zeros((model.n_in, 0))
    kinds: dict[int, tuple[Dense, str]] = {}
    for index in range(n - 1, -1, -1):
        layer = model.layers[index]
        if not isinstance(layer, Dense):
            raise _not_invertible(layer, index, "layer",
                                  "is not a Dense layer; only chains of Dense layers have a closed form here")
        act = layer.activation
        if not act.is_invertible:
            raise _not_invertible(layer, index, "activation",
                                  f"uses the {act.name!r} activation, which has no inverse: {act.no_inverse_reason}")
        kind, null = _SHAPE_RULES[_shape_kind(layer)](layer, index, n)
        if null is not None:
            null_basis = null
        kinds[index] = (layer, kind)
    packed = pack(model, inverses=True)  # the model's one packed form, shared with the iterative kernels
    backs = back_views(packed)
    plans = [LayerPlan(index=i, name=dense.name, activation=dense.activation, kind=kind, kernel=dense.kernel,
                       bias=dense.bias, back=backs[i]) for i, (dense, kind) in sorted(kinds.items())]
    plan = InversePlan(layers=tuple(plans), consistency_rtol=float(consistency_rtol), packed=packed)
    return AnalyticInverse(model, plan, null_basis)
