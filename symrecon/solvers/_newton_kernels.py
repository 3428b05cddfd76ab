"""numba kernels of the batched Levenberg–Marquardt solver, and their NumPy twin.

Per target, one iteration is:

1. ``r = model(x) - y`` and ``J = d model / dx`` (forward mode, see
   :func:`~symrecon.solvers._kernels.forward_jac_one`);
2. with bounds, the *free* inputs: those not sitting on a bound that the
   gradient ``J^T r`` pushes against (the others are frozen for this step);
3. the damped Gauss–Newton step on the free inputs ``F``:

   * tall or square (``n_out >= n_in``): ``(J_F^T J_F + lambda I) d = -J_F^T r``;
   * wide (``n_out < n_in``): ``(J_F J_F^T + lambda I) u = r``, ``d = -J_F^T u``
     (the minimum-norm step, so from ``x0 = 0`` a wide linear first layer ends
     on the minimum-norm preimage);

   solved by a Cholesky factorisation of the small (``min(n_in, n_out)``)
   system, with ``lambda = mu * max(diag)``;
4. ``x_new = clip(x + d, lower, upper)``; accept if the cost ``||r||^2``
   decreases (then ``mu`` shrinks, reaching 0: pure Gauss–Newton, quadratic
   convergence), otherwise grow ``mu`` and retry.

Batches run as chunks of targets on numba's thread count (``nogil`` kernels
called from a thread pool, see :func:`lm_batch` for why not ``prange``); within
a chunk, ``LANES`` targets advance side by side.  Status codes (no exception
is ever raised inside a kernel):
converged (max-norm residual <= tol), max_iter, stalled (no decreasing step
exists or progress stopped at a non-zero residual: a local minimum, i.e. the
target is probably unreachable) and diverged (non-finite values).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit

from ._kernels import (
    FASTMATH,
    STATUS_CONVERGED,
    STATUS_DIVERGED,
    STATUS_MAX_ITER,
    STATUS_STALLED,
    PackedModel,
    act_vec,
    jacobian_reference,
)

__all__ = ["lm_batch", "lm_reference", "gn_square_batch", "gn_square_reference", "MU_START", "MU_GROW", "MU_SHRINK", "MAX_TRIES"]

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


#: targets processed side by side by one thread (the innermost, contiguous array axis)
LANES = 16


@njit(cache=True, inline="always")
def _load_lane(l, next_t, stop, target, fresh, x_new, x0s):
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
def _retire_lane(l, st, x, xs, status, iters, it, target):
    """Write lane ``l``'s answer, status code and iteration count for its target."""
    t = target[l]
    for k in range(x.shape[0]):
        xs[t, k] = x[k, l]
    status[t] = st
    iters[t] = it[l]


@njit(cache=True, inline="always")
def _lane_residual(out, off, ys, t, l):
    """``(||r||^2, max |r_j|)`` of lane ``l`` with ``r_j = out[off + j, l] - ys[t, j]`` (NaN-propagating max)."""
    c = 0.0
    r_max = 0.0
    for j in range(ys.shape[1]):
        rj = out[off + j, l] - ys[t, j]
        c += rj * rj
        a = abs(rj)
        if a > r_max or a != a:
            r_max = a
    return c, r_max


@njit(cache=True, fastmath=FASTMATH)
def _forward_jac_lanes(sizes, w, wk, w_off, b, b_off, codes, params, x, cur, nxt, zbuf, dbuf, tc, tn, out, jac):
    """Outputs and Jacobians of ``LANES`` inputs at once (structure of arrays).

    ``x`` (n_in, L); ``out`` (n_out, L); ``jac`` (n_out, n_in * L) with entry
    ``[j, k * L + l]`` = d out_j / d x_k of lane ``l``.  Keeping the lane axis
    innermost makes every inner loop a contiguous multiply-add over
    independent targets, which the compiler vectorises; the layer algebra is
    that of :func:`~symrecon.solvers._kernels.forward_jac_one`.
    """
    n_lanes = x.shape[1]
    n_layers = codes.shape[0]
    n0 = sizes[0]
    width = n0 * n_lanes
    for k in range(n0):
        for l in range(n_lanes):
            cur[k, l] = x[k, l]
    for layer in range(n_layers):
        n_i = sizes[layer]
        n_o = sizes[layer + 1]
        wo = w_off[layer]
        code = codes[layer]
        param = params[layer]
        for j in range(n_o):
            row = wo + j * n_i
            bj = b[b_off[layer] + j]
            for l in range(n_lanes):
                zbuf[l] = bj
            for i in range(n_i):
                wi = w[row + i]
                for l in range(n_lanes):
                    zbuf[l] += wi * cur[i, l]
            act_vec(zbuf, nxt[j], dbuf, n_lanes, code, param)
            trow = tn[j]
            if layer == 0:
                for k in range(n0):
                    wk = w[row + k]
                    for l in range(n_lanes):
                        trow[k * n_lanes + l] = dbuf[l] * wk
            else:
                for q in range(width):
                    trow[q] = 0.0
                for i in range(n_i):
                    wi = w[row + i]
                    src = tc[i]
                    for q in range(width):
                        trow[q] += wi * src[q]
                for k in range(n0):
                    for l in range(n_lanes):
                        trow[k * n_lanes + l] *= dbuf[l]
        cur, nxt = nxt, cur
        tc, tn = tn, tc
    for j in range(sizes[n_layers]):
        for l in range(n_lanes):
            out[j, l] = cur[j, l]
        for q in range(width):
            jac[j, q] = tc[j, q]


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _lm_chunk(sizes, w, wk, w_off, b, b_off, codes, params, x0s, ys, lower, upper, has_bounds, tol, max_iter,
              first, stop, xs, status, iters, hist, record):
    """Levenberg–Marquardt for targets ``first:stop``, ``LANES`` at a time.

    Each lane holds one target and its own state (``x``, damping ``mu``,
    iteration count); a lane whose target is finished loads the next one, so
    lanes stay busy whatever the iteration counts.  Every round computes a
    step for all busy lanes, evaluates all trial points together, then
    accepts or rejects per lane (the algorithm per target is exactly that of
    :func:`lm_reference`).
    """
    L = LANES
    n0 = sizes[0]
    m = sizes[sizes.shape[0] - 1]
    mw = np.max(sizes)
    wide = m < n0
    p = min(n0, m)
    # state per lane
    x = np.zeros((n0, L))
    x_new = np.zeros((n0, L))
    r = np.zeros((m, L))
    out = np.zeros((m, L))
    jac = np.zeros((m, n0 * L))
    jac_new = np.zeros((m, n0 * L))
    cost = np.zeros(L)
    res = np.zeros(L)
    mu = np.zeros(L)
    it = np.zeros(L, dtype=np.int64)
    gain = np.zeros(L)
    tries = np.zeros(L, dtype=np.int64)
    target = np.full(L, -1, dtype=np.int64)
    fresh = np.zeros(L, dtype=np.bool_)
    solved = np.zeros(L, dtype=np.bool_)
    scale = np.zeros(L)
    step = np.zeros(L)
    # scratch
    cur = np.empty((mw, L))
    nxt = np.empty((mw, L))
    zbuf = np.empty(L)
    dbuf = np.empty(L)
    tc = np.empty((mw, n0 * L))
    tn = np.empty((mw, n0 * L))
    grad = np.empty((n0, L))
    free = np.ones((n0, L))
    mat = np.empty((p, p, L))
    sol = np.empty((p, L))
    piv = np.empty(L)

    next_t = first
    for l in range(L):
        next_t = _load_lane(l, next_t, stop, target, fresh, x_new, x0s)
    busy = True
    while busy:
        # ---- A. a damped Gauss-Newton step for every busy, non-fresh lane
        for k in range(n0):
            for l in range(L):
                g = 0.0
                for j in range(m):
                    g += jac[j, k * L + l] * r[j, l]
                grad[k, l] = g
                fr = 1.0
                if has_bounds and ((x[k, l] <= lower[k] and g > 0.0) or (x[k, l] >= upper[k] and g < 0.0)):
                    fr = 0.0
                free[k, l] = fr
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
            for i in range(n0):
                for l in range(L):
                    sol[i, l] = -grad[i, l] * free[i, l]
        for l in range(L):
            s = 0.0
            for i in range(p):
                s = max(s, mat[i, i, l])
            scale[l] = s
            solved[l] = s > 0.0
        for i in range(p):
            for l in range(L):
                if not wide and free[i, l] == 0.0:
                    mat[i, i, l] = 1.0
                mat[i, i, l] += mu[l] * scale[l]
        # Cholesky, lower triangle, all lanes together; a lane whose pivot is not
        # positive is marked unsolved and its pivots replaced by 1 to keep it finite
        for j in range(p):
            for l in range(L):
                s = mat[j, j, l]
                for k in range(j):
                    s -= mat[j, k, l] * mat[j, k, l]
                if not (s > 0.0):
                    solved[l] = False
                    s = 1.0
                piv[l] = math.sqrt(s)
                mat[j, j, l] = piv[l]
            for i in range(j + 1, p):
                for l in range(L):
                    s = mat[i, j, l]
                    for k in range(j):
                        s -= mat[i, k, l] * mat[j, k, l]
                    mat[i, j, l] = s / piv[l]
        for i in range(p):
            for l in range(L):
                s = sol[i, l]
                for k in range(i):
                    s -= mat[i, k, l] * sol[k, l]
                sol[i, l] = s / mat[i, i, l]
        for i in range(p - 1, -1, -1):
            for l in range(L):
                s = sol[i, l]
                for k in range(i + 1, p):
                    s -= mat[k, i, l] * sol[k, l]
                sol[i, l] = s / mat[i, i, l]
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
                if ok:
                    if wide:
                        d = 0.0
                        for j in range(m):
                            d -= jac[j, k * L + l] * sol[j, l]
                        d *= free[k, l]
                    else:
                        d = sol[k, l]
                    xn = x[k, l] + d
                    if has_bounds:
                        xn = min(max(xn, lower[k]), upper[k])
                else:
                    xn = x[k, l]
                x_new[k, l] = xn
                step[l] = max(step[l], abs(xn - x[k, l]))

        # ---- B. evaluate every trial point (and the starting points of fresh lanes)
        _forward_jac_lanes(sizes, w, wk, w_off, b, b_off, codes, params, x_new, cur, nxt, zbuf, dbuf, tc, tn,
                           out, jac_new)

        # ---- C. accept / reject, finish and reload lanes
        busy = False
        for l in range(L):
            t = target[l]
            if t < 0:
                continue
            c_new, r_max = _lane_residual(out, 0, ys, t, l)
            take = fresh[l] or (solved[l] and c_new < cost[l])
            if take:
                if not fresh[l]:
                    gain[l] = (cost[l] - c_new) / cost[l]
                    it[l] += 1
                    mu[l] = mu[l] / MU_SHRINK
                    if mu[l] < MU_FLOOR:
                        mu[l] = 0.0
                else:
                    gain[l] = math.inf
                    it[l] = iters[t]  # iterations already spent on this target (phase 1)
                    mu[l] = 0.0
                fresh[l] = False
                tries[l] = 0
                cost[l] = c_new
                res[l] = r_max
                for k in range(n0):
                    x[k, l] = x_new[k, l]
                for j in range(m):
                    r[j, l] = out[j, l] - ys[t, j]
                    for k in range(n0):
                        jac[j, k * L + l] = jac_new[j, k * L + l]
                if record:
                    for k in range(n0):
                        hist[it[l], k] = x[k, l]
                st = 0
                if not math.isfinite(c_new):
                    st = STATUS_DIVERGED
                elif r_max <= tol:
                    st = STATUS_CONVERGED
                elif it[l] >= max_iter:
                    # out of iterations: if the last step barely helped, the iteration has
                    # settled on a non-zero residual (a local minimum), which is worth saying
                    st = STATUS_STALLED if gain[l] <= PROGRESS_RTOL else STATUS_MAX_ITER
            else:
                tries[l] += 1
                mu[l] = MU_START if mu[l] == 0.0 else mu[l] * MU_GROW
                xmax = 0.0
                for k in range(n0):
                    xmax = max(xmax, abs(x[k, l]))
                st = 0
                # no decreasing step: damping exhausted, the step vanished in rounding,
                # or the output does not depend on any free input
                if tries[l] >= MAX_TRIES or (solved[l] and step[l] <= 4e-16 * (1.0 + xmax)) \
                        or not (scale[l] > 0.0):
                    st = STATUS_STALLED
            if st != 0:
                _retire_lane(l, st, x, xs, status, iters, it, target)
                next_t = _load_lane(l, next_t, stop, target, fresh, x_new, x0s)
            if target[l] >= 0:
                busy = True


def lm_batch(sizes, w, wk, w_off, b, b_off, codes, params, x0s, ys, lower, upper, has_bounds, tol, max_iter,
             chunk, xs, status, iters, hist):
    """Levenberg–Marquardt over a batch: chunks of ``chunk`` targets run on numba's thread count.

    Parameters
    ----------
    x0s : (N, n_in) starting points; ys : (N, n_out) targets.
    lower, upper : (n_in,) bounds (ignored unless ``has_bounds``).
    tol : float, max-norm residual; max_iter : int.
    xs : (N, n_in) output; status : (N,) int8 output.
    iters : (N,) int64, in: iterations already spent (counted towards ``max_iter``); out: total.
    hist : (H, n_in); ``x`` per iteration, recorded only when N == 1 and H > max_iter.

    Notes
    -----
    Parallel over the batch like the other kernels, but by threads calling the
    ``nogil`` chunk kernel rather than a ``prange`` loop: inside a
    ``parallel=True`` function numba compiles the (large) chunk kernel again
    with its parallel passes, which measured 25 s of extra compilation on the
    2-core benchmark machine for no run-time gain (each chunk is sequential).
    Chunks write disjoint rows, so no synchronisation is needed.
    """
    n = ys.shape[0]
    record = n == 1 and hist.shape[0] > max_iter
    starts = range(0, n, chunk)

    def run(start):
        _lm_chunk(sizes, w, wk, w_off, b, b_off, codes, params, x0s, ys, lower, upper, has_bounds, tol, max_iter,
                  start, min(n, start + chunk), xs, status, iters, hist, record)

    _run_chunks(run, starts)


# ---------------------------------------------------------------------------
# Phase 1 for chains of square layers: Gauss-Newton without forming J.
#
# With every layer square, J = D_L W_L^T ... D_1 W_1^T (D_l = diag f'(z_l)), so
# the Gauss-Newton step d = -J^{-1} r is r pushed back through the layers:
# v <- W_l^{-T} (v / f'(z_l)), from the last layer to the first.  With the
# inverses precomputed once, an iteration costs one forward pass and L
# matrix-vector products instead of forming and factorising J (about 10x less
# work on a 16-wide network).  Any step that would divide by a vanishing
# derivative, or that does not lower the cost, ends this phase for the target,
# which the damped solver (lm_batch) then takes over from where it stopped.

#: a derivative below this (relative to the largest in its layer) ends the structured phase
DERIV_FLOOR = 1e-12


@njit(cache=True, fastmath=FASTMATH)
def _forward_store_lanes(sizes, w, wk, w_off, b, b_off, codes, params, x, acts, derivs, zbuf):
    """:func:`_forward_store` for ``LANES`` inputs at once: ``x`` (n_in, L), ``acts``/``derivs`` (sum(sizes), L).

    Returns the row offset of the output layer.  Lanes innermost: every
    multiply-add loop runs over independent targets and vectorises.
    """
    n_lanes = x.shape[1]
    n_layers = codes.shape[0]
    for k in range(sizes[0]):
        for l in range(n_lanes):
            acts[k, l] = x[k, l]
    off_in = 0
    off_out = sizes[0]
    for layer in range(n_layers):
        n_i = sizes[layer]
        n_o = sizes[layer + 1]
        wo = w_off[layer]
        for j in range(n_o):
            bj = b[b_off[layer] + j]
            for l in range(n_lanes):
                zbuf[l] = bj
            row = wo + j * n_i
            for i in range(n_i):
                wi = w[row + i]
                src = acts[off_in + i]
                for l in range(n_lanes):
                    zbuf[l] += wi * src[l]
            act_vec(zbuf, acts[off_out + j], derivs[off_out + j], n_lanes, codes[layer], params[layer])
        off_in = off_out
        off_out += n_o
    return off_in


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _gn_chunk(sizes, w, wk, w_off, b, b_off, codes, params, winv, x0s, ys, tol, max_iter, first, stop, xs, status,
              iters, hist, record):
    """Structured Gauss–Newton for targets ``first:stop``, ``LANES`` at a time.

    Same per-target algorithm as :func:`gn_square_reference`; lanes that
    finish (or hand over to the damped solver, status 0) load the next target.
    """
    L = LANES
    n0 = sizes[0]
    total = np.sum(sizes)
    x = np.zeros((n0, L))
    x_new = np.zeros((n0, L))
    acts = np.zeros((total, L))
    derivs = np.zeros((total, L))
    zbuf = np.empty(L)
    v = np.zeros((n0, L))
    u = np.zeros((n0, L))
    dmax = np.zeros(L)
    ok = np.zeros(L, dtype=np.bool_)
    cost = np.zeros(L)
    it = np.zeros(L, dtype=np.int64)
    target = np.full(L, -1, dtype=np.int64)
    fresh = np.zeros(L, dtype=np.bool_)
    n_layers = codes.shape[0]
    out_off = total - n0

    next_t = first
    for l in range(L):
        next_t = _load_lane(l, next_t, stop, target, fresh, x_new, x0s)
    busy = True
    while busy:
        # ---- A. the Gauss-Newton step, pushed back through the layers (acts/derivs are at x)
        for j in range(n0):
            for l in range(L):
                t = target[l]
                v[j, l] = (ys[t, j] - acts[out_off + j, l]) if t >= 0 else 0.0
        for l in range(L):
            ok[l] = True
        off = out_off
        for layer in range(n_layers - 1, -1, -1):
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

        # ---- B. evaluate all trial points (and fresh starting points)
        _forward_store_lanes(sizes, w, wk, w_off, b, b_off, codes, params, x_new, acts, derivs, zbuf)

        # ---- C. accept, finish or hand over, reload
        busy = False
        for l in range(L):
            t = target[l]
            if t < 0:
                continue
            c_new, r_new = _lane_residual(acts, out_off, ys, t, l)
            st = -1  # -1: keep iterating
            if fresh[l]:
                fresh[l] = False
                it[l] = 0
            elif ok[l] and c_new < cost[l]:
                it[l] += 1
            else:
                st = 0  # no decrease (or a vanishing derivative): the damped solver takes over at x
            if st == -1:
                cost[l] = c_new
                for k in range(n0):
                    x[k, l] = x_new[k, l]
                if record:
                    for k in range(n0):
                        hist[it[l], k] = x[k, l]
                if not math.isfinite(c_new):
                    st = STATUS_DIVERGED
                elif r_new <= tol:
                    st = STATUS_CONVERGED
                elif it[l] >= max_iter:
                    st = STATUS_MAX_ITER
            if st != -1:
                _retire_lane(l, st, x, xs, status, iters, it, target)
                next_t = _load_lane(l, next_t, stop, target, fresh, x_new, x0s)
            if target[l] >= 0:
                busy = True


def gn_square_batch(sizes, w, wk, w_off, b, b_off, codes, params, winv, x0s, ys, tol, max_iter, chunk, xs, status,
                    iters, hist):
    """Structured Gauss–Newton (phase 1) for square chains, chunks of targets on numba's thread count.

    Parameters
    ----------
    winv : flat float64
        ``W_l^{-1}`` of every layer, row-major, at the same offsets as ``w``.
    x0s, ys : (N, n) starting points and targets.
    chunk : int, targets per work item.
    xs, status, iters : outputs; ``status`` is 0 where the target still needs
        the damped solver (its ``xs`` row is where to restart).
    hist : (H, n); ``x`` per iteration when N == 1 and H > max_iter.

    Notes
    -----
    Threads over ``nogil`` chunks, for the compile-time reason given in :func:`lm_batch`.
    """
    n = ys.shape[0]
    record = n == 1 and hist.shape[0] > max_iter
    starts = range(0, n, chunk)

    def run(start):
        _gn_chunk(sizes, w, wk, w_off, b, b_off, codes, params, winv, x0s, ys, tol, max_iter, start,
                  min(n, start + chunk), xs, status, iters, hist, record)

    _run_chunks(run, starts)


def _run_chunks(run, starts) -> None:
    """Call ``run(start)`` for every chunk on ``numba.get_num_threads()`` threads (chunks write disjoint rows)."""
    workers = min(numba.get_num_threads(), len(starts))
    if workers <= 1:
        for start in starts:
            run(start)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(run, starts):
            pass


def gn_square_reference(pm: PackedModel, winv_layers, x0s, ys, tol=1e-9, max_iter=100):
    """NumPy twin of :func:`gn_square_batch` (vectorised over the batch).

    ``winv_layers``: list of ``W_l^{-1}`` matrices.  Returns ``(xs, status, iters)``.
    """
    from ._kernels import _layers, act_and_deriv_reference

    layers = list(_layers(pm))
    x = np.array(x0s, dtype=np.float64)
    n = x.shape[0]
    status = np.zeros(n, dtype=np.int8)
    iters = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)

    def forward(xb):
        a, ds = xb, []
        for kernel, bias, code, param in layers:
            a, d = act_and_deriv_reference(a @ kernel + bias, code, param)
            ds.append(d)
        return a, ds

    out, ds = forward(x)
    r = out - ys
    cost = np.sum(r * r, axis=1)
    res = np.max(np.abs(r), axis=1)
    for _ in range(max_iter + 1):
        with np.errstate(all="ignore"):
            done = active & ~np.isfinite(cost)
            status[done] = STATUS_DIVERGED
            active &= ~done
            done = active & (res <= tol)
            status[done] = STATUS_CONVERGED
            active &= ~done
            done = active & (iters >= max_iter)
            status[done] = STATUS_MAX_ITER
            active &= ~done
            if not np.any(active):
                break
            v = -r
            ok = np.ones(n, dtype=bool)
            for d, winv in zip(reversed(ds), reversed(list(winv_layers))):
                dmax = np.max(np.abs(d), axis=1, keepdims=True)
                ok &= np.all(np.abs(d) > DERIV_FLOOR * dmax, axis=1)
                v = np.where(ok[:, None], v / d, 0.0) @ winv
            x_new = x + v
            out_n, ds_n = forward(x_new)
            r_n = out_n - ys
            c_n = np.sum(r_n * r_n, axis=1)
            take = active & ok & (c_n < cost)
            active &= take  # a target that cannot take its step leaves this phase
            x[take], r[take], cost[take] = x_new[take], r_n[take], c_n[take]
            res[take] = np.max(np.abs(r_n[take]), axis=1)
            ds = [np.where(take[:, None], dn, do) for dn, do in zip(ds_n, ds)]
            iters[take] += 1
    return x, status, iters


def lm_reference(pm: PackedModel, x0s, ys, lower=None, upper=None, tol=1e-9, max_iter=100, iters0=None):
    """NumPy twin of :func:`lm_batch`: the same algorithm, one target at a time.

    Returns ``(xs, status, iters)``.  Uses :func:`numpy.linalg.cholesky` and
    the NumPy Jacobian; agreement with the kernel is a test.
    """
    x0s = np.asarray(x0s, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    n, n0 = x0s.shape
    m = ys.shape[1]
    wide = m < n0
    xs = x0s.copy()
    status = np.zeros(n, dtype=np.int8)
    iters = np.zeros(n, dtype=np.int64) if iters0 is None else np.array(iters0, dtype=np.int64)

    def eval_at(x):
        out, jac = jacobian_reference(pm, x[None, :])
        r = out[0] - y
        return r, jac[0], float(r @ r), float(np.max(np.abs(r)))

    def clip(x):
        return x if lower is None else np.clip(x, lower, upper)

    for t in range(n):
        x, y = xs[t].copy(), ys[t]
        r, jac, cost, res = eval_at(x)
        mu, it, last_gain, st = 0.0, int(iters[t]), math.inf, None
        while st is None:
            if not math.isfinite(cost):
                st = STATUS_DIVERGED
                break
            if res <= tol:
                st = STATUS_CONVERGED
                break
            if it >= max_iter:
                st = STATUS_STALLED if last_gain <= PROGRESS_RTOL else STATUS_MAX_ITER
                break
            g = jac.T @ r
            free = np.ones(n0)
            if lower is not None:
                free[((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))] = 0.0
            jf = jac * free
            mat = jf @ jf.T if wide else jf.T @ jf
            rhs = r if wide else -g * free
            scale = float(np.max(np.diag(mat)))
            if not scale > 0:
                st = STATUS_STALLED
                break
            accepted = False
            for _ in range(MAX_TRIES):
                mw = mat.copy()
                if not wide:
                    mw[np.diag_indices(n0)] += np.where(free == 0.0, 1.0, 0.0)
                mw[np.diag_indices(mw.shape[0])] += mu * scale
                try:
                    low = np.linalg.cholesky(mw)
                    sol = np.linalg.solve(low.T, np.linalg.solve(low, rhs))
                    ok = bool(np.all(np.isfinite(sol)))
                except np.linalg.LinAlgError:
                    ok = False
                if ok:
                    d = -(jf.T @ sol) if wide else sol
                    x_new = clip(x + d)
                    r_new, jac_new, cost_new, res_new = eval_at(x_new)
                    if cost_new < cost:
                        last_gain = (cost - cost_new) / cost
                        x, r, jac, cost, res = x_new, r_new, jac_new, cost_new, res_new
                        accepted = True
                        break
                    if np.max(np.abs(x_new - x)) <= 4e-16 * (1.0 + np.max(np.abs(x))):
                        break
                mu = MU_START if mu == 0.0 else mu * MU_GROW
            if not accepted:
                st = STATUS_STALLED
                break
            it += 1
            mu = mu / MU_SHRINK
            if mu < MU_FLOOR:
                mu = 0.0
        xs[t], status[t], iters[t] = x, st, it
    return xs, status, iters
