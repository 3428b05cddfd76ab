"""Softmax classifiers: probability targets, their log-ratios, and the reduced model the solvers see.

A classifier ends in a softmax: ``p = softmax(z)`` with logits ``z = body(x)``.
Softmax forgets one direction (``softmax(z + c 1) = softmax(z)``), so its
preimage of a probability vector ``p`` is the line ``z = log p + c 1``.  Every
``z`` on that line has the same *centred* logits ``z - mean(z) = log p -
mean(log p)`` (the centred log-ratios of ``p``); in the orthonormal basis
``Q`` (``n x (n-1)``, ``Q^T 1 = 0``) of the centred directions they are the
``n - 1`` coordinates ``r = log(p) Q``, and::

    softmax(body(x)) = p   <=>   body(x) Q = log(p) Q

exactly.  So a classifier is solved as the *reduced* model ``x -> body(x) Q``
(a chain of Dense layers with ``n - 1`` outputs; ``Q`` is folded into the last
Dense layer when it is linear, the way Keras writes ``Dense(...,
activation="softmax")``) with target ``r``: the closed form, the iterative
solvers and the nearest-member search all work on logits, never on
saturated probabilities, and the free direction is gone.

What counts as a probability vector, and what float64 can reach
-----------------------------------------------------------------
Every entry must be finite and ``> 0``, and the entries must sum to 1 within
``tol + 4 n eps`` (``tol``: the absolute tolerance of
:func:`~symrecon.reconstruct`, default ``1e-9``; a vector from float32 Keras
output sums to 1 only within about ``1e-7``: divide it by its sum first).
An entry of exactly 0 is unreachable (``exp`` is never 0), and so is an entry
of exactly 1 (the others would all be 0).  The smallest positive float64
entry, about ``4.9e-324 = exp(-744.4)``, is reachable: the logits it needs are
finite (``log p``), and the forward pass produces such entries as subnormal
numbers (fewer significant digits below ``2.2e-308``); entries smaller than
that underflow to 0.  The largest entry below 1 is ``1 - 2**-53``.

Success is judged on the probabilities by the rule of
:mod:`symrecon.tolerance`, with the image ``(0, 1)`` of every entry: entry
``j`` is reached when ``|p_pred_j - p_j| <= (tol + rtol p_j) min(1, p_j,
1 - p_j) + 4 eps p_j``, so a probability of ``1e-300`` must be matched to
its own scale.  The solvers work on ``r`` with the tolerance
``tol / (2 sqrt(n))``, which implies that rule to first order (a logit
error ``e`` moves ``p_j`` by ``p_j (e_j - sum_i p_i e_i)``).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])
>>> res = sr.reconstruct(m, [0.2, 0.3, 0.5])
>>> res.success, m(res.x).round(12).tolist()
(True, [0.2, 0.3, 0.5])
>>> float(res.x.sum()).__round__(12)   # the centred logits: the minimum-norm member
0.0
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InfeasibleTargetError, ShapeError, UnsupportedLayerError
from .layers import Softmax
from .models import Dense, Sequential
from .tolerance import DEFAULT_ATOL, DEFAULT_RTOL
from .validation import as_batch, check_tol

__all__ = ["SoftmaxReduction", "centred_logits", "check_probabilities", "is_classifier", "log_ratio_basis",
           "probability_tolerance", "reduction"]

_EPS = float(np.finfo(np.float64).eps)


def is_classifier(model: object) -> bool:
    """True for a :class:`~symrecon.Sequential` whose last layer is a :class:`~symrecon.Softmax`.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> sr.softmax.is_classifier(sr.Sequential([sr.Dense(np.eye(2)), sr.Softmax(2)]))
    True
    """
    return isinstance(model, Sequential) and isinstance(model.layers[-1], Softmax)


def log_ratio_basis(n: int) -> NDArray[np.float64]:
    """Orthonormal basis ``Q`` (n, n-1) of the centred directions (``Q^T 1 = 0``; Helmert contrasts).

    Column ``k`` compares the first ``k + 1`` classes with class ``k + 1``.

    Examples
    --------
    >>> from symrecon.softmax import log_ratio_basis
    >>> q = log_ratio_basis(3)
    >>> q.sum(axis=0).round(12).tolist(), (q.T @ q).round(12).tolist()
    ([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]])
    """
    q = np.zeros((n, n - 1))
    for k in range(1, n):
        q[:k, k - 1] = 1.0
        q[k, k - 1] = -float(k)
        q[:, k - 1] /= math.sqrt(k * (k + 1))
    q.setflags(write=False)
    return q


def centred_logits(p: ArrayLike) -> NDArray[np.float64]:
    """``log p - mean(log p)`` per row: the logits with the free constant removed.

    Parameters
    ----------
    p : array_like, shape (n,) or (N, n)
        Probability vectors (not checked here; see :func:`check_probabilities`).

    Returns
    -------
    ndarray, same shape

    Examples
    --------
    >>> from symrecon.softmax import centred_logits
    >>> centred_logits([0.25, 0.25, 0.5]).round(4).tolist()
    [-0.231, -0.231, 0.4621]
    """
    logp = np.log(np.asarray(p, dtype=np.float64))
    return logp - logp.mean(axis=-1, keepdims=True)


def _entry_error(batch: NDArray[np.float64], row: int, unit: int, why: str) -> InfeasibleTargetError:
    where = f"target {row}, " if batch.shape[0] > 1 else ""
    value = float(batch[row, unit])
    return InfeasibleTargetError(f"{where}probability entry {unit} = {value!r} {why}",
                                 layer="softmax", unit=unit, value=value)


def check_probabilities(p: ArrayLike, n: int, tol: float = DEFAULT_ATOL) -> tuple[NDArray[np.float64], bool]:
    """Validate probability vectors for a softmax of width ``n``.

    Parameters
    ----------
    p : array_like, shape (n,) or (N, n)
    n : int
        Number of classes.
    tol : float
        Absolute tolerance on ``sum(p) = 1`` (plus ``4 n eps``).

    Returns
    -------
    batch : ndarray, shape (N, n), read-only
    single : bool
        ``p`` was one vector.

    Raises
    ------
    ShapeError
        Wrong length.
    InfeasibleTargetError
        An entry ``<= 0`` or ``>= 1`` (index and value named), or a sum other
        than 1; see the module docstring for what float64 can reach.

    Examples
    --------
    >>> import symrecon as sr
    >>> from symrecon.softmax import check_probabilities
    >>> try:
    ...     check_probabilities([0.5, 0.5, 0.0], 3)
    ... except sr.InfeasibleTargetError as e:
    ...     print(e)
    probability entry 2 = 0.0 is 0: softmax outputs are exp(z_j)/sum(exp(z)) > 0 for every finite input \
(the smallest positive float64, about 4.9e-324, is reachable)
    """
    batch, single = as_batch(p, n, "probability target p")
    if n < 2:
        raise ShapeError(f"a softmax over {n} unit has the constant output 1: nothing to invert; expected at "
                         f"least 2 classes")
    checks = (
        (batch < 0, "is negative: probabilities are >= 0, and softmax outputs are > 0"),
        (batch == 0, "is 0: softmax outputs are exp(z_j)/sum(exp(z)) > 0 for every finite input (the smallest "
                     "positive float64, about 4.9e-324, is reachable)"),
        (batch >= 1, "is >= 1: a softmax output of 1 needs every other entry to be exactly 0, which no finite "
                     "input gives (the largest entry below 1 is 1 - 2**-53)"),
    )
    for bad, why in checks:
        if np.any(bad):
            row, unit = (int(i) for i in np.argwhere(bad)[0])
            raise _entry_error(batch, row, unit, why)
    sums = batch.sum(axis=1)
    off = np.abs(sums - 1.0) > tol + 4.0 * n * _EPS
    if np.any(off):
        row = int(np.argmax(off))
        where = f"target {row}: " if batch.shape[0] > 1 else ""
        raise InfeasibleTargetError(
            f"{where}probabilities sum to {float(sums[row])!r}, not 1 (within {tol:g}): softmax outputs always "
            f"sum to 1; divide the vector by its sum if it is a rounded softmax output", layer="softmax",
            value=float(sums[row]))
    return batch, single


def probability_tolerance(p: NDArray[np.float64], *, atol: float, rtol: float) -> NDArray[np.float64]:
    """Allowed ``|p_pred_j - p_j|`` (N, n): :mod:`symrecon.tolerance`'s rule with the image ``(0, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.softmax import probability_tolerance
    >>> probability_tolerance(np.array([[0.99, 0.01]]), atol=1e-9, rtol=0.0).round(13).tolist()
    [[1e-11, 1e-11]]
    """
    distance = np.minimum(np.minimum(p, 1.0 - p), 1.0)
    return (atol + rtol * p) * distance + 4.0 * _EPS * p


@dataclass(frozen=True, eq=False)
class SoftmaxReduction:
    """A classifier and the Dense chain ``x -> body(x) Q`` with the same preimages.

    Attributes
    ----------
    model : Sequential
        The classifier (last layer :class:`~symrecon.Softmax`).
    reduced : Sequential
        Dense layers only; ``n_out = width - 1``.
    basis : ndarray, shape (width, width - 1)
        ``Q`` of :func:`log_ratio_basis`.
    width : int
        Number of classes.
    """

    model: Sequential
    reduced: Sequential
    basis: NDArray[np.float64]
    width: int

    def coordinates(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """``r = log(p) Q`` (N, width - 1), the reduced model's target for probabilities ``p`` (N, width)."""
        return np.log(p) @ self.basis

    def inner_tol(self, tol: float) -> float:
        """The tolerance on ``r`` that implies ``tol`` on the probabilities (module docstring)."""
        return tol / (2.0 * math.sqrt(self.width))


_REDUCTIONS: "weakref.WeakKeyDictionary[Sequential, SoftmaxReduction]" = weakref.WeakKeyDictionary()


def _build(model: Sequential) -> SoftmaxReduction:
    soft = model.layers[-1]
    body: list[Dense] = []
    for layer in model.layers[:-1]:
        if isinstance(layer, Dense):
            body.append(layer)
        else:
            raise UnsupportedLayerError(
                f"a classifier is reconstructed through Dense layers below its softmax; layer {layer.name!r} is a "
                f"{type(layer).__name__}")
    n = soft.n_out
    if n < 2:
        raise ShapeError(f"softmax layer {soft.name!r} has {n} unit: its output is the constant 1, nothing to invert")
    q = log_ratio_basis(n)
    last = body[-1] if body else None
    if last is not None and last.activation.name == "linear":
        # Fold Q into the logit layer: (a W + b) Q = a (W Q) + b Q.
        folded = Dense(last.kernel @ q, last.bias @ q, "linear", name=last.name)
        layers = [*body[:-1], folded]
    else:
        layers = [*body, Dense(q, np.zeros(n - 1), "linear", name=f"{soft.name}_log_ratios")]
    return SoftmaxReduction(model=model, reduced=Sequential(layers, name=f"{model.name}_logits"), basis=q, width=n)


def reduction(model: Sequential) -> SoftmaxReduction:
    """The :class:`SoftmaxReduction` of a classifier (built once per model object).

    Raises
    ------
    UnsupportedLayerError
        A layer below the softmax that is not Dense.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense(np.ones((4, 3)), activation="linear"), sr.Softmax(3)])
    >>> sr.softmax.reduction(m).reduced
    Sequential([Dense(4->2, activation='linear', name='dense')], name='sequential_logits')
    """
    red = _REDUCTIONS.get(model)
    if red is None:
        red = _REDUCTIONS[model] = _build(model)
    return red


def _probability_result(red: SoftmaxReduction, inner: Any, p: NDArray[np.float64], single: bool,
                        tol: float, rtol: float) -> Any:
    """The reduced model's result re-judged on the probabilities by the classifier's forward pass."""
    from .result import Reconstruction
    from .solvers import BlockResult

    x = np.atleast_2d(inner.x)
    block = BlockResult(x=x, status=np.atleast_1d(np.asarray(inner.status, dtype=np.int8)),
                        n_iter=np.atleast_1d(inner.n_iter), method=np.atleast_1d(np.asarray(inner.method, dtype=object)),
                        history=inner.history,
                        null_basis=None if inner.affine_set is None else inner.affine_set.null_basis,
                        stats={**inner.stats, "logit_residual": inner.residual})
    return Reconstruction.build(red.model, block, p, tol=tol, rtol=rtol, elapsed=inner.elapsed, single=single,
                                unit_tol=probability_tolerance(p, atol=tol, rtol=rtol))


def reconstruct_classifier(model: Any, p: ArrayLike, method: Any = "auto", *, tol: float | None = None,
                           rtol: float | None = None, **kwargs: Any) -> Any:
    """:func:`~symrecon.reconstruct` for a classifier (it calls this; see the module docstring).

    Validates ``p``, solves the reduced model for ``r = log(p) Q`` with the
    tightened tolerance, and returns the result on the probabilities.
    """
    from .reconstruct import reconstruct

    red = reduction(model)
    atol = check_tol(DEFAULT_ATOL if tol is None else tol)
    rel = check_tol(DEFAULT_RTOL if rtol is None else rtol, "rtol", allow_zero=True)
    batch, single = check_probabilities(p, red.width, atol)
    r = red.coordinates(batch)
    inner = reconstruct(red.reduced, r[0] if single else r, method, tol=red.inner_tol(atol), rtol=rel, **kwargs)
    return _probability_result(red, inner, batch, single, atol, rel)


def classifier_problem(model: Any, p: ArrayLike, *, tol: float | None = None, **kwargs: Any) -> Any:
    """The reduced :class:`~symrecon.solvers.Problem` of a classifier (what :func:`~symrecon.reconstruct.make_problem` returns for one)."""
    from .reconstruct import make_problem

    red = reduction(model)
    atol = check_tol(DEFAULT_ATOL if tol is None else tol)
    batch, single = check_probabilities(p, red.width, atol)
    r = red.coordinates(batch)
    return make_problem(red.reduced, r[0] if single else r, tol=red.inner_tol(atol), **kwargs)
