"""Helpers shared by the iterative solvers (starting points, bounds, timing)."""

from __future__ import annotations

import numpy as np
import time
from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray

from ._base import Problem

__all__ = ["start_points", "bound_arrays", "iteration_limit", "targets", "KernelRun"]


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


@dataclass
class KernelRun:
    """The arrays an iterative kernel reads and fills, prepared once per solve.

    Inputs: packed model ``pm``, ``max_iter``, box ``lower``/``upper``/``has_bounds``,
    starting points ``x0`` (N, n_in) and targets ``ys`` (N, n_out).  Outputs the
    kernels write: ``xs`` (N, n_in), ``status`` (N,) int8 codes, ``iters`` (N,),
    and ``hist`` (max_iter + 1, n_in) for a single target (else empty).
    """

    problem: Problem
    default_max_iter: int
    t0: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        from ._kernels import pack

        problem = self.problem
        n, n0 = problem.n_targets, problem.model.n_in
        self.pm = pack(problem.model)
        self.max_iter = iteration_limit(problem, self.default_max_iter)
        self.lower, self.upper, self.has_bounds = bound_arrays(problem)
        self.x0 = start_points(problem)
        self.ys = targets(problem)
        self.xs = np.empty((n, n0))
        self.status = np.zeros(n, dtype=np.int8)
        self.iters = np.zeros(n, dtype=np.int64)
        self.hist = np.zeros((self.max_iter + 1, n0) if problem.single else (0, n0))

    def result(self, method: str, stats: dict[str, Any]):
        """The :class:`~symrecon.Reconstruction` of what the kernels wrote (re-checked)."""
        from ..result import Reconstruction

        problem = self.problem
        history = self.hist[: int(self.iters[0]) + 1].copy() if problem.single else None
        return Reconstruction.build(
            problem.model, self.xs, problem.y, tol=problem.tol, status=self.status, method=method,
            n_iter=self.iters, elapsed=time.perf_counter() - self.t0, single=problem.single, history=history,
            stats=stats,
        )
