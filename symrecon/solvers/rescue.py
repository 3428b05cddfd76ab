"""Second chances for the rows a local solver left above tolerance: continuation, informed and random restarts.

A Gauss–Newton / Levenberg–Marquardt run from one start finds the target only
when the start lies in its basin; on reachable targets of deep or
ill-conditioned networks that fails for a few rows in ten.  :func:`rescue`
re-runs the same batched solver on those rows only, in this order, each
stage on the rows the previous ones left:

1. **continuation** from ``model(x0)`` to ``y``: the targets
   ``y_t = model(x0) + t (y - model(x0))`` for ``t`` in :data:`CONTINUATION`,
   each solve starting where the previous one ended, so that every step is a
   short, well-conditioned solve along the path;
2. **an informed start**: the layer-by-layer pseudo-inverse of the network
   (``x = (f^{-1}(h) - b) W^+`` from the output back, with ``h`` clipped
   into each activation's image);
3. **random restarts** ``x ~ N(0, s^2)`` (``s`` cycling over
   :data:`RESTART_SCALES`), clipped into the box, seeded by each row's target (a
   row's answer does not depend on the block it is solved in); at
   least two rounds, and no more once a round reaches no further target
   (unreachable targets do not pay for every round);
4. optionally **scipy ``trf``** per row from the caller's start (a Python
   loop: the last resort, not a batch engine, so at most
   :data:`LAST_RESORT_ROWS` rows per block).

Rows that *stalled* (a local minimum, or a step that found no decrease) or
*diverged* get second chances, and so do rows that ran out of iterations
(a slow crawl far from the target) unless the caller set ``max_iter``: an
explicit limit is kept, and such a row keeps its verdict.  Every stage keeps a
row's best answer (lowest re-checked residual), so a rescue never makes an
answer worse; ``n_iter`` and the history (one target) are those of the run
that produced the answer.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[2.0, 0.0], [0.0, 0.5]], [0.1, -0.2], "tanh")])
>>> x = pinv_start(m, np.array([[0.3, -0.1]]))
>>> np.allclose(m(x), [[0.3, -0.1]])
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..models import Dense, Sequential
from ..recheck import forward_rows, max_residual
from ..status import Status
from ._base import BlockResult, Problem
from ._common import start_points

__all__ = ["rescue", "pinv_start", "CONTINUATION", "RESTART_SCALES", "IMAGE_MARGIN", "LAST_RESORT_ROWS"]

#: the continuation parameters ``t`` (the last is the target itself)
CONTINUATION = (0.25, 0.5, 0.75, 1.0)
#: iterations per intermediate continuation step (only the last step gets the full limit)
PATH_ITER = 30
#: standard deviations of the random restarts, cycled
RESTART_SCALES = (1.0, 0.5, 2.0, 3.0)
#: the most rows per block the per-row last resort runs on (a Python loop, ~10 ms a row): the open rows
#: with the lowest residual first
LAST_RESORT_ROWS = 64
#: hidden values are clipped this far (relative to the image's width, or absolutely) inside an open image
IMAGE_MARGIN = 1e-6

#: the random restarts' seed (mixed with the round and each row's target)
_SEED = 20240611

Solve = Callable[[Problem], BlockResult]

#: the verdicts that get second chances (see the module docstring)
_RESCUED = (Status.STALLED, Status.DIVERGED)


def pinv_start(model: Sequential, y: NDArray[np.float64]) -> NDArray[np.float64]:
    """The layer-by-layer pseudo-inverse of ``model`` at targets ``y`` (N, n_out) -> (N, n_in).

    Exact for a chain of invertible layers; otherwise a least-squares /
    minimum-norm guess per layer (hidden values clipped into each activation's
    image), a starting point near the right basin.  Non-finite entries become 0.
    """
    h = np.array(y, dtype=np.float64)
    with np.errstate(all="ignore"):
        for layer in reversed(model.layers):
            assert isinstance(layer, Dense)  # solvers receive chains of Dense layers
            act = layer.activation
            z = h
            if act.name != "linear" and act.numpy_inverse is not None:
                lo, hi = (float(v) for v in act.image_bounds[:2])
                width = hi - lo if np.isfinite(hi - lo) else 1.0
                z = act.numpy_inverse(np.clip(h, lo + IMAGE_MARGIN * width, hi - IMAGE_MARGIN * width))
            h = (z - layer.bias) @ np.linalg.pinv(layer.kernel)
    return np.where(np.isfinite(h), h, 0.0)


def _residuals(model: Sequential, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    return max_residual(forward_rows(model, x), y)


class _Best:
    """Each row's best answer so far (lowest residual), written into ``block``'s arrays in place."""

    def __init__(self, problem: Problem, block: BlockResult) -> None:
        self.problem, self.block, self.history = problem, block, block.history
        rescued = _RESCUED if problem.max_iter is not None else (*_RESCUED, Status.MAX_ITER)
        self.open = np.isin(block.status, rescued)
        # residuals of the open rows only: the converged ones (nearly all of a big batch) are never offered
        self.res = np.full(problem.n_targets, np.inf)
        rows = self.open_rows()
        if rows.size:
            self.res[rows] = _residuals(problem.model, block.x[rows], problem.y[rows])

    def open_rows(self) -> NDArray[np.intp]:
        return np.flatnonzero(self.open)

    def offer(self, rows: NDArray[np.intp], got: BlockResult) -> None:
        """Take ``got``'s answers for ``rows`` where they converged or lower the residual."""
        r = _residuals(self.problem.model, got.x, self.problem.y[rows])
        better = (got.status == Status.CONVERGED) | (r < self.res[rows])
        take = rows[better]
        self.block.x[take] = got.x[better]
        self.block.status[take] = got.status[better]
        self.block.n_iter[take] = got.n_iter[better]
        self.res[take] = r[better]
        self.open[rows[got.status == Status.CONVERGED]] = False
        if take.size and self.problem.single:
            self.history = got.history


def _sub(problem: Problem, rows: NDArray[np.intp], x0: NDArray[np.float64], y=None, max_iter=None) -> Problem:
    sub = dataclasses.replace(problem.rows(rows, x0=x0), progress=False)
    if y is not None:
        sub = dataclasses.replace(sub, y=y)
    return sub if max_iter is None else dataclasses.replace(sub, max_iter=max_iter)


def _continuation(solve: Solve, problem: Problem, best: _Best) -> None:
    rows = best.open_rows()
    if rows.size == 0:
        return
    x = start_points(problem)[rows]
    y_start = forward_rows(problem.model, x)
    y = problem.y[rows]
    for t in CONTINUATION:
        last = t == CONTINUATION[-1]
        got = solve(_sub(problem, rows, x, y=None if last else y_start + t * (y - y_start),
                         max_iter=None if last else PATH_ITER))
        finite = np.all(np.isfinite(got.x), axis=1)
        x = np.where(finite[:, None], got.x, x)
    best.offer(rows, got)


def _restart(solve: Solve, problem: Problem, best: _Best, starts: NDArray[np.float64], limit: int = -1) -> None:
    rows = best.open_rows()
    if 0 <= limit < rows.size:
        rows = np.sort(rows[np.argsort(best.res[rows], kind="stable")[:limit]])
    if rows.size:
        x0 = starts[rows]
        if problem.lower is not None and problem.upper is not None:
            x0 = np.clip(x0, problem.lower, problem.upper)
        best.offer(rows, solve(_sub(problem, rows, x0)))


def _random_starts(problem: Problem, rows: NDArray[np.intp], k: int) -> NDArray[np.float64]:
    """Round ``k``'s random starts for ``rows`` (other rows: zero), seeded by each row's target.

    Seeded per row, not per block, so that a row's answer does not depend on
    which block (chunk, Dask task) it was solved in.
    """
    n_in = problem.model.n_in
    starts = np.zeros((problem.n_targets, n_in))
    scale = RESTART_SCALES[k % len(RESTART_SCALES)]
    for r in rows:
        entropy = [_SEED, k, *np.frombuffer(problem.y[r].tobytes(), dtype=np.uint32).tolist()]
        starts[r] = np.random.default_rng(np.random.SeedSequence(entropy)).normal(size=n_in) * scale
    return starts


def rescue(solve: Solve, problem: Problem, block: BlockResult, restarts: int,
           last_resort: Solve | None = None) -> tuple[BlockResult, dict[str, int]]:
    """Re-run ``solve`` on ``block``'s unconverged rows (stages: module docstring); ``block`` is updated in place.

    Parameters
    ----------
    solve : callable
        ``solve(problem) -> BlockResult``, the batched local solver.
    problem : Problem
        The whole block's problem; ``block`` its first answer.
    restarts : int
        The most random restarts after continuation and the informed start (0: none).
    last_resort : callable, optional
        Run per row on what is still open, from the caller's start.

    Returns
    -------
    block, stats
        ``stats``: ``"n_rescued"`` (rows solved here) and ``"restarts"`` (the
        starting points tried beyond the first for a row still open: the
        continuation path, the informed start and the random ones).
    """
    best = _Best(problem, block)
    n_open = best.open_rows().size
    if n_open == 0:
        return block, {"n_rescued": 0, "restarts": 0}
    _continuation(solve, problem, best)
    _restart(solve, problem, best, pinv_start(problem.model, problem.y))
    made = 0
    for k in range(restarts):
        starts = _random_starts(problem, best.open_rows(), k)
        before = best.open_rows().size
        _restart(solve, problem, best, starts)
        made += 1
        if best.open_rows().size == before and k >= 1:
            break  # two rounds, the last without a success: what is left is unlikely to be reached this way
    if last_resort is not None:
        _restart(last_resort, problem, best, start_points(problem), LAST_RESORT_ROWS)
    block = dataclasses.replace(block, history=best.history)
    return block, {"n_rescued": int(n_open - best.open_rows().size), "restarts": made + 2}
