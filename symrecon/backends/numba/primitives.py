"""numba primitives shared by every solver kernel, with NumPy twins of the decision rules.

* :func:`affine`: one layer's pre-activation for one target.
* Lanes (several targets advanced side by side, the lane axis innermost):
  :class:`Lanes`, :func:`load_lane`, :func:`next_lane`, :func:`retire_lane`,
  :func:`lane_residual`; chunks of targets on a thread pool: :func:`run_chunks`.
* The decision rules, written once: the active set (:func:`frozen`, twin
  :func:`frozen_mask`) and the termination ladder (:func:`verdict`, twin
  :func:`verdicts`).
* Lane linear algebra: :func:`cholesky_lanes` and :func:`solve_lanes`, a
  Cholesky factorisation and its two triangular solves for one small system
  per lane.

Kernels write :class:`~symrecon.status.Status` codes into ``int8`` arrays;
:class:`~symrecon.status.LaneState` marks a lane that is still running or is
handed from one phase to the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numba
import numpy as np
from numba import njit
from numpy.typing import NDArray

from ...status import LaneState, Status

__all__ = ["FASTMATH", "LANES", "Lanes", "affine", "load_lane", "next_lane", "retire_lane", "record_lane",
           "lane_residual", "run_chunks", "run_lane_kernel", "frozen", "frozen_mask",
           "tol_at", "verdict", "verdicts", "cholesky_lanes", "solve_lanes", "project"]

#: Floating-point flags of the hot loops.  Only re-association (so that dot
#: products can be vectorised with several partial sums instead of one serial
#: chain, ~4x faster on 16-wide layers) and FMA contraction: both change results
#: by rounding only.  No "nnan"/"ninf": NaN and inf must survive, because the
#: solvers detect divergence with them.
FASTMATH = {"reassoc", "contract"}

#: targets processed side by side by one thread (the innermost, contiguous array axis)
LANES = 16


@njit(cache=True, fastmath=FASTMATH, inline="always")
def affine(a, a_off, pm, layer, z):
    """``z[:n_o] = b_l + a[a_off:a_off + n_i] @ W_l`` for layer ``layer`` of the packed model ``pm``.

    Row by row of the Keras-layout kernel, so the inner loop is contiguous multiply-adds.
    """
    n_i = pm.sizes[layer]
    n_o = pm.sizes[layer + 1]
    w_off = pm.w_off[layer]
    b_off = pm.b_off[layer]
    for j in range(n_o):
        z[j] = pm.b[b_off + j]
    for i in range(n_i):
        ai = a[a_off + i]
        row = w_off + i * n_o
        for j in range(n_o):
            z[j] += ai * pm.wk[row + j]


@njit(cache=True, fastmath=FASTMATH)
def project(x, cfg):
    """Clip ``x`` (n_in,) in place onto the box of the settings ``cfg`` (when it has one)."""
    if cfg.has_bounds:
        for k in range(x.shape[0]):
            x[k] = min(max(x[k], cfg.lower[k]), cfg.upper[k])


# ---------------------------------------------------------------------------
# Lanes: ``target[l]`` is the row lane ``l`` works on (-1: idle); ``fresh[l]``
# says its starting point is loaded but not yet evaluated.


@njit(cache=True, inline="always")
def load_lane(l, next_t, stop, target, fresh, x_new, x0s):
    """Give lane ``l`` the next target's starting point (or leave it idle); returns the new ``next_t``."""
    target[l] = -1
    if next_t < stop:
        target[l] = next_t
        fresh[l] = True
        for k in range(x0s.shape[1]):
            x_new[k, l] = x0s[next_t, k]
        next_t += 1
    return next_t


@njit(cache=True, inline="always")
def next_lane(l, st, x, out, it, target, fresh, x_new, x0s, next_t, stop):
    """Retire lane ``l`` with its verdict (or hand-over) ``st`` and load the next target; returns ``next_t``.

    Call it only for a lane that has a verdict (``st != LaneState.RUNNING``):
    an inlined call costs a reference-count update per array argument, which
    made the structured phase ~10 % slower when every lane went through it
    every round.
    """
    retire_lane(l, st, x, out, it, target)
    return load_lane(l, next_t, stop, target, fresh, x_new, x0s)


class Lanes(NamedTuple):
    """Which target each lane holds (-1: idle) and whether its start point still awaits evaluation."""

    target: Any
    fresh: Any


@njit(cache=True, inline="always")
def retire_lane(l, st, x, out, it, target):
    """Write lane ``l``'s answer ``x[:, l]``, code ``st`` and iteration count into the :class:`Outputs` ``out``."""
    t = target[l]
    for k in range(x.shape[0]):
        out.xs[t, k] = x[k, l]
    out.status[t] = st
    out.iters[t] = it[l]


@njit(cache=True, inline="always")
def record_lane(out, it, x, l):
    """Store lane ``l``'s point as iteration ``it`` of the history."""
    for k in range(x.shape[0]):
        out.hist[it, k] = x[k, l]


@njit(cache=True, inline="always")
def lane_residual(vals, off, ys, t, l):
    """``(||r||^2, max |r_j|)`` of lane ``l`` with ``r_j = vals[off + j, l] - ys[t, j]`` (NaN-propagating max)."""
    c = 0.0
    r_max = 0.0
    for j in range(ys.shape[1]):
        rj = vals[off + j, l] - ys[t, j]
        c += rj * rj
        a = abs(rj)
        if a > r_max or a != a:
            r_max = a
    return c, r_max


def run_chunks(run: Callable[[int], None], starts: Sequence[int]) -> None:
    """Call ``run(start)`` for every chunk on ``numba.get_num_threads()`` threads.

    Parallel over the batch like the other kernels, but by threads calling a
    ``nogil`` chunk kernel rather than a ``prange`` loop: inside a
    ``parallel=True`` function numba compiles the (large) chunk kernel again
    with its parallel passes, which measured 25 s of extra compilation on the
    2-core benchmark machine for no run-time gain (each chunk is sequential).
    Chunks write disjoint rows, so no synchronisation is needed.
    """
    workers = min(numba.get_num_threads(), len(starts))
    if workers <= 1:
        for start in starts:
            run(start)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(run, starts):
            pass


def run_lane_kernel(chunk_kernel, pm, cfg, x0s, ys, chunk: int, out) -> None:
    """Run the ``nogil`` lane kernel ``chunk_kernel(pm, cfg, x0s, ys, first, stop, out, record)`` over a batch.

    ``chunk`` targets per work item (see :func:`run_chunks`); ``record``: the
    history of a single target is kept when ``out.hist`` has room for it.
    """
    n = ys.shape[0]
    record = n == 1 and out.hist.shape[0] > cfg.max_iter

    def run(start: int) -> None:
        chunk_kernel(pm, cfg, x0s, ys, start, min(n, start + chunk), out, record)

    run_chunks(run, range(0, n, chunk))


# ---------------------------------------------------------------------------
# Decision rules (each with its NumPy twin, used by the reference solvers).


@njit(cache=True, inline="always")
def frozen(xk, gk, lo, hi, has_bounds):
    """The active-set rule: input ``k`` sits on a bound that the cost gradient ``gk`` pushes against."""
    return has_bounds and ((xk <= lo and gk > 0.0) or (xk >= hi and gk < 0.0))


def frozen_mask(x: NDArray[np.float64], g: NDArray[np.float64], lower, upper) -> NDArray[np.bool_]:
    """NumPy twin of :func:`frozen` for arrays (no bounds: nothing is frozen)."""
    if lower is None:
        return np.zeros(np.shape(x), dtype=bool)
    return ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))


@njit(cache=True, inline="always")
def target_tol(cfg, t):
    """Target ``t``'s tolerance: ``cfg.tol[t]``, or the one value given for every target."""
    return cfg.tol[t] if cfg.tol.shape[0] > 1 else cfg.tol[0]


@njit(cache=True, inline="always")
def tol_at(tols, t):
    """:func:`target_tol` from the settings' ``tol`` array itself, for per-lane loops.

    A field read from the settings tuple inside a loop costs a reference-count
    update each time; the lane kernels read ``cfg.tol`` once per round.
    """
    return tols[t] if tols.shape[0] > 1 else tols[0]


@njit(cache=True, inline="always")
def verdict(res, tol, it, max_iter, stalled):
    """The termination ladder, in order: diverged, converged, stalled, iteration limit, else running.

    ``res`` is the max-norm residual (non-finite: diverged; the cost ``||r||^2``
    is not used because it overflows long before the residual does),
    ``stalled`` the caller's own no-progress test.
    """
    if not math.isfinite(res):
        return Status.DIVERGED.value
    if res <= tol:
        return Status.CONVERGED.value
    if stalled:
        return Status.STALLED.value
    if it >= max_iter:
        return Status.MAX_ITER.value
    return LaneState.RUNNING.value


def verdicts(res, tol: float, iters, max_iter: int, stalled) -> NDArray[np.int8]:
    """NumPy twin of :func:`verdict`, elementwise (``LaneState.RUNNING`` where none applies)."""
    res = np.asarray(res)
    with np.errstate(invalid="ignore"):
        conditions = [~np.isfinite(res), res <= tol, np.asarray(stalled, dtype=bool), np.asarray(iters) >= max_iter]
    codes = [Status.DIVERGED, Status.CONVERGED, Status.STALLED, Status.MAX_ITER]
    return np.select(conditions, codes, default=LaneState.RUNNING).astype(np.int8)


# ---------------------------------------------------------------------------
# Lane linear algebra: one (p, p) system per lane, stored as mat[i, j, lane].


@njit(cache=True, fastmath=FASTMATH, inline="always")
def cholesky_lanes(mat, p, solved, piv):
    """Overwrite the lower triangle of every lane's ``mat[:p, :p]`` with its Cholesky factor.

    A lane whose pivot is not positive is marked ``solved[l] = False`` and the
    pivot replaced by 1, which keeps its numbers finite (its step is discarded).
    ``piv`` is scratch (lanes,).
    """
    n_lanes = mat.shape[2]
    for j in range(p):
        for l in range(n_lanes):
            s = mat[j, j, l]
            for k in range(j):
                s -= mat[j, k, l] * mat[j, k, l]
            if not (s > 0.0):
                solved[l] = False
                s = 1.0
            piv[l] = math.sqrt(s)
            mat[j, j, l] = piv[l]
        for i in range(j + 1, p):
            for l in range(n_lanes):
                s = mat[i, j, l]
                for k in range(j):
                    s -= mat[i, k, l] * mat[j, k, l]
                mat[i, j, l] = s / piv[l]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def solve_lanes(mat, sol, p):
    """Solve ``L L^T s = sol`` in place for every lane, ``L`` the factor left by :func:`cholesky_lanes`."""
    n_lanes = mat.shape[2]
    for i in range(p):
        for l in range(n_lanes):
            s = sol[i, l]
            for k in range(i):
                s -= mat[i, k, l] * sol[k, l]
            sol[i, l] = s / mat[i, i, l]
    for i in range(p - 1, -1, -1):
        for l in range(n_lanes):
            s = sol[i, l]
            for k in range(i + 1, p):
                s -= mat[k, i, l] * sol[k, l]
            sol[i, l] = s / mat[i, i, l]
