"""numba kernel of gradient descent on the input, and its NumPy twin.

Cost ``c(x) = ||model(x) - y||^2`` (the write-up's ``(y0 - ypred)^2`` summed
over outputs), gradient ``2 J^T r`` by hand-written backprop
(:func:`~symrecon.solvers._kernels.gradient_one`).  Update rules, by code:

===  ============  =====================================================
0    constant      ``x -= lr * g`` (the write-up's loop)
1    momentum      heavy ball: ``v = beta1 v - lr g``, ``x += v``
2    adam          Adam with bias correction (``beta1``, ``beta2``, ``eps``)
3    linesearch    Barzilai–Borwein step length, Armijo backtracking
===  ============  =====================================================

Every update is followed by projection onto the box ``[lower, upper]``.
Termination per target (status codes, never exceptions inside ``prange``):
converged (max-norm residual <= tol), diverged (non-finite cost), stalled
(projected gradient zero at a non-zero residual, or no Armijo step found) or
max_iter.
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
    forward_reference,
    gradient_one,
    gradient_reference,
)

__all__ = ["OPTIMIZERS", "gd_batch", "gd_reference"]

#: optimizer name -> kernel code
OPTIMIZERS = {"constant": 0, "momentum": 1, "adam": 2, "linesearch": 3}
#: projected-gradient size below which a non-converged target is declared stalled
GRAD_FLOOR = 1e-300
#: Armijo sufficient-decrease constant and the most halvings tried
ARMIJO_C = 1e-4
MAX_HALVINGS = 60


@njit(cache=True, fastmath=FASTMATH)
def _project(x, lower, upper, has_bounds):
    if has_bounds:
        for k in range(x.shape[0]):
            x[k] = min(max(x[k], lower[k]), upper[k])


@njit(cache=True, fastmath=FASTMATH)
def gd_one(sizes, w, wk, w_off, b, b_off, codes, params, x, y, lower, upper, has_bounds, tol, max_iter, opt, lr,
           beta1, beta2, eps, acts, derivs, d_a, d_b, g, g_new, x_new, v, s2, hist, record):
    """Gradient descent on one target; ``x`` updated in place.  Returns ``(status, n_iter)``."""
    n0 = x.shape[0]
    for k in range(n0):
        v[k] = 0.0
        s2[k] = 0.0
    cost, res = gradient_one(sizes, w, wk, w_off, b, b_off, codes, params, x, y, acts, derivs, d_a, d_b, g)
    if record:
        for k in range(n0):
            hist[0, k] = x[k]
    step = lr  # line search: current step length
    it = 0
    while True:
        if not math.isfinite(cost):
            return STATUS_DIVERGED, it
        if res <= tol:
            return STATUS_CONVERGED, it
        # projected gradient: components pushing against an active bound do not count
        pg = 0.0
        for k in range(n0):
            gk = g[k]
            if has_bounds and ((x[k] <= lower[k] and gk > 0.0) or (x[k] >= upper[k] and gk < 0.0)):
                gk = 0.0
            pg = max(pg, abs(gk))
        if not (pg > GRAD_FLOOR):
            return STATUS_STALLED, it
        if it >= max_iter:
            return STATUS_MAX_ITER, it
        it += 1
        if opt == 3:
            accepted = False
            for _ in range(MAX_HALVINGS):
                for k in range(n0):
                    x_new[k] = x[k] - step * g[k]
                _project(x_new, lower, upper, has_bounds)
                moved = 0.0
                for k in range(n0):
                    dk = x_new[k] - x[k]
                    moved += dk * dk
                c_new, r_new = gradient_one(sizes, w, wk, w_off, b, b_off, codes, params, x_new, y, acts, derivs,
                                            d_a, d_b, g_new)
                # Armijo on the projected step: c_new <= c - c1 ||x_new - x||^2 / step
                if c_new <= cost - ARMIJO_C * moved / step:
                    accepted = True
                    break
                step *= 0.5
            if not accepted:
                return STATUS_STALLED, it
            # Barzilai-Borwein length for the next step: <s, s> / <s, g_new - g>
            ss = 0.0
            sy = 0.0
            for k in range(n0):
                sk = x_new[k] - x[k]
                ss += sk * sk
                sy += sk * (g_new[k] - g[k])
                x[k] = x_new[k]
                g[k] = g_new[k]
            cost = c_new
            res = r_new
            step = ss / sy if sy > 0.0 else 2.0 * step
            step = min(max(step, 1e-20), 1e20)
        else:
            for k in range(n0):
                if opt == 0:
                    x[k] -= lr * g[k]
                elif opt == 1:
                    v[k] = beta1 * v[k] - lr * g[k]
                    x[k] += v[k]
                else:
                    v[k] = beta1 * v[k] + (1.0 - beta1) * g[k]
                    s2[k] = beta2 * s2[k] + (1.0 - beta2) * g[k] * g[k]
                    m_hat = v[k] / (1.0 - beta1 ** it)
                    v_hat = s2[k] / (1.0 - beta2 ** it)
                    x[k] -= lr * m_hat / (math.sqrt(v_hat) + eps)
            _project(x, lower, upper, has_bounds)
            cost, res = gradient_one(sizes, w, wk, w_off, b, b_off, codes, params, x, y, acts, derivs, d_a, d_b, g)
        if record:
            for k in range(n0):
                hist[it, k] = x[k]


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def gd_batch(sizes, w, wk, w_off, b, b_off, codes, params, x0s, ys, lower, upper, has_bounds, tol, max_iter, opt,
             lr, beta1, beta2, eps, xs, status, iters, hist):
    """Gradient descent over a batch, ``prange`` over targets.

    ``xs`` (N, n_in), ``status`` (N,) int8, ``iters`` (N,) int64 are outputs;
    ``hist`` (H, n_in) records ``x`` per iteration when N == 1 and H > max_iter.
    """
    n = ys.shape[0]
    n0 = sizes[0]
    mw = np.max(sizes)
    total = np.sum(sizes)
    record = n == 1 and hist.shape[0] > max_iter
    for t in numba.prange(n):
        acts = np.empty(total)
        derivs = np.empty(total)
        d_a = np.empty(mw)
        d_b = np.empty(mw)
        g = np.empty(n0)
        g_new = np.empty(n0)
        x_new = np.empty(n0)
        v = np.empty(n0)
        s2 = np.empty(n0)
        x = np.empty(n0)
        for k in range(n0):
            x[k] = x0s[t, k]
        st, it = gd_one(sizes, w, wk, w_off, b, b_off, codes, params, x, ys[t], lower, upper, has_bounds, tol,
                        max_iter, opt, lr, beta1, beta2, eps, acts, derivs, d_a, d_b, g, g_new, x_new, v, s2, hist,
                        record)
        for k in range(n0):
            xs[t, k] = x[k]
        status[t] = st
        iters[t] = it


def gd_reference(pm: PackedModel, x0s, ys, *, lower=None, upper=None, tol=1e-9, max_iter=1000, optimizer="constant",
                 lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8):
    """NumPy twin of :func:`gd_batch` for the fixed-rule optimizers (vectorised over the batch).

    Supports ``"constant"``, ``"momentum"`` and ``"adam"`` (the line search's
    per-target step lengths are tested through the kernel against these).
    Returns ``(xs, status, iters)``.
    """
    if optimizer not in ("constant", "momentum", "adam"):
        raise ValueError(f"gd_reference supports 'constant', 'momentum' and 'adam'; got {optimizer!r}")
    x = np.array(x0s, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    n, n0 = x.shape
    v = np.zeros_like(x)
    s2 = np.zeros_like(x)
    status = np.zeros(n, dtype=np.int8)
    iters = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    for _ in range(max_iter + 1):
        with np.errstate(all="ignore"):
            r = forward_reference(pm, x) - ys
            cost = np.sum(r * r, axis=1)
            res = np.max(np.abs(r), axis=1)
            _, g = gradient_reference(pm, x, ys)
            pg = g.copy()
            if lower is not None:
                pg[((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))] = 0.0
            for mask, code in ((~np.isfinite(cost), STATUS_DIVERGED), (res <= tol, STATUS_CONVERGED),
                               (~(np.max(np.abs(pg), axis=1) > GRAD_FLOOR), STATUS_STALLED),
                               (iters >= max_iter, STATUS_MAX_ITER)):
                done = active & mask
                status[done] = code
                active &= ~done
            if not np.any(active):
                break
            a = active
            iters[a] += 1
            if optimizer == "constant":
                x[a] -= lr * g[a]
            elif optimizer == "momentum":
                v[a] = beta1 * v[a] - lr * g[a]
                x[a] += v[a]
            else:
                t = iters[a][:, None].astype(np.float64)
                v[a] = beta1 * v[a] + (1.0 - beta1) * g[a]
                s2[a] = beta2 * s2[a] + (1.0 - beta2) * g[a] * g[a]
                x[a] -= lr * (v[a] / (1.0 - beta1 ** t)) / (np.sqrt(s2[a] / (1.0 - beta2 ** t)) + eps)
            if lower is not None:
                x[a] = np.clip(x[a], lower, upper)
    return x, status, iters
