"""numba kernels of the ``newton`` solver: structured Gauss–Newton and Levenberg–Marquardt over lanes.

Both phases run the same search over blocks of ``LANES`` targets (see
:func:`_gn_chunk` and :func:`_lm_chunk`): load a target into every free lane,
then repeat *step* (a trial point per lane), *evaluate* (all trial points
together), *decide* (accept or reject per lane, then the termination ladder
:func:`~.primitives.verdict`), retiring finished lanes and loading the next
targets.  They differ in their step and in what a rejected step means:

* **structured Gauss–Newton** (chains of square, invertible layers, no
  bounds): ``d = -J^{-1} r`` pushed back layer by layer,
  ``v <- W_l^{-T} (v / f'(z_l))``, with the layer inverses packed once; no
  Jacobian is formed.  A step that does not lower the cost, or divides by a
  vanishing derivative, hands the target over (``LaneState.HAND_OVER``) to
* **Levenberg–Marquardt**: the Jacobian by forward mode, the inputs a bound
  freezes removed (:func:`~.primitives.frozen`), the damped normal equations
  of size ``min(n_in, n_out)`` (``(J^T J + lambda I) d = -J^T r`` when tall or
  square; ``(J J^T + lambda I) u = r``, ``d = -J^T u`` when wide: the
  minimum-norm step), ``lambda = mu * max(diag)``, ``x + d`` clipped to the
  box.  A rejected step grows ``mu``; an accepted one shrinks it (to 0: pure
  Gauss–Newton).

Batches run as chunks of targets on numba's thread count: ``nogil`` chunk
kernels called from a thread pool (see :func:`~.primitives.run_chunks` for why not
``prange``).  The NumPy twins are :func:`~.twins.gn_square_reference` and
:func:`~.twins.lm_reference`.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np
from numba import njit

from ...status import LaneState, Status
from . import compile_ahead
from .forward import forward_jac_lanes, forward_store_lanes
from .primitives import (
    FASTMATH, LANES, Lanes, cholesky_lanes, frozen, lane_residual, load_lane, next_lane, record_lane, run_lane_kernel,
    solve_lanes, tol_at, verdict,
)

__all__ = ["lm_batch", "gn_square_batch", "compile_kernels", "MU_START", "MU_GROW", "MU_SHRINK", "MU_FLOOR", "MAX_TRIES",
           "PROGRESS_RTOL", "DERIV_FLOOR"]

#: damping factor used on the first failure of a pure Gauss–Newton step
MU_START = 1e-10
#: factor by which ``mu`` grows after a rejected step / shrinks after an accepted one
MU_GROW = 10.0
MU_SHRINK = 10.0
#: below this ``mu`` is reset to 0 (pure Gauss–Newton)
MU_FLOOR = 1e-12
#: retries with growing damping before declaring the target stalled
MAX_TRIES = 40
#: an iteration that lowers the cost by less than this fraction counts as no progress
PROGRESS_RTOL = 1e-6
#: a derivative below this (relative to the largest in its layer) ends the structured phase
DERIV_FLOOR = 1e-12
#: a step shorter than this (relative to 1 + max |x|) has vanished in rounding
STEP_FLOOR = 4e-16


# ---------------------------------------------------------------------------
# Structured Gauss–Newton


#: Per-lane state of the structured phase; ``acts``/``derivs`` (sum(sizes), L) are every layer at ``x_new``.
_GnState = namedtuple("_GnState", "x x_new acts derivs cost it ok v u dmax zbuf")


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _gn_step(pm, s, lanes, ys, out_off):
    """``x_new = x - J^{-1} r`` per lane, pushed back through the layer inverses.

    ``s.ok[l]`` becomes False where a derivative vanishes (the step is then discarded).
    """
    L = LANES
    n0 = pm.sizes[0]
    # tuple fields as locals, out of the loops: each read of a field inside a loop costs a reference-count update
    winv, w_off = pm.winv, pm.w_off
    v, u, dmax, derivs, acts, ok, x, x_new = s.v, s.u, s.dmax, s.derivs, s.acts, s.ok, s.x, s.x_new
    target, fresh = lanes.target, lanes.fresh
    for j in range(n0):
        for l in range(L):
            t = target[l]
            v[j, l] = (ys[t, j] - acts[out_off + j, l]) if t >= 0 else 0.0
    for l in range(L):
        ok[l] = True
    off = out_off
    for layer in range(pm.codes.shape[0] - 1, -1, -1):
        for l in range(L):
            dmax[l] = 0.0
        for j in range(n0):
            for l in range(L):
                dmax[l] = max(dmax[l], abs(derivs[off + j, l]))
        for j in range(n0):
            for l in range(L):
                dj = derivs[off + j, l]
                if not (abs(dj) > DERIV_FLOOR * dmax[l]):
                    ok[l] = False
                    dj = 1.0
                v[j, l] /= dj
        row0 = w_off[layer]
        for i in range(n0):
            for l in range(L):
                u[i, l] = 0.0
        for j in range(n0):
            for i in range(n0):
                q = winv[row0 + j * n0 + i]
                for l in range(L):
                    u[i, l] += q * v[j, l]
        for i in range(n0):
            for l in range(L):
                v[i, l] = u[i, l]
        off -= n0
    for l in range(L):
        if target[l] >= 0 and not fresh[l]:
            for k in range(n0):
                x_new[k, l] = x[k, l] + v[k, l]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _gn_decide(s, lanes, ys, cfg, out_off, out, record, x0s, next_t, stop):
    """Accept every busy lane's trial point or hand it over, apply the ladder, retire and reload lanes.

    Returns ``(next_t, busy)``.  Inlined, tuple fields read once, and in the lane loop a call with arrays only
    for a lane that retires: each array passed costs a reference-count update (10 to 40 % of the phase).
    """
    target, fresh, it, x, x_new, cost, ok, acts = lanes.target, lanes.fresh, s.it, s.x, s.x_new, s.cost, s.ok, s.acts
    tols, max_iter = cfg.tol, cfg.max_iter
    busy = False
    for l in range(LANES):
        t = target[l]
        if t < 0:
            continue
        c_new, r_new = lane_residual(acts, out_off, ys, t, l)
        st = LaneState.RUNNING.value
        if fresh[l]:
            fresh[l] = False
            it[l] = 0
        elif ok[l] and c_new < cost[l]:
            it[l] += 1
        else:
            st = LaneState.HAND_OVER.value  # no decrease (or a vanishing derivative): LM takes over at x
        if st == LaneState.RUNNING.value:
            cost[l] = c_new
            for k in range(x.shape[0]):
                x[k, l] = x_new[k, l]
            if record:
                record_lane(out, it[l], x, l)
            st = verdict(r_new, tol_at(tols, t), it[l], max_iter, False)
        if st != LaneState.RUNNING.value:
            next_t = next_lane(l, st, x, out, it, target, fresh, x_new, x0s, next_t, stop)
        busy = busy or target[l] >= 0
    return next_t, busy


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _gn_chunk(pm, cfg, x0s, ys, first, stop, out, record):
    """Structured Gauss–Newton for targets ``first:stop``, ``LANES`` at a time (algorithm: module docstring)."""
    L = LANES
    n0 = pm.sizes[0]
    total = np.sum(pm.sizes)
    s = _GnState(np.zeros((n0, L)), np.zeros((n0, L)), np.zeros((total, L)), np.zeros((total, L)), np.zeros(L),
                 np.zeros(L, dtype=np.int64), np.zeros(L, dtype=np.bool_), np.zeros((n0, L)), np.zeros((n0, L)),
                 np.zeros(L), np.empty(L))
    lanes = Lanes(np.full(L, -1, dtype=np.int64), np.zeros(L, dtype=np.bool_))
    out_off = total - n0
    next_t = first
    for l in range(L):
        next_t = load_lane(l, next_t, stop, lanes.target, lanes.fresh, s.x_new, x0s)
    busy = True
    while busy:
        _gn_step(pm, s, lanes, ys, out_off)
        forward_store_lanes(pm, s.x_new, s.acts, s.derivs, s.zbuf)
        next_t, busy = _gn_decide(s, lanes, ys, cfg, out_off, out, record, x0s, next_t, stop)


# ---------------------------------------------------------------------------
# Levenberg–Marquardt


#: Per-lane state of the damped phase (``jac`` is (n_out, n_in * L), entry ``[j, k * L + l]``) and scratch.
_LmState = namedtuple("_LmState", "x x_new r out jac jac_new cost mu it gain tries solved scale step grad free mat sol piv")


@njit(cache=True, inline="always")
def _lm_state(n0, m, p):
    L = LANES
    return _LmState(np.zeros((n0, L)), np.zeros((n0, L)), np.zeros((m, L)), np.zeros((m, L)), np.zeros((m, n0 * L)),
                    np.zeros((m, n0 * L)), np.zeros(L), np.zeros(L), np.zeros(L, dtype=np.int64), np.zeros(L),
                    np.zeros(L, dtype=np.int64), np.zeros(L, dtype=np.bool_), np.zeros(L), np.zeros(L),
                    np.empty((n0, L)), np.ones((n0, L)), np.empty((p, p, L)), np.empty((p, L)), np.empty(L))


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _lm_system(s, cfg, wide):
    """The damped normal equations of every lane in ``s.mat`` (lower triangle) and ``s.sol`` (right-hand side)."""
    L = LANES
    # tuple fields as locals, out of the loops (see _gn_decide)
    x, r, grad, sol, mu, scale, solved = s.x, s.r, s.grad, s.sol, s.mu, s.scale, s.solved
    lower, upper = cfg.lower, cfg.upper
    n0, m = x.shape[0], r.shape[0]
    p, mat, jac, free = sol.shape[0], s.mat, s.jac, s.free
    for k in range(n0):
        for l in range(L):
            g = 0.0
            for j in range(m):
                g += jac[j, k * L + l] * r[j, l]
            grad[k, l] = g
            free[k, l] = 0.0 if frozen(x[k, l], g, lower[k], upper[k], cfg.has_bounds) else 1.0
    # plain loops, not slice assignment: numba's shape-checked setitem costs seconds of compile time
    for i in range(p):
        for j in range(p):
            for l in range(L):
                mat[i, j, l] = 0.0
    if wide:
        for k in range(n0):
            for i in range(m):
                for j in range(i + 1):
                    for l in range(L):
                        mat[i, j, l] += jac[i, k * L + l] * jac[j, k * L + l] * free[k, l]
        for i in range(m):
            for l in range(L):
                sol[i, l] = r[i, l]
    else:
        for q in range(m):
            for i in range(n0):
                for j in range(i + 1):
                    for l in range(L):
                        mat[i, j, l] += jac[q, i * L + l] * jac[q, j * L + l]
        for i in range(n0):
            for j in range(i + 1):
                for l in range(L):
                    mat[i, j, l] *= free[i, l] * free[j, l]
            for l in range(L):
                sol[i, l] = -grad[i, l] * free[i, l]
    for l in range(L):
        sc = 0.0
        for i in range(p):
            sc = max(sc, mat[i, i, l])
        scale[l] = sc
        solved[l] = sc > 0.0
    for i in range(p):
        for l in range(L):
            if not wide and free[i, l] == 0.0:
                mat[i, i, l] = 1.0
            mat[i, i, l] += mu[l] * scale[l]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _lm_step(s, lanes, cfg, wide):
    """The damped Gauss–Newton trial point ``x_new`` of every busy lane (``x`` where the system is singular)."""
    L = LANES
    _lm_system(s, cfg, wide)
    x, x_new, sol, jac, free, step, solved = s.x, s.x_new, s.sol, s.jac, s.free, s.step, s.solved
    target, fresh, lower, upper = lanes.target, lanes.fresh, cfg.lower, cfg.upper
    n0, m, p = x.shape[0], s.r.shape[0], sol.shape[0]
    cholesky_lanes(s.mat, p, solved, s.piv)
    solve_lanes(s.mat, sol, p)
    for l in range(L):
        step[l] = 0.0
        if target[l] < 0 or fresh[l]:
            continue
        ok = solved[l]
        for i in range(p):
            if not math.isfinite(sol[i, l]):
                ok = False
        solved[l] = ok
        for k in range(n0):
            xn = x[k, l]
            if ok:
                if wide:
                    d = 0.0
                    for j in range(m):
                        d -= jac[j, k * L + l] * sol[j, l]
                    d *= free[k, l]
                else:
                    d = sol[k, l]
                xn = xn + d
                if cfg.has_bounds:
                    xn = min(max(xn, lower[k]), upper[k])
            x_new[k, l] = xn
            step[l] = max(step[l], abs(xn - x[k, l]))


@njit(cache=True, inline="always")
def _no_decreasing_step(tries, solved, step, scale, x, l):
    """After a rejected step: damping exhausted, the step vanished in rounding, or no free input matters."""
    xmax = 0.0
    for k in range(x.shape[0]):
        xmax = max(xmax, abs(x[k, l]))
    return tries >= MAX_TRIES or (solved and step <= STEP_FLOOR * (1.0 + xmax)) or not (scale > 0.0)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _lm_decide(s, lanes, ys, cfg, out, record, x0s, next_t, stop):
    """Accept or reject every busy lane's trial point, apply the ladder, retire and reload lanes.

    Accepted: move to the trial point, shrink ``mu`` (to 0 below ``MU_FLOOR``).
    Rejected: grow ``mu`` and retry, or STALLED.  A fresh lane takes its start
    point, continuing the iteration count of the structured phase.  Returns
    ``(next_t, busy)``; written like :func:`_gn_decide` (see there for why).
    """
    L = LANES
    target, fresh = lanes.target, lanes.fresh
    x, x_new, r, vals, jac, jac_new = s.x, s.x_new, s.r, s.out, s.jac, s.jac_new
    cost, mu, it, gain, tries, solved = s.cost, s.mu, s.it, s.gain, s.tries, s.solved
    step, scale, tols, max_iter = s.step, s.scale, cfg.tol, cfg.max_iter
    busy = False
    for l in range(L):
        t = target[l]
        if t < 0:
            continue
        c_new, r_max = lane_residual(vals, 0, ys, t, l)
        if fresh[l] or (solved[l] and c_new < cost[l]):
            if fresh[l]:
                gain[l] = math.inf
                it[l] = out.iters[t]
                mu[l] = 0.0
                fresh[l] = False
            else:
                gain[l] = (cost[l] - c_new) / cost[l]
                it[l] += 1
                mu[l] = mu[l] / MU_SHRINK if mu[l] / MU_SHRINK >= MU_FLOOR else 0.0
            tries[l] = 0
            cost[l] = c_new
            for k in range(x.shape[0]):
                x[k, l] = x_new[k, l]
            for j in range(r.shape[0]):
                r[j, l] = vals[j, l] - ys[t, j]
                for k in range(x.shape[0]):
                    jac[j, k * L + l] = jac_new[j, k * L + l]
            if record:
                record_lane(out, it[l], x, l)
            # out of iterations with a last step that barely helped: settled on a non-zero residual
            at_minimum = it[l] >= max_iter and gain[l] <= PROGRESS_RTOL
            st = verdict(r_max, tol_at(tols, t), it[l], max_iter, at_minimum)
        else:
            tries[l] += 1
            mu[l] = MU_START if mu[l] == 0.0 else mu[l] * MU_GROW
            stalled = _no_decreasing_step(tries[l], solved[l], step[l], scale[l], x, l)
            st = Status.STALLED.value if stalled else LaneState.RUNNING.value
        if st != LaneState.RUNNING.value:
            next_t = next_lane(l, st, x, out, it, target, fresh, x_new, x0s, next_t, stop)
        busy = busy or target[l] >= 0
    return next_t, busy


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _lm_chunk(pm, cfg, x0s, ys, first, stop, out, record):
    """Levenberg–Marquardt for targets ``first:stop``, ``LANES`` at a time (algorithm: module docstring).

    ``out.iters`` on entry: iterations already spent per target (counted towards ``max_iter``).
    """
    L = LANES
    n0, m = pm.sizes[0], pm.sizes[pm.sizes.shape[0] - 1]
    mw = np.max(pm.sizes)
    wide = m < n0
    s = _lm_state(n0, m, min(n0, m))
    lanes = Lanes(np.full(L, -1, dtype=np.int64), np.zeros(L, dtype=np.bool_))
    cur, nxt = np.empty((mw, L)), np.empty((mw, L))
    zbuf, dbuf = np.empty(L), np.empty(L)
    tc, tn = np.empty((mw, n0 * L)), np.empty((mw, n0 * L))
    next_t = first
    for l in range(L):
        next_t = load_lane(l, next_t, stop, lanes.target, lanes.fresh, s.x_new, x0s)
    busy = True
    while busy:
        _lm_step(s, lanes, cfg, wide)
        forward_jac_lanes(pm, s.x_new, cur, nxt, zbuf, dbuf, tc, tn, s.out, s.jac_new)
        next_t, busy = _lm_decide(s, lanes, ys, cfg, out, record, x0s, next_t, stop)


# ---------------------------------------------------------------------------
# Batches: chunks on a thread pool


def lm_batch(pm, cfg, x0s, ys, chunk: int, out) -> None:
    """Levenberg–Marquardt over a batch, ``chunk`` targets per work item.

    Parameters
    ----------
    pm : PackedModel
    cfg : Settings
        ``tol``, ``max_iter`` and the box.
    x0s, ys : (N, n_in), (N, n_out) float64
        Starting points and targets.
    chunk : int
        Targets per work item.
    out : Outputs
        ``xs`` (N, n_in), ``status`` (N,) int8 :class:`Status` codes, ``iters``
        (N,) (in: iterations already spent; out: total), ``hist``.
    """
    compile_ahead.wait_all()  # the damped kernel, if it compiles in the background (compile_kernels)
    run_lane_kernel(_lm_chunk, pm, cfg, x0s, ys, chunk, out)


def gn_square_batch(pm, cfg, x0s, ys, chunk: int, out) -> None:
    """Structured Gauss–Newton over a batch of a square chain (``pm.winv`` present, ``cfg`` without bounds).

    Same parameters as :func:`lm_batch`.  ``out.status`` is
    ``LaneState.HAND_OVER`` where the target needs the damped solver (its
    ``out.xs`` row is where to restart, ``out.iters`` the iterations spent).
    """
    run_lane_kernel(_gn_chunk, pm, cfg, x0s, ys, chunk, out)


def compile_kernels(pm, cfg, x0s, ys, out) -> None:
    """Compile (or load from cache) the kernel a batch of these argument types starts with; the damped one ahead.

    A square chain starts with the structured kernel (compiled here) and may
    need the damped one later: that one compiles in the background
    (:mod:`.compile_ahead`) and :func:`lm_batch` waits for it before its batch.
    Each kernel runs on an empty range: numba specialises it for exactly the
    types the batch passes.
    """
    args = (pm, cfg, x0s, ys, 0, 0, out, False)
    if not pm.structured:
        _lm_chunk(*args)
        return
    _gn_chunk(*args)
    types = tuple(numba.typeof(a) for a in args)  # one job per signature
    compile_ahead.start(f"_lm_chunk/{hash(types):x}", lambda: _lm_chunk(*args))
