"""The independent forward re-check behind every answer: ``model(x)`` and the residual per row.

Success is never taken from a solver's word: the result re-runs the model on
the returned ``x``.  Rows whose ``x`` is not finite get NaN outputs (and an
infinite residual) instead of an error; big batches use the parallel numba
forward kernel, which is tested against the NumPy reference.

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

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["forward_rows", "max_residual", "PARALLEL_ROWS"]

#: from this many rows on, the re-check runs on the parallel numba kernel
PARALLEL_ROWS = 4096


def forward_rows(model: Any, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``model(x)`` for ``x`` (N, n_in); NaN rows where ``x`` is not finite."""
    finite = np.all(np.isfinite(x), axis=1)
    all_finite = bool(np.all(finite))
    with np.errstate(all="ignore"):
        if finite.sum() >= PARALLEL_ROWS:
            from .backends.numba.forward import forward_batch
            from .backends.numba.pack import pack

            xs = np.ascontiguousarray(x if all_finite else x[finite], dtype=np.float64)
            good = forward_batch(pack(model), xs)
        elif all_finite:
            return np.asarray(model.forward(x), dtype=np.float64)
        else:
            good = model.forward(x[finite]) if np.any(finite) else np.empty((0, model.n_out))
    if all_finite:
        return good
    out = np.full((x.shape[0], model.n_out), np.nan)
    out[finite] = good
    return out


def max_residual(y_pred: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """``max_i |y_pred_i - y_i|`` per row; ``inf`` where it is not finite."""
    with np.errstate(invalid="ignore"):
        r = np.max(np.abs(y_pred - y), axis=1)
    return np.where(np.isfinite(r), r, np.inf)
