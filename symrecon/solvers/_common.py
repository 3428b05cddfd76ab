"""Helpers shared by the iterative solvers (starting points, iteration limits, kernel buffers)."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._base import BlockResult, Problem

__all__ = ["start_points", "iteration_limit", "targets", "history_rows", "KernelRun", "HISTORY_BYTES",
           "compile_notice", "no_rows", "NOTICE_AFTER", "NOTICE"]

#: the most memory a single target's iteration history may take; longer runs record none
HISTORY_BYTES = 64 * 2**20
#: seconds a kernel preparation may take before :func:`compile_notice` speaks (loading
#: from numba's on-disk cache takes less; compiling takes more)
NOTICE_AFTER = 0.5
#: the line :func:`compile_notice` writes on stderr
NOTICE = "symrecon: compiling solver kernels — first run only"


def no_rows(problem: Problem) -> Problem:
    """The problem with no targets (same types everywhere): what a kernel compiles on before the batch."""
    return dataclasses.replace(problem.rows(slice(0, 0)), single=False)


@contextlib.contextmanager
def compile_notice(show: bool) -> Iterator[None]:
    """Write :data:`NOTICE` on stderr if the enclosed preparation lasts longer than :data:`NOTICE_AFTER` s.

    A timer rather than a cache lookup: it speaks exactly when the user would
    otherwise wait in silence.  ``show=False`` keeps it silent.
    """
    timer = threading.Timer(NOTICE_AFTER, lambda: print(NOTICE, file=sys.stderr, flush=True))
    timer.daemon = True
    if show:
        timer.start()
    try:
        yield
    finally:
        timer.cancel()


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


def iteration_limit(problem: Problem, default: int) -> int:
    """``problem.max_iter`` or the solver's default."""
    return default if problem.max_iter is None else int(problem.max_iter)


def history_rows(max_iter: int, n_in: int) -> int:
    """Rows of the history buffer: ``max_iter + 1`` if that fits in :data:`HISTORY_BYTES`, else 0."""
    rows = max_iter + 1
    return rows if rows * n_in * 8 <= HISTORY_BYTES else 0


@dataclass
class KernelRun:
    """What an iterative kernel reads and fills, prepared once per block.

    Inputs: the packed model ``pm`` (:class:`~symrecon.backends.numba.pack.PackedModel`,
    with the layer inverses when ``inverses``), the settings ``cfg``
    (each target's tolerance scaled by ``tol_margin``, ``max_iter``, the box),
    starting points ``x0`` (N, n_in) and targets ``ys`` (N, n_out).  Outputs
    the kernels write: ``out`` (:class:`~symrecon.backends.numba.pack.Outputs`:
    ``xs`` (N, n_in, NaN until written), ``status`` (N,) int8
    :class:`~symrecon.status.Status` codes starting at ``NOT_RUN``, ``iters``
    (N,), and ``hist`` (max_iter + 1, n_in) for a single target when it fits
    in :data:`HISTORY_BYTES`, else empty).
    """

    problem: Problem
    default_max_iter: int
    inverses: bool = False
    tol_margin: float = 1.0

    def __post_init__(self) -> None:
        from ..backends.numba.pack import outputs, pack, settings

        problem = self.problem
        n, n0 = problem.n_targets, problem.model.n_in
        self.pm = pack(problem.model, inverses=self.inverses)
        max_iter = iteration_limit(problem, self.default_max_iter)
        tol = self.tol_margin * problem.row_tol
        if problem.lower is not None and problem.upper is not None:
            self.cfg = settings(tol, max_iter, problem.lower, problem.upper)
        else:
            self.cfg = settings(tol, max_iter, n_in=n0)
        self.x0 = start_points(problem)
        self.ys = targets(problem)
        self.out = outputs(n, n0, history_rows(max_iter, n0) if problem.single else 0)

    def result(self, method: str, stats: dict[str, Any]) -> BlockResult:
        """The :class:`BlockResult` of what the kernels wrote."""
        out = self.out
        history = None
        if self.problem.single and out.hist.shape[0]:
            history = out.hist[: int(out.iters[0]) + 1].copy()
        return BlockResult(x=out.xs, status=out.status, n_iter=out.iters, method=method, history=history,
                           stats=stats)
