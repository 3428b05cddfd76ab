"""Helpers shared by the iterative solvers (starting points, bounds, kernel buffers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..status import Status
from ._base import BlockResult, Problem

__all__ = ["start_points", "bound_arrays", "iteration_limit", "targets", "KernelRun", "HISTORY_BYTES"]

#: the most memory a single target's iteration history may take; longer runs record none
HISTORY_BYTES = 64 * 2**20


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
    if problem.lower is not None and problem.upper is not None:
        x = np.clip(x, problem.lower, problem.upper)
    return x


def bound_arrays(problem: Problem) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """``(lower, upper, has_bounds)`` as contiguous arrays for the kernels (±inf when unbounded)."""
    n_in = problem.model.n_in
    if problem.lower is None or problem.upper is None:
        return np.full(n_in, -np.inf), np.full(n_in, np.inf), False
    # writable copies: numba compiles a separate specialisation for read-only arrays
    return np.array(problem.lower, dtype=np.float64), np.array(problem.upper, dtype=np.float64), True


def iteration_limit(problem: Problem, default: int) -> int:
    """``problem.max_iter`` or the solver's default."""
    return default if problem.max_iter is None else int(problem.max_iter)


def history_rows(max_iter: int, n_in: int) -> int:
    """Rows of the history buffer: ``max_iter + 1`` if that fits in :data:`HISTORY_BYTES`, else 0."""
    rows = max_iter + 1
    return rows if rows * n_in * 8 <= HISTORY_BYTES else 0


@dataclass
class KernelRun:
    """The arrays an iterative kernel reads and fills, prepared once per block.

    Inputs: packed model ``pm``, ``max_iter``, box ``lower``/``upper``/``has_bounds``,
    starting points ``x0`` (N, n_in) and targets ``ys`` (N, n_out).  Outputs the
    kernels write: ``xs`` (N, n_in), ``status`` (N,) :class:`~symrecon.Status`
    codes (``NOT_RUN`` until written), ``iters`` (N,), and ``hist``
    (max_iter + 1, n_in) for a single target (else empty).
    """

    problem: Problem
    default_max_iter: int

    def __post_init__(self) -> None:
        from ._kernels import pack

        problem = self.problem
        n, n0 = problem.n_targets, problem.model.n_in
        self.pm = pack(problem.model)
        self.max_iter = iteration_limit(problem, self.default_max_iter)
        self.lower, self.upper, self.has_bounds = bound_arrays(problem)
        self.x0 = start_points(problem)
        self.ys = targets(problem)
        self.xs = np.full((n, n0), np.nan)
        self.status = np.full(n, Status.NOT_RUN, dtype=np.int8)
        self.iters = np.zeros(n, dtype=np.int64)
        self.hist = np.zeros((history_rows(self.max_iter, n0) if problem.single else 0, n0))

    def result(self, method: str, stats: dict[str, Any]) -> BlockResult:
        """The :class:`BlockResult` of what the kernels wrote."""
        history = None
        if self.problem.single and self.hist.shape[0]:
            history = self.hist[: int(self.iters[0]) + 1].copy()
        return BlockResult(x=self.xs, status=self.status, n_iter=self.iters, method=method,
                           history=history, stats=stats)
