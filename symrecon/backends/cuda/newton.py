"""The ``newton`` solver on the GPU: structured Gauss–Newton, then Levenberg–Marquardt, one target per thread.

The algorithm, its constants and its termination ladder are those of the CPU
kernels (:mod:`symrecon.backends.numba.gauss_newton`, whose module docstring
explains them); a thread runs them for one target, where a CPU thread runs
them for a block of lanes:

1. *structured phase* (when the packed model carries the layer inverses):
   ``x <- x - J^{-1} r`` pushed back layer by layer, until the ladder gives a
   verdict or a step fails to lower the cost (``LaneState.HAND_OVER``);
2. *damped phase* (every other target, and the handed-over ones from their
   last accepted point, counting the iterations already spent): the damped
   normal equations with the Jacobian by forward mode, the active set of the
   bounds, ``mu`` grown on a rejected step and shrunk on an accepted one.

A thread retires as soon as its target has a verdict (early retirement: the
thread returns; the rest of its warp carries on).  The forward passes, the
Jacobian, the activation formulas, the ladder, the active-set rule and the
Cholesky solve are the CPU backend's functions compiled for the device (see
:mod:`~.target`), with a lane axis of length 1.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.backends.cuda.target import device_problem
>>> from symrecon.backends.numba.pack import pack, settings
>>> m = sr.Sequential([sr.Dense([[2.0, 0.3], [-0.4, 1.5]], [0.1, -0.2], "tanh")])
>>> y = m(np.array([[0.3, -0.2]]))
>>> if device_problem() is None:  # a GPU here, or numba's CUDA simulator
...     xs, status, iters, stats = newton_rows(pack(m, inverses=True), settings(1e-10, 50, n_in=2), np.zeros((1, 2)), y)
...     assert np.allclose(xs, [[0.3, -0.2]]) and status[0] == sr.Status.CONVERGED
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...status import LaneState, Status
from ..numba.forward import forward_jac_lanes, forward_store_lanes
from ..numba.gauss_newton import (DERIV_FLOOR, MAX_TRIES, MU_FLOOR, MU_GROW, MU_SHRINK, MU_START, PROGRESS_RTOL,
                                  STEP_FLOOR)
from ..numba.primitives import cholesky_lanes, frozen, lane_residual, solve_lanes, target_tol, verdict
from .layout import MAX_UNITS, MAX_WIDTH, THREADS, DeviceSettings, device_model, device_settings
from .target import as_device_tuple, cuda_module, device_function
from .transfer import DEFAULT_CHUNK, run_chunks

__all__ = ["newton_rows"]

cuda = cuda_module()
float64 = np.float64

_RUNNING = LaneState.RUNNING.value
_HAND_OVER = LaneState.HAND_OVER.value
_STALLED = Status.STALLED.value

forward_store = device_function(forward_store_lanes)
forward_jac = device_function(forward_jac_lanes)
residual = device_function(lane_residual)
ladder = device_function(verdict)
tol_of = device_function(target_tol)
is_frozen = device_function(frozen)
cholesky = device_function(cholesky_lanes)
solve_factored = device_function(solve_lanes)


# ---------------------------------------------------------------------------
# Structured Gauss–Newton


@cuda.jit(device=True)
def _gn_step(dm, acts, derivs, out_off, ys, t, x, x_new, v, u):
    """``x_new = x - J^{-1} r`` through the layer inverses; False where a derivative vanishes."""
    n0 = dm.sizes[0]
    for j in range(n0):
        v[j] = ys[t, j] - acts[out_off + j, 0]
    ok = True
    off = out_off
    for layer in range(dm.codes.shape[0] - 1, -1, -1):
        dmax = 0.0
        for j in range(n0):
            dmax = max(dmax, abs(derivs[off + j, 0]))
        for j in range(n0):
            dj = derivs[off + j, 0]
            if not (abs(dj) > DERIV_FLOOR * dmax):
                ok = False
                dj = 1.0
            v[j] /= dj
        row0 = dm.w_off[layer]
        for i in range(n0):  # u = W^{-T} v, each sum in a register, in the CPU kernel's order
            acc = 0.0
            for j in range(n0):
                acc += dm.winv[row0 + j * n0 + i] * v[j]
            u[i] = acc
        for i in range(n0):
            v[i] = u[i]
        off -= n0
    for k in range(n0):
        x_new[k, 0] = x[k, 0] + v[k]
    return ok


@cuda.jit(device=True)
def _structured(dm, cfg, ys, t, x, x_new):
    """Structured phase from ``x_new``; returns ``(code, iterations)``, ``x`` the last accepted point."""
    acts = cuda.local.array((MAX_UNITS, 1), float64)
    derivs = cuda.local.array((MAX_UNITS, 1), float64)
    v = cuda.local.array(MAX_WIDTH, float64)
    u = cuda.local.array(MAX_WIDTH, float64)
    zbuf = cuda.local.array(1, float64)
    n0 = dm.sizes[0]
    tol = tol_of(cfg, t)
    out_off = forward_store(dm, x_new, acts, derivs, zbuf)
    cost, r_max = residual(acts, out_off, ys, t, 0)
    it = 0
    for k in range(n0):
        x[k, 0] = x_new[k, 0]
    st = ladder(r_max, tol, it, cfg.max_iter, False)
    while st == _RUNNING:
        ok = _gn_step(dm, acts, derivs, out_off, ys, t, x, x_new, v, u)
        forward_store(dm, x_new, acts, derivs, zbuf)
        c_new, r_max = residual(acts, out_off, ys, t, 0)
        if ok and c_new < cost:
            it += 1
            cost = c_new
            for k in range(n0):
                x[k, 0] = x_new[k, 0]
            st = ladder(r_max, tol, it, cfg.max_iter, False)
        else:
            st = _HAND_OVER  # no decrease (or a vanishing derivative): the damped phase takes over at x
    return st, it


# ---------------------------------------------------------------------------
# Levenberg–Marquardt


@cuda.jit(device=True)
def _dims(dm):
    """``(n_in, n_out, wide, p)``: a wide network takes minimum-norm steps; systems are ``p x p``."""
    n0 = dm.sizes[0]
    m = dm.sizes[dm.sizes.shape[0] - 1]
    return n0, m, m < n0, min(n0, m)


@cuda.jit(device=True)
def _lm_system(dm, cfg, x, r, jac, grad, free, mat, sol, mu):
    """The damped normal equations in ``mat`` (lower triangle) and ``sol``; returns the scale ``max(diag)``."""
    n0, m, wide, p = _dims(dm)
    for k in range(n0):
        g = 0.0
        for j in range(m):
            g += jac[j, k] * r[j]
        grad[k] = g
        free[k] = 0.0 if is_frozen(x[k, 0], g, cfg.lower[k], cfg.upper[k], cfg.has_bounds) else 1.0
    for i in range(p):
        for j in range(p):
            mat[i, j, 0] = 0.0
    if wide:  # (J J^T + lambda I) u = r, then d = -J^T u: the minimum-norm step
        for k in range(n0):
            for i in range(m):
                for j in range(i + 1):
                    mat[i, j, 0] += jac[i, k] * jac[j, k] * free[k]
        for i in range(m):
            sol[i, 0] = r[i]
    else:  # (J^T J + lambda I) d = -J^T r
        for q in range(m):
            for i in range(n0):
                for j in range(i + 1):
                    mat[i, j, 0] += jac[q, i] * jac[q, j]
        for i in range(n0):
            for j in range(i + 1):
                mat[i, j, 0] *= free[i] * free[j]
            sol[i, 0] = -grad[i] * free[i]
    scale = 0.0
    for i in range(p):
        scale = max(scale, mat[i, i, 0])
    for i in range(p):
        if not wide and free[i] == 0.0:
            mat[i, i, 0] = 1.0
        mat[i, i, 0] += mu * scale
    return scale


@cuda.jit(device=True)
def _lm_trial(dm, cfg, x, x_new, jac, free, mat, sol, solved, piv):
    """Solve the system and put the trial point in ``x_new`` (``x`` where it is singular); ``(ok, step)``."""
    n0, m, wide, p = _dims(dm)
    cholesky(mat, p, solved, piv)
    solve_factored(mat, sol, p)
    ok = solved[0]
    for i in range(p):
        if not math.isfinite(sol[i, 0]):
            ok = False
    step = 0.0
    for k in range(n0):
        xn = x[k, 0]
        if ok:
            d = sol[k, 0] if not wide else 0.0
            if wide:
                for j in range(m):
                    d -= jac[j, k] * sol[j, 0]
                d *= free[k]
            xn = xn + d
            if cfg.has_bounds:
                xn = min(max(xn, cfg.lower[k]), cfg.upper[k])
        x_new[k, 0] = xn
        step = max(step, abs(xn - x[k, 0]))
    return ok, step


@cuda.jit(device=True)
def _accept(n0, m, x, x_new, r, vals, jac, jac_new, ys, t):
    """Move to the trial point: ``x``, the residual ``r`` and the Jacobian ``jac`` from the trial's."""
    for k in range(n0):
        x[k, 0] = x_new[k, 0]
    for j in range(m):
        r[j] = vals[j, 0] - ys[t, j]
        for k in range(n0):
            jac[j, k] = jac_new[j, k]


@cuda.jit(device=True)
def _vanished(tries, ok, step, scale, x, n0):
    """After a rejected step: damping exhausted, the step lost in rounding, or no free input matters."""
    xmax = 0.0
    for k in range(n0):
        xmax = max(xmax, abs(x[k, 0]))
    return tries >= MAX_TRIES or (ok and step <= STEP_FLOOR * (1.0 + xmax)) or not (scale > 0.0)


@cuda.jit(device=True)
def _damped(dm, cfg, ys, t, it, x, x_new):
    """Damped phase from ``x_new`` with ``it`` iterations spent; returns ``(code, iterations)``, ``x`` the answer."""
    n0, m, _, _ = _dims(dm)
    cur = cuda.local.array((MAX_WIDTH, 1), float64)
    nxt = cuda.local.array((MAX_WIDTH, 1), float64)
    tc = cuda.local.array((MAX_WIDTH, MAX_WIDTH), float64)
    tn = cuda.local.array((MAX_WIDTH, MAX_WIDTH), float64)
    jac = cuda.local.array((MAX_WIDTH, MAX_WIDTH), float64)
    jac_new = cuda.local.array((MAX_WIDTH, MAX_WIDTH), float64)
    mat = cuda.local.array((MAX_WIDTH, MAX_WIDTH, 1), float64)
    sol = cuda.local.array((MAX_WIDTH, 1), float64)
    vals = cuda.local.array((MAX_WIDTH, 1), float64)
    r = cuda.local.array(MAX_WIDTH, float64)
    grad = cuda.local.array(MAX_WIDTH, float64)
    free = cuda.local.array(MAX_WIDTH, float64)
    zbuf = cuda.local.array(1, float64)
    dbuf = cuda.local.array(1, float64)
    piv = cuda.local.array(1, float64)
    solved = cuda.local.array(1, np.bool_)
    tol = tol_of(cfg, t)
    forward_jac(dm, x_new, cur, nxt, zbuf, dbuf, tc, tn, vals, jac_new)
    cost, r_max = residual(vals, 0, ys, t, 0)
    _accept(n0, m, x, x_new, r, vals, jac, jac_new, ys, t)
    mu = 0.0
    tries = 0
    st = ladder(r_max, tol, it, cfg.max_iter, False)
    while st == _RUNNING:
        scale = _lm_system(dm, cfg, x, r, jac, grad, free, mat, sol, mu)
        solved[0] = scale > 0.0
        ok, step = _lm_trial(dm, cfg, x, x_new, jac, free, mat, sol, solved, piv)
        forward_jac(dm, x_new, cur, nxt, zbuf, dbuf, tc, tn, vals, jac_new)
        c_new, r_max = residual(vals, 0, ys, t, 0)
        if ok and c_new < cost:
            gain = (cost - c_new) / cost
            it += 1
            mu = mu / MU_SHRINK if mu / MU_SHRINK >= MU_FLOOR else 0.0
            tries = 0
            cost = c_new
            _accept(n0, m, x, x_new, r, vals, jac, jac_new, ys, t)
            # out of iterations with a last step that barely helped: settled on a non-zero residual
            st = ladder(r_max, tol, it, cfg.max_iter, it >= cfg.max_iter and gain <= PROGRESS_RTOL)
        else:
            tries += 1
            mu = MU_START if mu == 0.0 else mu * MU_GROW
            if _vanished(tries, ok, step, scale, x, n0):
                st = _STALLED
    return st, it


# ---------------------------------------------------------------------------
# The kernel and its host side


@cuda.jit
def _newton_kernel(dm, cfg, x0s, ys, structured, xs, status, iters, damped):
    """Thread ``t`` solves target ``ys[t]`` from ``x0s[t]``: ``xs[t]``, ``status[t]``, ``iters[t]``, ``damped[t]``."""
    t = cuda.grid(1)
    if t >= ys.shape[0]:
        return
    n0 = dm.sizes[0]
    x = cuda.local.array((MAX_WIDTH, 1), float64)
    x_new = cuda.local.array((MAX_WIDTH, 1), float64)
    for k in range(n0):
        x_new[k, 0] = x0s[t, k]
    st = _HAND_OVER
    it = 0
    if structured:
        st, it = _structured(dm, cfg, ys, t, x, x_new)
        if st == _HAND_OVER:
            for k in range(n0):
                x_new[k, 0] = x[k, 0]
    damped[t] = st == _HAND_OVER
    if st == _HAND_OVER:
        st, it = _damped(dm, cfg, ys, t, it, x, x_new)
    for k in range(n0):
        xs[t, k] = x[k, 0]
    status[t] = st
    iters[t] = it


def newton_rows(pm: Any, cfg: Any, x0s: NDArray[np.float64], ys: NDArray[np.float64],
                chunk: int = DEFAULT_CHUNK) -> tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.int64],
                                                     dict[str, Any]]:
    """Run the ``newton`` kernels on every target on the GPU.

    Parameters
    ----------
    pm : PackedModel
        With the layer inverses (``pm.structured``) to start with the structured phase.
    cfg : Settings
        ``tol`` (N,) or (1,), ``max_iter``, the box (as for the CPU kernels).
    x0s : ndarray, shape (N, n_in)
        Starting points (not modified).
    ys : ndarray, shape (N, n_out)
        Targets (not modified).
    chunk : int
        Targets per host <-> device chunk.

    Returns
    -------
    xs : ndarray, shape (N, n_in)
    status : ndarray of int8, shape (N,)
        :class:`~symrecon.status.Status` codes.
    iters : ndarray of int64, shape (N,)
    stats : dict
        ``n_damped`` (targets the damped phase handled), ``device_chunks``, ``kernel_s``.
    """
    n, n0 = x0s.shape
    settings = device_settings(cfg)
    tol = np.broadcast_to(settings.tol, (n,)) if settings.tol.shape[0] == 1 else settings.tol
    dm = as_device_tuple(cuda, device_model(pm))
    box = as_device_tuple(cuda, settings._replace(tol=np.zeros(1)))
    xs = np.full((n, n0), np.nan)
    status = np.full(n, Status.NOT_RUN.value, dtype=np.int8)
    iters = np.zeros(n, dtype=np.int64)
    damped = np.zeros(n, dtype=np.bool_)
    structured = bool(pm.structured)

    def launch(stream: Any, rows: int, dev_in: Any, dev_out: Any) -> None:
        blocks = (rows + THREADS - 1) // THREADS
        run_cfg = DeviceSettings(dev_in[2], box.max_iter, box.lower, box.upper, box.has_bounds)
        _newton_kernel[blocks, THREADS, stream](dm, run_cfg, dev_in[0], dev_in[1], structured, *dev_out)

    stats = run_chunks(cuda, launch, [np.ascontiguousarray(x0s), np.ascontiguousarray(ys), tol],
                       [xs, status, iters, damped], chunk)
    return xs, status, iters, {"n_damped": int(np.count_nonzero(damped)), **stats}
