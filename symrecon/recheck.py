"""The independent forward re-check behind every answer: ``model(x)`` and the residual per row.

Success is never taken from a solver's word: the result re-runs the model on
the returned ``x`` through the NumPy reference (:mod:`symrecon.backends.numpy_ref`),
independent of the numba kernels that produced it (and, measured, faster than
the numba forward kernel on big batches).  The one exception is the closed
form: its kernel runs the same check itself, forward from the returned ``x``
with the kernels ``W`` while the rows are in cache, and hands a
:class:`Recheck` over (these functions are its twin, and agreement is a
test); it keeps the residual and the verdict, and the result computes
``model(x)`` only when it is read (:class:`DeferredOutput`).  Rows whose ``x`` is not finite get
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

import threading
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["Recheck", "DeferredOutput", "forward_rows", "max_residual"]


class Recheck(NamedTuple):
    """The forward re-check of a block of answers, per row, when a solver ran it itself.

    The analytic kernel re-runs the model on every answer while it is in
    cache (:mod:`symrecon.backends.numba.inverse`); the result then takes
    these arrays instead of a second pass over the batch.

    ``y_pred`` (N, n_out): ``model(x)`` (NaN where ``x`` is not finite), or
    None where the kernel judged the rows without keeping their outputs (the
    result then computes them when first read: :class:`DeferredOutput`);
    ``residual`` (N,): ``max_j |y_pred_j - y_j|`` (inf where not finite);
    ``within`` (N,) bool: every unit within the rule of :mod:`symrecon.tolerance`.
    """

    y_pred: NDArray[np.float64] | None
    residual: NDArray[np.float64]
    within: NDArray[np.bool_]


class DeferredOutput:
    """``model(x)`` of a result, computed when first read (then kept).

    The closed form's kernel judges every row by its own forward pass
    without writing the outputs: for a million targets that saves writing
    (and holding) one more array of the targets' size, which most callers
    never read.  The value, by :func:`forward_rows`, agrees with the
    kernel's to rounding.  Like the packed-model cache
    (:func:`symrecon.backends.numba.pack.pack`), it takes the model as
    unchanged after the solve (its weight arrays are read-only).

    >>> import numpy as np, symrecon as sr
    >>> later = DeferredOutput(sr.Sequential([sr.Dense([[2.0]], [1.0])]), np.array([[1.0]]), single=True)
    >>> later.value().tolist()
    [3.0]
    """

    __slots__ = ("_model", "_x", "_single", "_value", "_lock")

    def __init__(self, model: Any, x: NDArray[np.float64], single: bool = False) -> None:
        self._model, self._x, self._single = model, x, single
        self._value: NDArray[np.float64] | None = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        # a lock does not pickle: a copy starts with its own (and with the value, if computed)
        return _deferred_output, (self._model, self._x, self._single, self._value)

    def value(self) -> NDArray[np.float64]:
        """The outputs, read-only: ``(n_out,)`` for a single target, else ``(N, n_out)``."""
        with self._lock:  # two threads reading at once compute it once
            if self._value is None:
                out = forward_rows(self._model, self._x)
                out = out[0] if self._single else out
                out.setflags(write=False)
                self._value = out
            return self._value


def _deferred_output(model: Any, x: NDArray[np.float64], single: bool,
                     value: NDArray[np.float64] | None) -> DeferredOutput:
    """A :class:`DeferredOutput` rebuilt from a pickle."""
    out = DeferredOutput(model, x, single)
    out._value = value
    return out


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
