"""Helpers shared by the iterative solvers (starting points, bounds, timing)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._base import Problem

__all__ = ["start_points", "bound_arrays", "iteration_limit", "targets"]


def targets(problem: Problem) -> NDArray[np.float64]:
    """A writable, contiguous copy of the targets (one numba specialisation for all callers)."""
    return np.array(problem.y, dtype=np.float64, order="C")


def start_points(problem: Problem) -> NDArray[np.float64]:
    """Writable ``(N, n_in)`` starting points.

    ``problem.x0`` when given; otherwise the origin (which, for a wide first
    layer, makes minimum-norm steps end on the minimum-norm preimage), moved
    into the bounds when the origin lies outside them.
    """
    n, n_in = problem.n_targets, problem.model.n_in
    if problem.x0 is not None:
        return np.array(problem.x0, dtype=np.float64, copy=True)
    x = np.zeros((n, n_in))
    if problem.has_bounds:
        x = np.clip(x, problem.lower, problem.upper)
    return x


def bound_arrays(problem: Problem) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """``(lower, upper, has_bounds)`` as contiguous arrays for the kernels (±inf when unbounded)."""
    n_in = problem.model.n_in
    if not problem.has_bounds:
        return np.full(n_in, -np.inf), np.full(n_in, np.inf), False
    # writable copies: numba compiles a separate specialisation for read-only arrays
    return np.array(problem.lower, dtype=np.float64), np.array(problem.upper, dtype=np.float64), True


def iteration_limit(problem: Problem, default: int) -> int:
    """``problem.max_iter`` or the solver's default."""
    return default if problem.max_iter is None else int(problem.max_iter)
