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

from .bounds import check_reachable
from .errors import (
    CapabilityError,
    InvalidParameterError,
    InvalidValueError,
    ShapeError,
    UnsupportedLayerError,
)
from .distributed import is_dask_array
from .executor import EXECUTORS, run_blocks
from .models import Dense, Sequential
from .result import Reconstruction
from .softmax import classifier_problem, is_classifier, reconstruct_classifier
from .status import Status
from .solvers import SOLVERS, AbstractSolver, Problem, get_solver, methods_help
from .solvers._base import BlockResult
from .solvers._common import start_points
from .solvers.nearest import nearest_solver
from .tolerance import DEFAULT_ATOL, DEFAULT_RTOL
from .validation import as_batch, as_real_array, check_bounds, check_max_iter, check_tol

if TYPE_CHECKING:
    import dask.array

    from .distributed import DaskReconstruction

__all__ = ["reconstruct", "make_problem", "resolve_solver"]


#: one wrapper per bare Dense, so per-model caches (e.g. the analytic solver's) hit on repeated calls
_WRAPPED_DENSE: "weakref.WeakKeyDictionary[Dense, Sequential]" = weakref.WeakKeyDictionary()

#: what the iterative solvers handle today; other layers are refused with this pointer
_SUPPORTED = ("a chain of Dense layers, optionally ending in a Softmax layer (or a recurrent first layer with "
              "steps=T; other recurrent layers can be evaluated, not reconstructed)")


#: where the kernels can run (``reconstruct(device=...)``)
_DEVICES = ("cpu", "cuda")


def _on_device(solver: AbstractSolver, problem: Problem) -> BlockResult:
    from .backends.cuda.solve import solve_on_device

    return solve_on_device(solver, problem)


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
                 progress: bool | None = None, rtol: float | None = None, defer_target_scan: bool = False) -> Problem:
    """Validate user input into a :class:`Problem` (the only place checks happen).

    ``defer_target_scan``: skip the two passes over ``y`` that look for NaN/inf
    and for values outside the output image, for a solver whose kernel flags
    such rows itself (:attr:`~symrecon.solvers.AbstractSolver.flags_bad_targets`);
    :func:`check_deferred_targets` then raises the same errors after the solve.

    Raises
    ------
    ShapeError, InvalidValueError, InvalidParameterError, InfeasibleTargetError, UnsupportedLayerError
    """
    if is_classifier(model):  # probabilities -> the reduced model's log-ratio targets (symrecon.softmax)
        return classifier_problem(model, y, x0=x0, bounds=bounds, tol=tol, max_iter=max_iter, progress=progress,
                                  rtol=rtol)
    model = _as_model(model)
    defer = defer_target_scan and bounds is None  # the box check below reads every target
    y_batch, single = as_batch(y, model.n_out, "target y", check_finite=not defer)
    if not defer:
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
    problem = Problem(model=model, y=y_batch, x0=x_start, lower=lower, upper=upper, tol=tol_value,
                      max_iter=limit, single=single, progress=None if progress is None else bool(progress),
                      rtol=rtol_value)
    # interval bound propagation over the box: unreachable targets are refused before any iteration
    # (only with bounds: the per-unit tolerance is computed when first read, and unbounded runs need not)
    if lower is not None and upper is not None:
        assert problem.unit_tol is not None
        check_reachable(model, y_batch, problem.unit_tol, lower, upper)
    return problem


def check_deferred_targets(model: object, y: ArrayLike, status: object) -> None:
    """Raise what :func:`make_problem` would have for ``y``, when a row the solver flagged calls for it.

    For ``make_problem(..., defer_target_scan=True)``: a NaN, inf or
    out-of-image target leaves its row short of ``EXACT``; only then is ``y``
    (as the caller passed it, so the messages name the same indices) scanned.
    """
    if np.all(np.asarray(status) == Status.EXACT):
        return
    model = _as_model(model)
    y_batch, _ = as_batch(y, model.n_out, "target y")
    model.check_target(y_batch)


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
                x_ref: Any = None, device: str = "cpu", **options: object) -> "DaskReconstruction": ...


@overload
def reconstruct(model: Sequential | Dense, y: ArrayLike, method: str | AbstractSolver = "auto", *,
                x0: ArrayLike | None = None, bounds: object = None, tol: float | None = None,
                rtol: float | None = None, max_iter: int | None = None, progress: bool | None = None,
                executor: str = "serial", x_ref: Any = None, device: str = "cpu",
                **options: object) -> Reconstruction: ...


def reconstruct(model: Sequential | Dense, y: Any, method: str | AbstractSolver = "auto", *, x0: Any = None,
                bounds: object = None, tol: float | None = None, rtol: float | None = None,
                max_iter: int | None = None, progress: bool | None = None, executor: str = "serial",
                x_ref: Any = None, device: str = "cpu", **options: object) -> "Reconstruction | DaskReconstruction":
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
    x_ref : array_like, shape (n_in,) or (N, n_in), optional
        Return the input nearest to ``x_ref`` (L2, within ``bounds``; for
        ``method="milp"`` L1 or L-infinity, see its ``norm`` option) among
        all that give ``y`` (see :mod:`symrecon.solvers.nearest`); needs
        ``method="auto"`` and no ``x0``.  For an underdetermined model, e.g.
        a classifier's prototype nearest to the data mean.
    device : {"cpu", "cuda"}, default "cpu"
        Where the kernels run.  ``"cuda"``: methods ``"analytic"`` and
        ``"newton"`` on an NVIDIA GPU (:mod:`symrecon.backends.cuda`; no
        ``history`` is recorded there); anything else, or no CUDA device, is
        a ``CapabilityError``.
    **options
        Method-specific options (listed below); an unknown option raises
        :class:`~symrecon.errors.InvalidParameterError`.
        A model starting with a recurrent layer reconstructs input sequences
        ``(N, T, n_in)``: pass ``steps=T`` (and optionally ``regularizer``,
        ``reg_weight``, ``restarts``); see :mod:`symrecon.rnn_inverse`.

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
    common = dict(x0=x0, bounds=bounds, tol=tol, rtol=rtol, max_iter=max_iter, progress=progress, executor=executor)
    special = _special_models(model, y, method, device, x_ref, common, options)
    if special is not None:
        return special
    if x_ref is not None:
        method, options = _nearest_method(method, x_ref, x0, options)
    t0 = time.perf_counter()
    solver = resolve_solver(method, options)
    if executor not in EXECUTORS:
        raise InvalidParameterError(f"executor must be one of {', '.join(map(repr, EXECUTORS))}; got {executor!r}")
    if is_dask_array(y):  # a lazy result, one task per chunk (symrecon.distributed); Dask loaded only then
        from .distributed import check_executor_for_dask, reconstruct_dask

        check_executor_for_dask(executor)
        return reconstruct_dask(model, y, solver, x0=x0, bounds=bounds, tol=tol, rtol=rtol, max_iter=max_iter)
    problem = make_problem(model, y, x0=x0, bounds=bounds, tol=tol, max_iter=max_iter, progress=progress,
                           rtol=rtol, defer_target_scan=_defers_scan(solver, device))
    solver.check_capabilities(problem)
    if device == "cuda":
        from .backends.cuda.solve import check_device_request

        check_device_request(solver, problem, executor)
    if not solver.exact:
        start = start_points(problem)
        start.setflags(write=False)
        problem = dataclasses.replace(problem, x0=start)
    block = _solved(solver, problem, executor, device, model, y)
    return Reconstruction.from_block(problem, block, elapsed=time.perf_counter() - t0)


def _defers_scan(solver: AbstractSolver, device: str) -> bool:
    """Whether ``make_problem`` leaves the scans of the targets to ``solver`` (its CPU kernel flags bad rows)."""
    return solver.flags_bad_targets and device == "cpu"


def _solved(solver: AbstractSolver, problem: Problem, executor: str, device: str, model: object,
            y: Any) -> BlockResult:
    """Every block solved on ``device``; the target scans left to the solver redone when a row calls for it."""
    block = run_blocks(solver, problem, executor) if device == "cpu" else _on_device(solver, problem)
    if _defers_scan(solver, device):
        check_deferred_targets(model, y, block.status)
    return block


def _nearest_method(method: str | AbstractSolver, x_ref: Any, x0: Any,
                    options: dict[str, object]) -> tuple[str | AbstractSolver, dict[str, object]]:
    """The method and options that answer ``x_ref`` (the input nearest to it among those that give ``y``)."""
    if isinstance(method, str) and method in SOLVERS and "x_ref" in SOLVERS[method].option_names():
        return method, {**options, "x_ref": x_ref}  # a method with its own nearest-member search (milp)
    return nearest_solver(method, x_ref, x0, options), {}


def _special_models(model: object, y: Any, method: str | AbstractSolver, device: str, x_ref: Any,
                    common: dict[str, Any], options: dict[str, Any]) -> Reconstruction | None:
    """The result for models with their own path (a recurrent first layer, a softmax output), else None.

    ``common``: reconstruct's ``x0, bounds, tol, rtol, max_iter, progress, executor``.  Also refuses,
    before any work, what those paths and the Dask path do not do.
    """
    if device not in _DEVICES:
        raise InvalidParameterError(f"device must be one of {', '.join(map(repr, _DEVICES))}; got {device!r}")
    sequences, classifier = getattr(model, "takes_sequences", False), is_classifier(model)
    if is_dask_array(y) and (device != "cpu" or x_ref is not None or sequences or classifier):
        raise CapabilityError("dask targets are solved for chains of Dense layers on device='cpu' without x_ref; "
                              "compute the array (y.compute()) for the other cases")
    if sequences:  # a recurrent first layer: input sequences (rnn_inverse)
        if device != "cpu" or x_ref is not None:
            raise CapabilityError("sequence reconstruction runs on device='cpu' without x_ref")
        from .rnn_inverse import reconstruct_recurrent

        return reconstruct_recurrent(model, y, method, **common, **options)
    if classifier:  # a softmax output: solved on the logits (symrecon.softmax)
        if device != "cpu":
            raise CapabilityError(f"device={device!r} does not solve softmax classifiers yet; use device='cpu'")
        return reconstruct_classifier(model, y, method, x_ref=x_ref, **common, **options)
    return None


reconstruct.__doc__ = (reconstruct.__doc__ or "") + methods_help()
