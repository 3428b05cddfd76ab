"""Executors: how the blocks of a reconstruction are scheduled.

:func:`symrecon.reconstruct` splits the targets into blocks of
``solver.block_size`` rows and hands each block to ``solver.solve_block``;
the executor decides where and in which order blocks run.  Solvers never see
it, so new executors (Dask, a GPU queue) plug in here without touching any
solver.

=============  ==============================================================
``"serial"``   blocks one after the other in this thread (the default: the
               numba kernels already use every core inside a block)
``"threads"``  blocks on a thread pool (helps solvers that release the GIL
               in short calls, e.g. many small per-target scipy solves)
=============  ==============================================================

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[2.0]], [1.0], "tanh")])
>>> res = sr.reconstruct(m, np.full((3, 1), 0.5), method="newton", executor="threads")
>>> bool(np.all(res.success))
True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._progress import run_chunked
from .recheck import Recheck
from .solvers._base import AbstractSolver, BlockResult, Problem
from .status import Status

__all__ = ["EXECUTORS", "run_blocks"]


def _serial(n: int, work: Callable[[int, int], None], block: int, problem: Problem, desc: str) -> None:
    run_chunked(n, work, progress=problem.progress, chunk=block, desc=desc)


def _threads(n: int, work: Callable[[int, int], None], block: int, problem: Problem, desc: str) -> None:
    # no progress bar here: blocks finish out of order
    spans = [(start, min(n, start + block)) for start in range(0, n, block)]
    with ThreadPoolExecutor(max_workers=min(len(spans), os.cpu_count() or 1)) as pool:
        for _ in pool.map(lambda span: work(*span), spans):
            pass


#: executor name -> function running ``work(start, stop)`` over every block
EXECUTORS: dict[str, Callable[[int, Callable[[int, int], None], int, Problem, str], None]] = {
    "serial": _serial,
    "threads": _threads,
}


class _Assembly:
    """Preallocated full-size outputs that blocks write into (disjoint rows)."""

    def __init__(self, solver: AbstractSolver, problem: Problem):
        n, n_in = problem.n_targets, problem.model.n_in
        self.solver = solver
        self.x = np.full((n, n_in), np.nan)
        # zeros are Status.NOT_RUN: a row no block wrote can never read as success
        self.status = np.full(n, Status.NOT_RUN, dtype=np.int8)
        self.n_iter = np.zeros(n, dtype=np.int64)
        self.method = np.full(n, solver.name, dtype=object)
        self.first: BlockResult | None = None
        self.sums: dict[str, int | float] = {}
        self.n_out = problem.model.n_out
        # the blocks' own forward re-checks, kept only when every block has one
        self.recheck: Recheck | None = None
        self.unchecked = False
        # rows are disjoint, but the stats are shared between the executor's threads
        self._lock = threading.Lock()

    def write(self, start: int, stop: int, block: BlockResult) -> None:
        self.x[start:stop] = block.x
        self.status[start:stop] = block.status
        self.n_iter[start:stop] = block.n_iter
        self.method[start:stop] = block.method
        with self._lock:
            if self.first is None:
                self.first = block
            for key in self.solver.additive_stats:
                self.sums[key] = self.sums.get(key, 0) + block.stats.get(key, 0)
            self.unchecked |= block.recheck is None
            if block.recheck is not None and self.recheck is None:
                n = self.x.shape[0]
                # outputs only if the blocks keep theirs (a kernel that judged without them: computed when read)
                y_pred = None if block.recheck.y_pred is None else np.full((n, self.n_out), np.nan)
                self.recheck = Recheck(y_pred, np.full(n, np.inf), np.zeros(n, dtype=bool))
            if block.recheck is not None and self.recheck is not None and block.recheck.y_pred is None:
                self.recheck = self.recheck._replace(y_pred=None)
        if block.recheck is not None and self.recheck is not None:
            for whole, part in zip(self.recheck, block.recheck):
                if whole is not None and part is not None:
                    whole[start:stop] = part

    def result(self) -> BlockResult:
        first = self.first
        stats = dict(first.stats) if first is not None else {}
        stats.update(self.sums)
        null_basis = first.null_basis if first is not None else None
        return BlockResult(x=self.x, status=self.status, n_iter=self.n_iter, method=self.method,
                           null_basis=null_basis, stats=stats, recheck=None if self.unchecked else self.recheck)


def run_blocks(solver: AbstractSolver, problem: Problem, executor: str = "serial") -> BlockResult:
    """Run ``solver`` over every row of ``problem``, block by block.

    Parameters
    ----------
    solver : AbstractSolver
    problem : Problem
        Validated; ``problem.x0`` already holds a starting point per row.
    executor : {"serial", "threads"}
        See the module docstring.

    Returns
    -------
    BlockResult
        Full-size arrays (N rows).
    """
    n = problem.n_targets
    block = max(1, int(solver.block_size))
    solver.prepare(problem)  # every kernel compiled before the first block, never in the middle of a batch
    if n <= block:
        # one block: the solver's result as it is (a single target keeps its history); a bar on request
        whole: list[BlockResult] = []
        run_chunked(n, lambda start, stop: whole.append(solver.solve_block(problem)), progress=problem.progress,
                    chunk=n, desc=solver.name)
        return whole[0]
    assembly = _Assembly(solver, problem)

    def work(start: int, stop: int) -> None:
        assembly.write(start, stop, solver.solve_block(problem.rows(slice(start, stop))))

    EXECUTORS[executor](n, work, block, problem, solver.name)
    return assembly.result()
