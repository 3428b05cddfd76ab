"""The independent forward re-check behind every answer: ``model(x)`` and the residual per row.

Success is never taken from a solver's word: the result re-runs the model on
the returned ``x`` through the NumPy reference (:mod:`symrecon.backends.numpy_ref`),
independent of the numba kernels that produced it (and, measured, faster than
the numba forward kernel on big batches).  The one exception is the closed
form: its kernel runs the same check itself, forward from the returned ``x``
with the kernels ``W`` while the rows are in cache, and hands a
:class:`Recheck` over (these functions are its twin, and agreement is a test).  Rows whose ``x`` is not finite get
NaN outputs (and an infinite residual) instead of an error.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.recheck import forward_rows, max_residual
>>> m = sr.Sequential([sr.Dense([[2.0]], [1.0])])
>>> y_pred = forward_rows(m, np.array([[1.0], [np.nan]]))
>>> max_residual(y_pred, np.array([[3.0], [3.0]])).tolist()
[0.0, inf]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["Recheck", "forward_rows", "max_residual"]


class Recheck(NamedTuple):
    """The forward re-check of a block of answers, per row, when a solver ran it itself.

    The analytic kernel re-runs the model on every answer while it is in
    cache (:mod:`symrecon.backends.numba.inverse`); the result then takes
    these arrays instead of a second pass over the batch.

    ``y_pred`` (N, n_out): ``model(x)`` (NaN where ``x`` is not finite);
    ``residual`` (N,): ``max_j |y_pred_j - y_j|`` (inf where not finite);
    ``within`` (N,) bool: every unit within the rule of :mod:`symrecon.tolerance`.
    """

    y_pred: NDArray[np.float64]
    residual: NDArray[np.float64]
    within: NDArray[np.bool_]


def forward_rows(model: Any, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``model(x)`` for ``x`` (N, n_in) by the NumPy reference; NaN rows where ``x`` is not finite."""
    finite = np.all(np.isfinite(x), axis=1)
    with np.errstate(all="ignore"):
        if np.all(finite):
            return np.asarray(model.forward(x), dtype=np.float64)
        out = np.full((x.shape[0], model.n_out), np.nan)
        if np.any(finite):
            out[finite] = model.forward(x[finite])
    return out


def max_residual(y_pred: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """``max_i |y_pred_i - y_i|`` per row; ``inf`` where it is not finite."""
    with np.errstate(invalid="ignore"):
        r = np.max(np.abs(y_pred - y), axis=1)
    return np.where(np.isfinite(r), r, np.inf)
