"""``milp``: exact decisions for piecewise-linear networks: a certified witness, or a proof that none exists.

For networks whose activations are all piecewise linear (relu, leaky_relu,
relu6, hard_sigmoid, linear), any depth, within finite ``bounds``.  Per block
of targets (see :mod:`symrecon.milp`):

1. *local*: batched ``newton`` from the given starting points, then plain
   Gauss-Newton runs from up to ``restarts`` random points in the box
   (doubling rounds, at most :data:`LOCAL_SHARE` of ``time_limit`` per open
   target, :data:`LOCAL_SHARE_LARGE` when the MILP is too big to tighten);
   every answer within tolerance is a witness already (re-checked by a
   forward pass, like every answer).  When the MILP is small enough for
   bound tightening, the first :data:`QUICK_RESTARTS` restarts come first,
   then the tightening LPs of step 3 try to prove the targets still open
   unreachable (quick where the target is far from the network's image), and
   only the targets they leave open get the remaining restarts;
2. *pattern*: for the rest, the LP of the activation pattern at the best local
   point (the network is affine on it): a feasible LP is a witness;
3. *milp*: bounds of every hidden pre-activation by interval propagation,
   tightened for this target by LPs over the relaxed model *with* the output
   rows when the MILP is small (at most ``TIGHTEN_MAX_HINGES`` unstable
   hinges; :mod:`symrecon.milp.tighten`, warm-started through ``highspy``
   when installed; an infeasible LP is already a proof; reused from step 1),
   then the big-M MILP with those bounds, with :func:`scipy.optimize.milp`
   (HiGHS), within what is left of ``time_limit``:
   a witness, a proof of infeasibility (``Status.INFEASIBLE``, ``x`` NaN, the
   certificate in ``res.stats["certificates"]``), or ``Status.UNDECIDED`` when
   the time ran out — never "infeasible" without a proof.

With ``x_ref`` the answer is the input nearest to ``x_ref`` in the L1 or
L-infinity norm (``norm``; steps 1-2 are skipped, the MILP minimises the
distance).  The Euclidean norm would need a mixed-integer QP.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [2.0]])])
>>> res = sr.reconstruct(m, [[2.0], [3.0]], method="milp", bounds=(-1.0, 2.0))   # reaches [0, 2] only
>>> [s.name for s in res.statuses], m(res.x[0]).round(6).tolist()   # a witness (x = 2 or x = -1)
(['CONVERGED', 'INFEASIBLE'], [2.0])
>>> near = sr.reconstruct(m, [2.0], method="milp", bounds=(-3.0, 3.0), x_ref=[-0.5], norm="l1")
>>> near.x.round(6).tolist()
[-1.0]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..errors import CapabilityError, InvalidParameterError, ShapeError
from ..milp.distance import NORMS
from ..milp.network import PLNetwork
from ..milp.search import PROOF_BAND, TIGHTEN_SHARE, Searcher, infeasible_verdict
from ..milp.tighten import Tightened
from ..status import Status
from ..validation import as_real_array
from . import register
from ._base import AbstractSolver, BlockResult, Problem
from ._common import start_points
from .newton import GaussNewton

__all__ = ["MILPSolver"]

Float64Array = NDArray[np.float64]

#: the most of a target's ``time_limit`` the random restarts of the local phase may take
LOCAL_SHARE = 0.6
#: the same for MILPs too big for bound tightening: measured on the OMLT benchmark's 8 -> 64 -> 64 -> 8 and
#: 16 -> 128 -> 128 -> 16 nets, the MILP decided no target in the time the restarts left it, the restarts did
LOCAL_SHARE_LARGE = 0.9
#: random restarts (rounds of 1, 2, ..., 32) before bound tightening tries to prove the open targets unreachable:
#: on the 8 -> 32 ReLU -> 8 benchmark problem (2000 data-like targets) they leave 2 open where 15 left 24, each of
#: which then spent ~0.15 s in tightening LPs before more restarts solved it; a lone target's rounds cost ~10 ms
QUICK_RESTARTS = 63


@register
@dataclass(frozen=True)
class MILPSolver(AbstractSolver):
    """Piecewise-linear networks decided exactly: a certified witness or an infeasibility proof (HiGHS MILP).

    Parameters
    ----------
    time_limit : float, default 10.0
        Seconds per target (local phase share included); a target not decided
        in time gets ``Status.UNDECIDED``.
    x_ref : array_like, shape (n_in,) or (N, n_in), optional
        Return the witness nearest to this input (per target for a batch).
    norm : {"l1", "linf"} or None, default None
        The distance for ``x_ref`` (None with ``x_ref``: ``"l1"``).
    restarts : int, default 256
        Random starting points per target for the local phase, in doubling
        rounds (1, 2, 4, ... starts) for the targets still open (0: only the
        given ``x0``); they alternate between the whole box and its central
        quarter (uniform).  Batched Newton is
        cheap: on 8 -> 32 ReLU -> 8 with data-like targets, 1 start solves about
        half of them, 16 about 99 %, 64 all that were measured.
    seed : int, default 0
        Seed of the random restarts.

    Notes
    -----
    ``res.stats`` holds ``n_local``, ``n_pattern``, ``n_milp`` (targets
    decided by each stage), ``certificates`` (row -> the proof of each
    infeasible target) and ``seconds`` (per target).  With ``x_ref`` a witness
    found when the time ran out is the best the MILP had, not proved nearest.
    """

    name: ClassVar[str] = "milp"
    supports_bounds: ClassVar[bool] = True
    requires_bounds: ClassVar[bool] = True
    #: one block: targets are decided one by one anyway, and per-target certificates keep their row numbers
    block_size: ClassVar[int] = 1 << 20
    additive_stats: ClassVar[tuple[str, ...]] = ("n_local", "n_pattern", "n_milp")

    time_limit: float = 10.0
    x_ref: Any = field(default=None, compare=False)
    norm: str | None = None
    restarts: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        t = self.time_limit
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or not t > 0 \
                or not np.isfinite(t):
            raise InvalidParameterError(f"The 'time_limit' parameter of method 'milp' must be a positive number of "
                                        f"seconds. Got {t!r} instead.")
        if self.norm is not None and self.norm not in NORMS:
            raise InvalidParameterError(f"The 'norm' parameter of method 'milp' must be one of "
                                        f"{', '.join(map(repr, NORMS))} or None. Got {self.norm!r} instead.")
        if isinstance(self.restarts, bool) or not isinstance(self.restarts, (int, np.integer)) or self.restarts < 0:
            raise InvalidParameterError(f"The 'restarts' parameter of method 'milp' must be an int >= 0. "
                                        f"Got {self.restarts!r} instead.")
        if self.x_ref is not None:
            object.__setattr__(self, "x_ref", as_real_array(self.x_ref, "x_ref"))
        elif self.norm is not None:
            raise InvalidParameterError(f"The 'norm' parameter of method 'milp' measures the distance to x_ref; "
                                        f"pass x_ref too. Got norm={self.norm!r} without x_ref.")

    def check_capabilities(self, problem: Problem) -> None:
        super().check_capabilities(problem)
        PLNetwork.from_model(problem.model)
        n_in = problem.model.n_in
        if problem.lower is None or problem.upper is None or not (
                np.all(np.isfinite(problem.lower)) and np.all(np.isfinite(problem.upper))):
            raise CapabilityError(
                f"method 'milp' needs finite bounds on every input: pass bounds=(lower, upper) with scalars or arrays "
                f"of shape ({n_in},) (its big-M constants come from them; it proves infeasibility within them)")
        if self.x_ref is not None and self.x_ref.shape not in ((n_in,), (problem.n_targets, n_in)):
            raise ShapeError(f"x_ref must have shape ({n_in},) or ({problem.n_targets}, {n_in}); "
                             f"got {self.x_ref.shape}")

    def _refs(self, problem: Problem) -> Float64Array | None:
        if self.x_ref is None:
            return None
        return np.broadcast_to(self.x_ref, (problem.n_targets, problem.model.n_in))

    def solve_block(self, problem: Problem) -> BlockResult:
        assert problem.lower is not None and problem.upper is not None and problem.unit_tol is not None
        n = problem.n_targets
        searcher = Searcher.build(problem.model, problem.lower, problem.upper)
        xs = np.full((n, problem.model.n_in), np.nan)
        codes = np.full(n, Status.NOT_RUN, dtype=np.int8)
        stage = np.full(n, "", dtype=object)
        refs = self._refs(problem)
        spent = np.zeros(n)
        tights: dict[int, Tightened] = {}
        certificates: dict[int, str] = {}
        if refs is None:
            spent += self._local(problem, searcher, (xs, codes, stage), tights, certificates)
        for t in np.flatnonzero(codes == Status.NOT_RUN):
            t0 = time.perf_counter()
            v = searcher.decide(problem.y[t], problem.unit_tol[t], self.time_limit - spent[t],
                                x_ref=None if refs is None else refs[t], norm=self.norm or "l1",
                                tightened=tights.get(int(t)))
            xs[t], codes[t], stage[t] = v.x, v.status, v.stage
            spent[t] += time.perf_counter() - t0
            if v.certificate:
                certificates[int(t)] = v.certificate
        stats: dict[str, Any] = {f"n_{s}": int(np.sum(stage == s)) for s in ("local", "pattern", "milp")}
        stats["certificates"] = certificates
        stats["seconds"] = spent
        if len(certificates) == 1 and n == 1:
            stats["reason"] = certificates[0]
        return BlockResult(x=xs, status=codes, n_iter=np.zeros(n, dtype=np.int64), method=self.name, stats=stats)

    def _local(self, problem: Problem, searcher: Searcher, out: tuple[Float64Array, NDArray[np.int8],
               NDArray[np.object_]], tights: dict[int, Tightened], certificates: dict[int, str]) -> Float64Array:
        """Steps 1-2 (and the proofs by tightening) for every row; fills the rows they decide, returns seconds spent."""
        xs, codes, stage = out
        assert problem.unit_tol is not None
        t0 = time.perf_counter()
        n = problem.n_targets
        walk = _Restarts(problem, *_newton(problem, start_points(problem)), np.random.default_rng(self.seed),
                         (LOCAL_SHARE if searcher.tightens else LOCAL_SHARE_LARGE) * self.time_limit, t0)
        spent = np.full(n, (time.perf_counter() - t0) / max(n, 1))      # the first run, shared by every row
        if searcher.tightens:
            t1 = time.perf_counter()
            walk.run(min(QUICK_RESTARTS, self.restarts))
            spent += (time.perf_counter() - t1) / max(n, 1)
            self._prove(problem, searcher, walk, out, tights, certificates, spent)
        t2, n_open = time.perf_counter(), max(walk.open_rows().size, 1)
        walk.run(self.restarts)
        spent[walk.open_rows()] += (time.perf_counter() - t2) / n_open
        solved = walk.solved()
        xs[solved], codes[solved], stage[solved] = walk.best[solved], Status.CONVERGED, "local"
        for t in walk.open_rows():
            t1 = time.perf_counter()
            found = searcher.from_pattern(walk.best[t], problem.y[t], problem.unit_tol[t])
            if found is not None:
                xs[t], codes[t], stage[t] = found, Status.CONVERGED, "pattern"
            spent[t] += time.perf_counter() - t1
        return spent

    def _prove(self, problem: Problem, searcher: Searcher, walk: _Restarts, out: tuple[Float64Array,
               NDArray[np.int8], NDArray[np.object_]], tights: dict[int, Tightened], certificates: dict[int, str],
               spent: Float64Array) -> None:
        """Bound tightening for each target the quick restarts left open: proofs close rows, the rest keep bounds."""
        xs, codes, stage = out
        assert problem.unit_tol is not None
        for t in walk.open_rows():
            t1 = time.perf_counter()
            tight = searcher.prove(problem.y[t], problem.unit_tol[t], TIGHTEN_SHARE * self.time_limit)
            assert tight is not None
            spent[t] += time.perf_counter() - t1
            if not tight.infeasible:
                tights[int(t)] = tight
                continue
            band = np.maximum(problem.unit_tol[t], PROOF_BAND)
            v = infeasible_verdict(tight, band, spent[t], problem.model.n_in)
            xs[t], codes[t], stage[t], certificates[int(t)] = v.x, v.status, v.stage, v.certificate
            walk.closed[t] = True


class _Restarts:
    """Batched ``newton`` from random starts, in doubling rounds, for the targets still open; keeps the best point."""

    def __init__(self, problem: Problem, best: Float64Array, best_r: Float64Array, rng: np.random.Generator,
                 seconds_per_row: float, t0: float):
        self.problem, self.best, self.best_r, self.rng = problem, best, best_r, rng
        self.seconds_per_row, self.t0 = seconds_per_row, t0
        self.used, self.k, self.per_start = 0, 0, 0.0
        self.closed = np.zeros(problem.n_targets, dtype=bool)       # decided otherwise (a proof): no more restarts

    def solved(self) -> NDArray[np.bool_]:
        assert self.problem.unit_tol is not None
        return np.all(self.best_r <= self.problem.unit_tol, axis=1) & ~self.closed

    def open_rows(self) -> NDArray[np.int64]:
        assert self.problem.unit_tol is not None
        return np.flatnonzero(np.any(self.best_r > self.problem.unit_tol, axis=1) & ~self.closed)

    def run(self, upto: int) -> None:
        """Restart rounds until ``upto`` starts per target are used, every target is solved, or the time is up."""
        problem = self.problem
        while self.used < upto:
            open_rows = self.open_rows()
            m = min(2 ** self.k, upto - self.used)   # doubling rounds: few kernel calls, little wasted work
            # at most seconds_per_row of each open target's time goes to restarts, this round's predicted time
            # (the last round's per start) included: the MILP gets the rest, and the time limit holds
            ahead = self.per_start * m * open_rows.size
            if not open_rows.size or time.perf_counter() + ahead - self.t0 > self.seconds_per_row * open_rows.size:
                break
            self.used, self.k = self.used + m, self.k + 1
            rows = np.repeat(open_rows, m)
            t = time.perf_counter()
            x, r = _newton(problem.rows(rows), _random_starts(problem, self.rng, rows.size), second_chances=False)
            self.per_start = (time.perf_counter() - t) / rows.size
            worst = np.max(r, axis=1).reshape(open_rows.size, m)
            pick = np.argmin(worst, axis=1)
            chosen = np.arange(open_rows.size) * m + pick
            better = worst[np.arange(open_rows.size), pick] < np.max(self.best_r[open_rows], axis=1)
            self.best[open_rows[better]], self.best_r[open_rows[better]] = x[chosen[better]], r[chosen[better]]


def _random_starts(problem: Problem, rng: np.random.Generator, k: int) -> Float64Array:
    """``k`` uniform points, alternately in the whole box and in its central quarter."""
    assert problem.lower is not None and problem.upper is not None
    centre, half = 0.5 * (problem.lower + problem.upper), 0.5 * (problem.upper - problem.lower)
    scale = np.where(np.arange(k) % 2 == 0, 1.0, 0.25)[:, None]
    return rng.uniform(centre - scale * half, centre + scale * half, size=(k, problem.model.n_in))


def _newton(problem: Problem, starts: Float64Array, second_chances: bool = True) -> tuple[Float64Array, Float64Array]:
    """Batched ``newton`` from ``starts``: the end points and their absolute residuals per unit.

    ``second_chances``: newton's continuation and informed start for what is
    still open (the first run); the random restarts skip them (measured: they
    took 3/4 of a restart round's time).
    """
    # the random restarts here are the milp's own (bounded by its time limit), so newton's random restarts
    # and per-row trf would only spend that time twice
    solver = GaussNewton(restarts=0, fallback=False)
    rows = problem.rows(slice(None), x0=starts)
    block = solver.solve_block(rows) if second_chances else solver.local_run(rows)
    x = np.where(np.isfinite(block.x), block.x, starts)
    x = np.clip(x, problem.lower, problem.upper)
    r = np.abs(problem.model.forward(x) - problem.y)
    return x, np.where(np.isfinite(r), r, np.inf)
