"""``reconstruct``: validate once, build a :class:`Problem`, dispatch to a solver.

Import rule (this is the only module that sees the whole picture):
``models`` imports only ``activations`` and ``errors``; ``symbolic`` imports
``models``; ``solvers`` import ``models``, ``symbolic.inverse`` and ``result``;
``compare``, ``report`` and ``plot`` import ``result`` and never a solver
module directly.
"""

from __future__ import annotations

import math
import numbers
import weakref

import numpy as np
from numpy.typing import ArrayLike

from .errors import CapabilityError, InvalidValueError, ShapeError, UnsupportedLayerError
from .models import Dense, Sequential, as_batch, as_frozen_array
from .result import DEFAULT_TOL, Reconstruction
from .solvers import SOLVERS, AbstractSolver, Problem, get_solver

__all__ = ["reconstruct", "make_problem", "resolve_solver"]


#: one wrapper per bare Dense, so per-model caches (e.g. the analytic solver's) hit on repeated calls
_WRAPPED_DENSE: "weakref.WeakKeyDictionary[Dense, Sequential]" = weakref.WeakKeyDictionary()


def _as_model(model) -> Sequential:
    if isinstance(model, Dense):
        if model not in _WRAPPED_DENSE:
            _WRAPPED_DENSE[model] = Sequential([model], name=model.name)
        return _WRAPPED_DENSE[model]
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a symrecon Sequential or Dense; got {type(model).__name__}")
    if not model.is_dense:
        bad = next(layer for layer in model.layers if not isinstance(layer, Dense))
        raise UnsupportedLayerError(
            f"reconstruction needs a chain of Dense layers; layer {bad.name!r} is a {type(bad).__name__}"
        )
    return model


def _bounds(bounds, n_in: int):
    if bounds is None:
        return None, None
    try:
        lower, upper = bounds
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"bounds must be a pair (lower, upper) of scalars or arrays of shape ({n_in},); got {bounds!r}"
        ) from None
    out = []
    for side, value in (("lower", lower), ("upper", upper)):
        default = -np.inf if side == "lower" else np.inf
        arr = np.array(default if value is None else value, dtype=np.float64, copy=True)
        if arr.ndim == 0:
            arr = np.full(n_in, float(arr))
        if arr.shape != (n_in,):
            raise ShapeError(f"{side} bound must be a scalar or have shape ({n_in},); got shape {arr.shape}")
        if np.any(np.isnan(arr)):
            raise InvalidValueError(f"{side} bound contains NaN; use -inf/inf for an open side")
        arr.setflags(write=False)
        out.append(arr)
    lower, upper = out
    if np.any(lower > upper):
        i = int(np.argmax(lower > upper))
        raise InvalidValueError(f"bounds are inverted at input {i}: lower {lower[i]!r} > upper {upper[i]!r}")
    return lower, upper


def make_problem(model, y: ArrayLike, *, x0=None, bounds=None, tol: float | None = None,
                 max_iter: int | None = None, progress: bool | None = None) -> Problem:
    """Validate user input into a :class:`Problem` (the only place checks happen).

    Raises
    ------
    ShapeError, InvalidValueError, InfeasibleTargetError, UnsupportedLayerError
    """
    model = _as_model(model)
    y_batch, single = as_batch(y, model.n_out, "target y")
    model.check_target(y_batch)

    if tol is None:
        tol = DEFAULT_TOL
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not (math.isfinite(tol) and tol > 0):
        raise InvalidValueError(f"tol must be a finite positive number; got {tol!r}")
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral)
                                 or max_iter <= 0):
        raise InvalidValueError(f"max_iter must be a positive integer; got {max_iter!r}")

    x_start = None
    if x0 is not None:
        arr = as_frozen_array(x0, "starting point x0")
        if arr.ndim == 0 and model.n_in == 1:
            arr = arr.reshape(1)
        if arr.shape == (model.n_in,):
            arr = np.broadcast_to(arr, (y_batch.shape[0], model.n_in))
        if arr.shape != (y_batch.shape[0], model.n_in):
            raise ShapeError(
                f"x0 must have shape ({model.n_in},) or ({y_batch.shape[0]}, {model.n_in}) to match y; "
                f"got shape {np.shape(x0)}"
            )
        x_start = np.array(arr, copy=True)
        x_start.setflags(write=False)

    lower, upper = _bounds(bounds, model.n_in)
    if lower is not None and x_start is not None:
        outside = (x_start < lower) | (x_start > upper)
        if np.any(outside):
            row, col = (int(i) for i in np.argwhere(outside)[0])
            raise InvalidValueError(
                f"x0 lies outside the bounds: x0[{row}, {col}] = {x_start[row, col]!r} not in "
                f"[{lower[col]!r}, {upper[col]!r}]"
            )
    return Problem(model=model, y=y_batch, x0=x_start, lower=lower, upper=upper, tol=float(tol),
                   max_iter=None if max_iter is None else int(max_iter), single=single, progress=progress)


def resolve_solver(method: str | AbstractSolver, options: dict) -> AbstractSolver:
    """A solver instance from a registered name (plus options) or an instance."""
    if isinstance(method, AbstractSolver):
        if options:
            raise TypeError(
                f"options {sorted(options)} cannot be combined with a solver instance; "
                f"set them on the instance instead"
            )
        return method
    if not isinstance(method, str):
        raise TypeError(f"method must be a registered name or an AbstractSolver instance; got {method!r}")
    return get_solver(method, **options)


def check_capabilities(solver: AbstractSolver, problem: Problem) -> None:
    """Refuse what ``solver`` does not claim to support."""
    if problem.has_bounds and not solver.supports_bounds:
        raise CapabilityError(f"method {solver.name!r} does not support bounds; "
                              f"methods that do: {', '.join(sorted(n for n, c in SOLVERS.items() if c.supports_bounds))}")
    if problem.x0 is not None and solver.exact:
        raise CapabilityError(f"method {solver.name!r} is a closed form and takes no starting point x0")


def reconstruct(model, y: ArrayLike, method: str | AbstractSolver = "auto", *, x0=None, bounds=None,
                tol: float | None = None, max_iter: int | None = None, progress: bool | None = None,
                **options) -> Reconstruction:
    """Find the input ``x`` for which ``model(x) = y``.

    Parameters
    ----------
    model : Sequential or Dense
        A chain of dense layers (Keras layout).
    y : array_like, shape (n_out,) or (N, n_out)
        Target output(s); one result per row.
    method : str or AbstractSolver, default "auto"
        A registered method (``sorted(symrecon.solvers.SOLVERS)``) or a solver
        instance.  ``"auto"`` uses the closed form when one exists, otherwise
        the iterative methods.
    x0 : array_like, shape (n_in,) or (N, n_in), optional
        Starting point(s) for iterative methods.
    bounds : (lower, upper), optional
        Box bounds on ``x``; scalars or arrays of shape ``(n_in,)``.
    tol : float, optional
        Success tolerance on ``max_i |model(x)_i - y_i|``; default ``1e-9``.
    max_iter : int, optional
        Iteration limit for iterative methods.
    progress : bool, optional
        Progress bar for long batches (default: automatic).
    **options
        Method-specific options (e.g. ``learning_rate`` for ``"gd"``); an
        unknown option raises ``TypeError``.

    Returns
    -------
    Reconstruction
        ``success`` is re-checked by a forward pass: it means the residual is
        within ``tol``.

    Raises
    ------
    InfeasibleTargetError
        A target outside the output activation's image (before any iteration).
    ShapeError, InvalidValueError, CapabilityError, TypeError, NotInvertibleError

    Examples
    --------
    >>> import symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    >>> res = sr.reconstruct(m, [100.0], method="analytic")
    >>> round(float(res.x[0]), 9), res.success
    (312.5, True)
    """
    solver = resolve_solver(method, options)
    problem = make_problem(model, y, x0=x0, bounds=bounds, tol=tol, max_iter=max_iter, progress=progress)
    check_capabilities(solver, problem)
    return solver.solve(problem)
