"""Input sequences from outputs: ``reconstruct(model, y, steps=T)`` for a model that starts with a recurrent layer.

The unknown is the whole sequence ``x`` ``(T, n_in)`` per target; with
``T * n_in`` unknowns and ``n_out`` equations the problem is underdetermined,
so each Gauss-Newton step is the minimum-norm one (``J dx = -r``), and an
optional regulariser ``w * ||D x||^2`` (``D`` the identity: *smallness*, or
the difference between consecutive steps: *smoothness*) chooses among the
answers: the penalised problem is solved first, then plain Gauss-Newton steps
bring the residual within tolerance from there.

Jacobians come from backpropagation through time in numba
(:mod:`symrecon.backends.numba.bptt`, ``prange`` over targets) for a
recurrent layer (last state only) followed by dense layers; any other model
the graph can express (stacked or sequence-returning recurrent layers) runs
the same algorithm in NumPy with forward-mode Jacobians of the unrolled graph
(:func:`symrecon.rnn_newton.gauss_newton_numpy`, also the kernel's twin).  The result is the usual
:class:`~symrecon.Reconstruction`, re-checked by a forward pass, with ``x`` of
shape ``(N, T, n_in)``.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> rnn = sr.SimpleRNN([[1.0, 0.5]], [[0.2, 0.0], [0.0, 0.3]], [0.1, -0.1])
>>> model = sr.Sequential([rnn, sr.Dense([[1.0], [1.0]])])
>>> res = sr.reconstruct(model, [0.4], steps=3)
>>> res.x.shape, res.success, bool(abs(model(res.x[None])[0, 0] - 0.4) < 1e-9)
((3, 1), True, True)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .backends import numpy_ref
from .backends.numba.bptt import gauss_newton_batch
from .errors import CapabilityError, InvalidParameterError, ShapeError
from .models import Dense
from .recurrent import GRU, LSTM, SimpleRNN
from .result import Reconstruction
from .rnn_newton import Problem, gauss_newton_numpy, with_restarts
from .solvers._base import BlockResult
from .status import Status
from .tolerance import DEFAULT_ATOL, DEFAULT_RTOL, unit_tolerance
from .validation import as_batch, as_real_array, check_max_iter, check_tol

__all__ = ["REGULARIZERS", "pack_sequence_model", "reconstruct_recurrent", "reconstruct_sequences"]

Array = NDArray[np.float64]

#: regulariser name -> the kernels' code for ``D``
REGULARIZERS = {"smallness": 0, "smoothness": 1}

#: numba cell kind per layer class (GRU: by its reset_after mode)
_KIND: dict[type, Callable[[Any], int]] = {SimpleRNN: lambda layer: 0, LSTM: lambda layer: 1, GRU: lambda layer: 2 if layer.reset_after else 3}

DEFAULT_MAX_ITER = 200


def pack_sequence_model(model: Any) -> tuple | None:
    """The numba form ``(cell, meta, par, head, dims, codes)`` of a recurrent layer + dense head, or None.

    None when the kernel does not cover the model (a returned sequence, a
    second recurrent layer, a layer that is not Dense after the first).
    """
    first, rest = model.layers[0], model.layers[1:]
    if type(first) not in _KIND or first.return_sequences or not all(isinstance(d, Dense) for d in rest):
        return None
    kind = _KIND[type(first)](first)
    b = np.asarray(first.bias, dtype=np.float64)
    b_in, b_rec = (b[0], b[1]) if kind == 2 else (b, np.zeros_like(b))
    ract = getattr(first, "recurrent_activation", first.activation)
    # writeable C-ordered copies: one numba signature for every model
    cell = tuple(np.array(a, dtype=np.float64, order="C") for a in (first.kernel, first.recurrent_kernel, b_in, b_rec))
    meta = np.array([kind, first.n_in, first.units, first.activation.kernel_code, ract.kernel_code], dtype=np.int64)
    par = np.array([first.activation.param, ract.param], dtype=np.float64)
    head = (np.concatenate([np.ravel(d.kernel) for d in rest] or [np.zeros(0)]),
            np.concatenate([d.bias for d in rest] or [np.zeros(0)]),
            np.array([d.activation.param for d in rest], dtype=np.float64))
    dims = np.array([first.units] + [d.n_out for d in rest], dtype=np.int64)
    codes = np.array([d.activation.kernel_code for d in rest], dtype=np.int64)
    return cell, meta, par, head, dims, codes


class _Flat:
    """A sequence model seen as a map of flat rows ``(N, T*n_in)`` (what the result's re-check runs)."""

    def __init__(self, model: Any, steps: int):
        self.model, self.steps, self.layers = model, steps, model.layers
        self.n_in, self.n_out = steps * model.n_in, model.n_out

    def forward(self, x: Array) -> Array:
        return np.asarray(self.model.forward(x.reshape(x.shape[0], self.steps, -1)), dtype=np.float64).reshape(
            x.shape[0], -1)


def _sequence_fns(model: Any, steps: int) -> Problem:
    """Outputs and Jacobians of flat rows ``(N, T*n)`` through the unrolled graph (for the NumPy loop)."""
    flat, n = _Flat(model, steps), model.n_in

    def jac(x: Array, rows: NDArray[np.int64]) -> tuple[Array, Array]:
        out, j = numpy_ref.jacobian(model, x.reshape(x.shape[0], steps, n))
        return out.reshape(x.shape[0], -1), j

    return Problem(lambda x, rows: flat.forward(x), jac, n)


def _check_steps(model: Any, steps: object) -> int:
    steps = getattr(model, "timesteps", None) if steps is None else steps
    if steps is None:
        raise InvalidParameterError(
            f"The 'steps' parameter is required: model {getattr(model, 'name', '')!r} starts with a recurrent "
            "layer and does not fix its sequence length; pass steps=T (inputs are (N, T, n_in))")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or int(steps) < 1:
        raise InvalidParameterError(f"The 'steps' parameter must be a positive int. Got {steps!r} instead.")
    return int(steps)


def _check_regularizer(regularizer: object, weight: object) -> tuple[float, int]:
    if regularizer is None:
        return 0.0, 0
    if regularizer not in REGULARIZERS:
        raise InvalidParameterError(f"The 'regularizer' parameter must be one of {sorted(REGULARIZERS)} or None. "
                                    f"Got {regularizer!r} instead.")
    w = check_tol(weight, "reg_weight", allow_zero=True)
    return w, REGULARIZERS[str(regularizer)]


def _start(x0: ArrayLike | None, n_rows: int, steps: int, n_in: int) -> Array:
    if x0 is None:
        return np.zeros((n_rows, steps * n_in))
    arr = as_real_array(x0, "starting point x0")
    if arr.shape == (steps, n_in):
        arr = np.broadcast_to(arr, (n_rows, steps, n_in))
    if arr.shape != (n_rows, steps, n_in):
        raise ShapeError(f"x0 must have shape ({steps}, {n_in}) or ({n_rows}, {steps}, {n_in}); got {arr.shape}")
    return np.array(arr, dtype=np.float64).reshape(n_rows, -1)


def _solve(model: Any, packed: tuple | None, T: int, y: Array, x: Array, tolu: Array, limit: int,
           reg: tuple[float, int]) -> tuple[Array, NDArray[np.int8], NDArray[np.int64]]:
    """One Gauss-Newton run from ``x`` ``(N, T*n)``: the numba kernel where it applies, else NumPy."""
    if packed is None:
        return gauss_newton_numpy(_sequence_fns(model, T), y, x, tolu, limit, reg)
    N, n = y.shape[0], model.n_in
    backwards = model.layers[0].go_backwards  # the kernel reads steps in processing order
    xs = np.ascontiguousarray(x.reshape(N, T, n)[:, ::-1].reshape(N, -1) if backwards else x)
    zeros = np.zeros((N, model.layers[0].units))
    status, iters = gauss_newton_batch(xs, np.ascontiguousarray(y), np.ascontiguousarray(tolu), zeros, zeros,
                                       packed, np.array(reg, dtype=np.float64), limit)
    return (xs.reshape(N, T, n)[:, ::-1].reshape(N, -1) if backwards else xs), status, iters


def reconstruct_sequences(model: Any, y: ArrayLike, *, steps: int | None = None, x0: ArrayLike | None = None,
                          tol: float | None = None, rtol: float | None = None, max_iter: int | None = None,
                          regularizer: str | None = None, reg_weight: float = 1e-3,
                          restarts: int = 2, backend: str = "numba") -> Reconstruction:
    """Input sequences ``x`` ``(N, T, n_in)`` for which ``model(x) = y`` (see the module docstring).

    Parameters
    ----------
    model : Sequential
        Starts with a SimpleRNN, LSTM or GRU (zero initial state, Keras semantics).
    y : array_like, shape (n_out,) or (N, n_out)
    steps : int
        Sequence length ``T`` (required unless the model has a ``timesteps`` attribute).
    x0 : array_like, shape (T, n_in) or (N, T, n_in), optional
        Start (default zeros).
    tol, rtol, max_iter
        As for :func:`symrecon.reconstruct` (default ``max_iter`` 200).
    regularizer : {"smallness", "smoothness"}, optional
        Choose, among the many sequences giving ``y``, one near the penalised
        optimum of ``||model(x) - y||^2 + reg_weight * ||D x||^2``.
    reg_weight : float, default 1e-3
    restarts : int, default 2
        Rows that fail start again (at most this often) from a seeded random sequence.
    backend : {"numba", "numpy"}
        "numpy" forces the NumPy loop (used automatically where the kernel does not apply).

    Returns
    -------
    Reconstruction
        ``x`` ``(T, n_in)`` or ``(N, T, n_in)``; success re-checked by a forward pass.
    """
    t0 = time.perf_counter()
    T = _check_steps(model, steps)
    y_batch, single = as_batch(y, model.n_out, "target y")
    model.check_target(y_batch)
    atol = check_tol(DEFAULT_ATOL if tol is None else tol)
    rtol_value = check_tol(DEFAULT_RTOL if rtol is None else rtol, "rtol", allow_zero=True)
    limit = check_max_iter(max_iter) or DEFAULT_MAX_ITER
    reg = _check_regularizer(regularizer, reg_weight)
    if isinstance(restarts, bool) or not isinstance(restarts, (int, np.integer)) or restarts < 0:
        raise InvalidParameterError(f"The 'restarts' parameter must be an int >= 0. Got {restarts!r} instead.")
    if backend not in ("numba", "numpy"):
        raise InvalidParameterError(f"The 'backend' parameter must be 'numba' or 'numpy'. Got {backend!r} instead.")
    N, n = y_batch.shape[0], model.n_in
    x = _start(x0, N, T, n)
    tolu = unit_tolerance(model, y_batch, atol=atol, rtol=rtol_value)
    packed = pack_sequence_model(model) if backend == "numba" else None
    x, status, iters = with_restarts(lambda rows, y_r, x_r: _solve(model, packed, T, y_r, x_r, tolu[rows], limit, reg),
                                     y_batch, x, restarts)
    method = "newton" if packed is not None else "newton-numpy"
    block = BlockResult(x=x, status=status, n_iter=iters, method=method,
                        stats={"steps": T, "regularizer": "none" if reg[0] == 0 else str(regularizer),
                               "reg_weight": reg[0], "max_iter": limit})
    res = Reconstruction.build(_Flat(model, T), block, y_batch, tol=atol, rtol=rtol_value, unit_tol=tolu,
                               elapsed=time.perf_counter() - t0, single=single, owned=True)
    shape = (T, n) if single else (N, T, n)
    x_out = np.asarray(res.x).reshape(shape)
    x_out.setflags(write=False)
    return dataclasses.replace(res, x=x_out)


def reconstruct_recurrent(model: Any, y: ArrayLike, method: object, *, bounds: object, executor: str,
                          progress: object, **options: Any) -> Reconstruction:
    """What :func:`symrecon.reconstruct` does for a model starting with a recurrent layer.

    Only ``method="auto"`` or ``"newton"`` (Gauss-Newton through time); no bounds.
    """
    if method not in ("auto", "newton"):
        raise CapabilityError(f"method {method!r} does not reconstruct input sequences; a model starting with a "
                              "recurrent layer is solved by method='newton' (or 'auto')")
    if bounds is not None:
        raise CapabilityError("bounds are not supported for input sequences (method 'newton' through time)")
    del executor, progress  # one numba call over the whole batch: nothing to schedule or report
    unknown = sorted(set(options) - {"steps", "x0", "tol", "rtol", "max_iter", "regularizer", "reg_weight",
                                     "restarts", "backend"})
    if unknown:
        raise InvalidParameterError(f"unknown option(s) {unknown} for input sequences; known: steps, regularizer, "
                                    "reg_weight, restarts, backend (plus x0, tol, rtol, max_iter)")
    return reconstruct_sequences(model, y, **options)
