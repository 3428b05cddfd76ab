"""numba kernel of gradient descent on the input.

Cost ``c(x) = ||model(x) - y||^2`` (the write-up's ``(y0 - ypred)^2`` summed
over outputs), gradient ``2 J^T r`` by backprop
(:func:`~.forward.gradient_one`).  Update rules, by code:

===  ============  =====================================================
0    constant      ``x -= lr * g`` (the write-up's loop)
1    momentum      heavy ball: ``v = beta1 v - lr g``, ``x += v``
2    adam          Adam with bias correction (``beta1``, ``beta2``, ``eps``)
3    linesearch    Barzilai–Borwein step length, non-monotone Armijo
                   backtracking (against the highest of the last
                   :data:`NONMONOTONE` costs, Grippo–Lampariello–Lucidi:
                   a monotone test throws away most BB steps and crawls on
                   curved valleys)
===  ============  =====================================================

Every update is followed by projection onto the box.  Termination per target
(:func:`~.primitives.verdict`, never an exception inside ``prange``):
converged, diverged, stalled (projected gradient zero at a non-zero residual,
or no Armijo step found) or the iteration limit.  NumPy twin:
:func:`~.twins.gd_reference`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from numba import njit

from ...status import LaneState, Status
from .forward import gradient_one
from .primitives import FASTMATH, frozen, project, target_tol, verdict

__all__ = ["OPTIMIZERS", "GdParams", "gd_batch", "GRAD_FLOOR", "ARMIJO_C", "MAX_HALVINGS", "NONMONOTONE"]

#: optimizer name -> kernel code
OPTIMIZERS = {"constant": 0, "momentum": 1, "adam": 2, "linesearch": 3}
#: projected-gradient size below which a non-converged target is declared stalled
GRAD_FLOOR = 1e-300
#: Armijo sufficient-decrease constant and the most halvings tried
ARMIJO_C = 1e-4
MAX_HALVINGS = 60
#: the line search accepts a step that lowers the highest of this many recent costs
NONMONOTONE = 10


class GdParams(NamedTuple):
    """The update rule: ``opt`` (a code of :data:`OPTIMIZERS`), learning rate and Adam/momentum constants."""

    opt: int
    lr: float
    beta1: float
    beta2: float
    eps: float


class _Scratch(NamedTuple):
    """Work vectors of one target.

    Every layer's activations and derivatives (sum(sizes),), backprop
    vectors (max_width,), the trial point and its gradient (n_in,).
    """

    acts: np.ndarray
    derivs: np.ndarray
    d_a: np.ndarray
    d_b: np.ndarray
    x_new: np.ndarray
    g_new: np.ndarray


@njit(cache=True, fastmath=FASTMATH)
def _scratch(pm):
    total = np.sum(pm.sizes)
    mw = np.max(pm.sizes)
    n0 = pm.sizes[0]
    return _Scratch(np.empty(total), np.empty(total), np.empty(mw), np.empty(mw), np.empty(n0), np.empty(n0))


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _grad(pm, x, y, sc, g):
    return gradient_one(pm, x, y, sc.acts, sc.derivs, sc.d_a, sc.d_b, g)


@njit(cache=True, fastmath=FASTMATH)
def _projected_gradient_norm(x, g, cfg):
    """Max-norm of the gradient without the components that push against an active bound."""
    pg = 0.0
    for k in range(x.shape[0]):
        if not frozen(x[k], g[k], cfg.lower[k], cfg.upper[k], cfg.has_bounds):
            pg = max(pg, abs(g[k]))
    return pg


@njit(cache=True, fastmath=FASTMATH)
def _line_search(pm, cfg, x, y, ref, g, step, sc):
    """One Barzilai–Borwein / Armijo step from ``x`` (updated in place with ``g``), ``ref`` the cost to lower.

    Returns ``(accepted, cost, res, next step length)``.
    """
    n0 = x.shape[0]
    x_new = sc.x_new
    g_new = sc.g_new
    c_new = r_new = math.nan
    accepted = False
    for _ in range(MAX_HALVINGS):
        for k in range(n0):
            x_new[k] = x[k] - step * g[k]
        project(x_new, cfg)
        moved = 0.0
        for k in range(n0):
            dk = x_new[k] - x[k]
            moved += dk * dk
        c_new, r_new = _grad(pm, x_new, y, sc, g_new)
        # Armijo on the projected step: c_new <= c - c1 ||x_new - x||^2 / step
        if c_new <= ref - ARMIJO_C * moved / step:
            accepted = True
            break
        step *= 0.5
    if not accepted:
        return False, ref, math.nan, step
    # Barzilai-Borwein length for the next step: <s, s> / <s, g_new - g>
    ss = 0.0
    sy = 0.0
    for k in range(n0):
        sk = x_new[k] - x[k]
        ss += sk * sk
        sy += sk * (g_new[k] - g[k])
        x[k] = x_new[k]
        g[k] = g_new[k]
    step = ss / sy if sy > 0.0 else 2.0 * step
    return True, c_new, r_new, min(max(step, 1e-20), 1e20)


@njit(cache=True, fastmath=FASTMATH)
def _fixed_rule(x, g, v, s2, it, hp):
    """One constant / momentum / Adam update of ``x`` (``v``, ``s2``: the moment estimates)."""
    for k in range(x.shape[0]):
        if hp.opt == 0:
            x[k] -= hp.lr * g[k]
        elif hp.opt == 1:
            v[k] = hp.beta1 * v[k] - hp.lr * g[k]
            x[k] += v[k]
        else:
            v[k] = hp.beta1 * v[k] + (1.0 - hp.beta1) * g[k]
            s2[k] = hp.beta2 * s2[k] + (1.0 - hp.beta2) * g[k] * g[k]
            m_hat = v[k] / (1.0 - hp.beta1 ** it)
            v_hat = s2[k] / (1.0 - hp.beta2 ** it)
            x[k] -= hp.lr * m_hat / (math.sqrt(v_hat) + hp.eps)


@njit(cache=True, fastmath=FASTMATH)
def gd_one(pm, cfg, hp, x, y, tol, hist, record):
    """Gradient descent on one target; ``x`` (n_in,) updated in place.  Returns ``(status code, n_iter)``."""
    n0 = x.shape[0]
    sc = _scratch(pm)
    g = np.empty(n0)
    v = np.zeros(n0)
    s2 = np.zeros(n0)
    cost, res = _grad(pm, x, y, sc, g)
    if record:
        for k in range(n0):
            hist[0, k] = x[k]
    step = hp.lr  # line search: current step length
    recent = np.full(NONMONOTONE, cost)  # line search: the last costs, a ring
    it = 0
    while True:
        st = verdict(res, tol, it, cfg.max_iter, not (_projected_gradient_norm(x, g, cfg) > GRAD_FLOOR))
        if st != LaneState.RUNNING.value:
            return st, it
        it += 1
        if hp.opt == 3:
            accepted, cost, res, step = _line_search(pm, cfg, x, y, np.max(recent), g, step, sc)
            if not accepted:
                return Status.STALLED.value, it
            recent[it % NONMONOTONE] = cost
        else:
            _fixed_rule(x, g, v, s2, it, hp)
            project(x, cfg)
            cost, res = _grad(pm, x, y, sc, g)
        if record:
            for k in range(n0):
                hist[it, k] = x[k]


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _gd_prange(pm, cfg, hp, x0s, ys, xs, status, iters, hist):
    """The loop of :func:`gd_batch`.

    The output arrays come one by one, not as an :class:`Outputs`: inside a
    ``prange`` loop numba 0.68 silently dropped writes to int arrays taken
    from a tuple argument (the float ones landed).
    """
    n = ys.shape[0]
    record = n == 1 and hist.shape[0] > cfg.max_iter
    for t in numba.prange(n):
        x = x0s[t].copy()
        st, it = gd_one(pm, cfg, hp, x, ys[t], target_tol(cfg, t), hist, record)
        for k in range(x.shape[0]):  # loops, not slice assignment (which costs seconds of compile time)
            xs[t, k] = x[k]
        status[t] = st
        iters[t] = it


def gd_batch(pm, cfg, hp, x0s, ys, out) -> None:
    """Gradient descent over a batch, ``prange`` over targets.

    Parameters
    ----------
    pm : PackedModel
    cfg : Settings
    hp : GdParams
    x0s : (N, n_in) float64
        Starting points.
    ys : (N, n_out) float64
        Targets.
    out : Outputs
        ``xs``, ``status`` (int8 :class:`Status` codes), ``iters``; ``hist``
        records ``x`` per iteration when N == 1 and it has more than ``max_iter`` rows.
    """
    _gd_prange(pm, cfg, hp, x0s, ys, out.xs, out.status, out.iters, out.hist)
