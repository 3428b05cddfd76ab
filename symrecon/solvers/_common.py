"""Helpers shared by the iterative solvers (starting points, bounds, timing)."""

from __future__ import annotations

import numpy as np
import time
from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray

from ._base import Problem

__all__ = ["start_points", "iteration_limit", "targets", "KernelRun"]


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


def iteration_limit(problem: Problem, default: int) -> int:
    """``problem.max_iter`` or the solver's default."""
    return default if problem.max_iter is None else int(problem.max_iter)


@dataclass
class KernelRun:
    """What an iterative kernel reads and fills, prepared once per solve.

    Inputs: the packed model ``pm`` (:class:`~symrecon.backends.numba.pack.PackedModel`,
    with the layer inverses when ``inverses``), the settings ``cfg``
    (``tol`` scaled by ``tol_margin``, ``max_iter``, the box), starting points
    ``x0`` (N, n_in) and targets ``ys`` (N, n_out).  Outputs the kernels write:
    ``out`` (:class:`~symrecon.backends.numba.pack.Outputs`: ``xs`` (N, n_in),
    ``status`` (N,) int8 :class:`~symrecon.status.Status` codes starting at
    ``NOT_RUN``, ``iters`` (N,), and ``hist`` (max_iter + 1, n_in) for a single
    target, else empty).
    """

    problem: Problem
    default_max_iter: int
    inverses: bool = False
    tol_margin: float = 1.0
    t0: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        from ..backends.numba.pack import outputs, pack, settings

        problem = self.problem
        n, n0 = problem.n_targets, problem.model.n_in
        self.pm = pack(problem.model, inverses=self.inverses)
        max_iter = iteration_limit(problem, self.default_max_iter)
        tol = self.tol_margin * problem.tol
        if problem.has_bounds:
            self.cfg = settings(tol, max_iter, problem.lower, problem.upper)
        else:
            self.cfg = settings(tol, max_iter, n_in=n0)
        self.x0 = start_points(problem)
        self.ys = targets(problem)
        self.out = outputs(n, n0, max_iter + 1 if problem.single else 0)

    def rows(self, sl: slice):
        """``(x0, ys, out)`` of the rows ``sl`` (views: what the kernels write lands in ``out``)."""
        from ..backends.numba.pack import Outputs

        o = self.out
        return self.x0[sl], self.ys[sl], Outputs(o.xs[sl], o.status[sl], o.iters[sl], o.hist)

    def result(self, method: str, stats: dict[str, Any]):
        """The :class:`~symrecon.Reconstruction` of what the kernels wrote (re-checked)."""
        from ..result import Reconstruction

        problem, out = self.problem, self.out
        history = out.hist[: int(out.iters[0]) + 1].copy() if problem.single else None
        return Reconstruction.build(
            problem.model, out.xs, problem.y, tol=problem.tol, status=out.status, method=method,
            n_iter=out.iters, elapsed=time.perf_counter() - self.t0, single=problem.single, history=history,
            stats=stats,
        )
