"""``reconstruct``: validate once, build a :class:`Problem`, run the solver's blocks, build one result.

Import rule (this is the only module that sees the whole picture):
``models`` imports only ``activations`` and ``errors``; ``symbolic`` imports
``models``; ``solvers`` import ``models``, ``symbolic.inverse`` and ``status``;
``compare``, ``report`` and ``plot`` import ``result`` and never a solver
module directly.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import ArrayLike

from .errors import (
    InvalidParameterError,
    InvalidValueError,
    ShapeError,
    UnsupportedLayerError,
)
from .distributed import is_dask_array
from .executor import EXECUTORS, run_blocks
from .models import Dense, Sequential
from .result import Reconstruction
from .solvers import SOLVERS, AbstractSolver, Problem, get_solver, methods_help
from .solvers._common import start_points
from .tolerance import DEFAULT_ATOL, DEFAULT_RTOL
from .validation import as_batch, as_real_array, check_bounds, check_max_iter, check_tol

if TYPE_CHECKING:
    import dask.array

    from .distributed import DaskReconstruction

__all__ = ["reconstruct", "make_problem", "resolve_solver"]


#: one wrapper per bare Dense, so per-model caches (e.g. the analytic solver's) hit on repeated calls
_WRAPPED_DENSE: "weakref.WeakKeyDictionary[Dense, Sequential]" = weakref.WeakKeyDictionary()

#: what the iterative solvers handle today; other layers are refused with this pointer
_SUPPORTED = "a chain of Dense layers (recurrent layers can be evaluated, not yet reconstructed)"


def _as_model(model: object) -> Sequential:
    if isinstance(model, Dense):
        if model not in _WRAPPED_DENSE:
            _WRAPPED_DENSE[model] = Sequential([model], name=model.name)
        return _WRAPPED_DENSE[model]
    if not isinstance(model, Sequential):
        raise InvalidParameterError(f"model must be a symrecon Sequential or Dense; got {type(model).__name__}")
    if not model.is_dense:
        bad = next(layer for layer in model.layers if not isinstance(layer, Dense))
        raise UnsupportedLayerError(
            f"reconstruction needs {_SUPPORTED}; layer {bad.name!r} is a {type(bad).__name__}"
        )
    return model


def _start(x0: ArrayLike | None, n: int, n_in: int) -> np.ndarray | None:
    if x0 is None:
        return None
    arr = as_real_array(x0, "starting point x0")
    if arr.ndim == 0 and n_in == 1:
        arr = arr.reshape(1)
    if arr.shape == (n_in,):
        arr = np.broadcast_to(arr, (n, n_in))
    if arr.shape != (n, n_in):
        raise ShapeError(f"x0 must have shape ({n_in},) or ({n}, {n_in}) to match y; got shape {np.shape(x0)}")
    return arr


def make_problem(model: object, y: ArrayLike, *, x0: ArrayLike | None = None, bounds: object = None,
                 tol: float | None = None, max_iter: int | None = None,
                 progress: bool | None = None, rtol: float | None = None) -> Problem:
    """Validate user input into a :class:`Problem` (the only place checks happen).

    Raises
    ------
    ShapeError, InvalidValueError, InvalidParameterError, InfeasibleTargetError, UnsupportedLayerError
    """
    model = _as_model(model)
    y_batch, single = as_batch(y, model.n_out, "target y")
    model.check_target(y_batch)
    tol_value = check_tol(DEFAULT_ATOL if tol is None else tol)
    rtol_value = check_tol(DEFAULT_RTOL if rtol is None else rtol, "rtol", allow_zero=True)
    limit = check_max_iter(max_iter)
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise InvalidParameterError(f"progress must be True, False or None; got {progress!r}")
    x_start = _start(x0, y_batch.shape[0], model.n_in)
    lower, upper = check_bounds(bounds, model.n_in)
    if lower is not None and upper is not None and x_start is not None:
        outside = (x_start < lower) | (x_start > upper)
        if np.any(outside):
            row, col = (int(i) for i in np.argwhere(outside)[0])
            raise InvalidValueError(
                f"x0 lies outside the bounds: x0[{row}, {col}] = {x_start[row, col]!r} not in "
                f"[{lower[col]!r}, {upper[col]!r}]"
            )
    return Problem(model=model, y=y_batch, x0=x_start, lower=lower, upper=upper, tol=tol_value,
                   max_iter=limit, single=single, progress=None if progress is None else bool(progress),
                   rtol=rtol_value)


def resolve_solver(method: str | AbstractSolver, options: dict[str, object]) -> AbstractSolver:
    """A solver instance from a registered name (plus options) or an instance."""
    if isinstance(method, AbstractSolver):
        if options:
            raise InvalidParameterError(
                f"options {sorted(options)} cannot be combined with a solver instance; "
                f"set them on the instance instead"
            )
        return method
    if not isinstance(method, str):
        raise InvalidParameterError(
            f"method must be a registered name ({', '.join(sorted(SOLVERS))}) or a solver instance; got {method!r}"
        )
    return get_solver(method, **options)


@overload
def reconstruct(model: Sequential | Dense, y: "dask.array.Array", method: str | AbstractSolver = "auto", *,
                x0: object = None, bounds: object = None, tol: float | None = None, rtol: float | None = None,
                max_iter: int | None = None, progress: bool | None = None, executor: str = "serial",
                **options: object) -> "DaskReconstruction": ...


@overload
def reconstruct(model: Sequential | Dense, y: ArrayLike, method: str | AbstractSolver = "auto", *,
                x0: ArrayLike | None = None, bounds: object = None, tol: float | None = None,
                rtol: float | None = None, max_iter: int | None = None, progress: bool | None = None,
                executor: str = "serial", **options: object) -> Reconstruction: ...


def reconstruct(model: Sequential | Dense, y: Any, method: str | AbstractSolver = "auto", *, x0: Any = None,
                bounds: object = None, tol: float | None = None, rtol: float | None = None,
                max_iter: int | None = None, progress: bool | None = None, executor: str = "serial",
                **options: object) -> "Reconstruction | DaskReconstruction":
    """Find the input ``x`` for which ``model(x) = y``.

    Parameters
    ----------
    model : Sequential or Dense
        A chain of dense layers (Keras layout).
    y : array_like, shape (n_out,) or (N, n_out), or dask.array.Array (N, n_out)
        Target output(s); one result per row.  A dask array gives a lazy
        :class:`~symrecon.distributed.DaskReconstruction` (see
        :mod:`symrecon.distributed`).
    method : str or AbstractSolver, default "auto"
        A registered method (listed below) or a solver instance.
    x0 : array_like, shape (n_in,) or (N, n_in), optional
        Starting point(s) for iterative methods (default: the origin, moved
        into the bounds).
    bounds : (lower, upper), optional
        Box bounds on ``x``; scalars or arrays of shape ``(n_in,)``; None or
        ``-inf``/``inf`` for an open side.
    tol, rtol : float, optional
        Absolute (default ``1e-9``) and relative (default ``1e-12``) parts of
        the success tolerance on each ``|model(x)_j - y_j|``; the rule, which
        also tightens near a finite end of the output activation's image, is
        in :mod:`symrecon.tolerance`.
    max_iter : int, optional
        Iteration limit for iterative methods (default: the method's own).
    progress : bool, optional
        Progress bar for long batches (default: automatic); for dask targets
        use Dask's own (``dask.diagnostics.ProgressBar``, ``distributed.progress``).
    executor : {"serial", "threads"}, default "serial"
        How blocks of targets are scheduled (see :mod:`symrecon.executor`).
    **options
        Method-specific options (listed below); an unknown option raises
        :class:`~symrecon.errors.InvalidParameterError`.

    Returns
    -------
    Reconstruction
        ``success`` is re-checked by a forward pass: it means the residual is
        within ``tol``; ``status`` says per target why the solver stopped.

    Raises
    ------
    InfeasibleTargetError
        A target outside the output activation's image (before any iteration).
    ShapeError, InvalidValueError, InvalidParameterError, CapabilityError, NotInvertibleError

    Examples
    --------
    >>> import symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    >>> res = sr.reconstruct(m, [100.0], method="analytic")
    >>> round(float(res.x[0]), 9), res.success
    (312.5, True)
    """
    t0 = time.perf_counter()
    solver = resolve_solver(method, options)
    if executor not in EXECUTORS:
        raise InvalidParameterError(f"executor must be one of {', '.join(map(repr, EXECUTORS))}; got {executor!r}")
    if is_dask_array(y):  # a lazy result, one task per chunk (symrecon.distributed); Dask loaded only then
        from .distributed import check_executor_for_dask, reconstruct_dask

        check_executor_for_dask(executor)
        return reconstruct_dask(model, y, solver, x0=x0, bounds=bounds, tol=tol, rtol=rtol, max_iter=max_iter)
    problem = make_problem(model, y, x0=x0, bounds=bounds, tol=tol, max_iter=max_iter, progress=progress,
                           rtol=rtol)
    solver.check_capabilities(problem)
    if not solver.exact:
        start = start_points(problem)
        start.setflags(write=False)
        problem = dataclasses.replace(problem, x0=start)
    block = run_blocks(solver, problem, executor)
    return Reconstruction.from_block(problem, block, elapsed=time.perf_counter() - t0)


reconstruct.__doc__ = (reconstruct.__doc__ or "") + methods_help()
