"""numba kernels for input sequences: a recurrent cell + dense head, Jacobians by backpropagation through time.

One target's model is ``y = head(h_T)``, ``h_T`` the last state of a SimpleRNN,
LSTM or GRU (both ``reset_after`` modes) run from a given state ``(h_0, c_0)``
over ``T`` steps.  :func:`jacobian_batch` returns outputs and Jacobians
``dy/dx`` ``(N, m, T*n)`` (one backward pass through the head and through time
per output unit); :func:`gauss_newton_batch` runs damped Gauss-Newton steps on
each target (``prange`` over targets) with an optional Tikhonov term
``w * ||D x||^2`` (``D`` the identity or the first difference over time).

The NumPy twin of the Jacobian is :func:`symrecon.backends.numpy_ref.jacobian`
on the layer's unrolled graph (forward mode, an independent method); the twin
of the loop is :func:`symrecon.rnn_inverse.gauss_newton_numpy`.

Packed cell ``cell = (K, R, b_in, b_rec)`` with ``meta = [kind, n, u, act, ract]``
and ``par = [act_param, ract_param]``; kinds: 0 SimpleRNN, 1 LSTM, 2 GRU
(reset_after), 3 GRU (reset before).  Head: ``hw``/``hb`` the dense kernels and
biases raveled one after another, ``dims = [u, d_1, ..., m]``, ``codes``/``hpar``
their activations.

Examples
--------
>>> import numpy as np
>>> from symrecon.backends.numba.bptt import jacobian_batch
>>> cell = (np.array([[2.0]]), np.array([[0.0]]), np.zeros(1), np.zeros(1))
>>> meta, par = np.array([0, 1, 1, 0, 0]), np.zeros(2)
>>> head = (np.array([1.0]), np.array([0.0]), np.zeros(1))
>>> out, jac = jacobian_batch(np.array([[1.0, 3.0]]), np.zeros((1, 1)), np.zeros((1, 1)),
...                           cell, meta, par, head, np.array([1, 1]), np.array([0]))
>>> out.tolist(), jac.tolist()   # h_2 = 2 x_1 (no recurrence): d/dx = [0, 2]
([[6.0]], [[[0.0, 2.0]]])
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit

from ...status import Status
from .activations import act_and_deriv
from .bptt_cells import FM as _FM
from .bptt_cells import cell_backward, cell_forward

__all__ = ["GATE_COUNT", "gauss_newton_batch", "jacobian_batch"]

#: gate blocks per cell kind
GATE_COUNT = np.array([1, 4, 3, 3])

#: the damping of the minimum-norm step, relative to the residual norm (vanishes at a root)
LM_DAMPING = 1e-2


@njit(cache=True, fastmath=_FM)
def head_forward(h, head, dims, codes, acts, ders):
    """Dense layers on ``h``; ``acts``/``ders`` ``(L, max width)`` keep each layer's values and derivatives."""
    hw, hb, hpar = head
    a = h.copy()
    wo, bo = 0, 0
    for layer in range(codes.shape[0]):
        ni, no = dims[layer], dims[layer + 1]
        nxt = np.empty(no)
        for j in range(no):
            s = hb[bo + j]
            for i in range(ni):
                s += a[i] * hw[wo + i * no + j]
            nxt[j], ders[layer, j] = act_and_deriv(s, codes[layer], hpar[layer])
            acts[layer, j] = nxt[j]
        wo += ni * no
        bo += no
        a = nxt
    return a


@njit(cache=True, fastmath=_FM)
def head_backward(unit, head, dims, codes, ders):
    """``d y_unit / d h`` ``(u,)`` through the dense layers."""
    hw = head[0]
    L = codes.shape[0]
    offs = np.zeros(L + 1, dtype=np.int64)
    for layer in range(L):
        offs[layer + 1] = offs[layer] + dims[layer] * dims[layer + 1]
    g = np.zeros(dims[L])
    g[unit] = 1.0
    for layer in range(L - 1, -1, -1):
        ni, no = dims[layer], dims[layer + 1]
        prev = np.zeros(ni)
        for j in range(no):
            gj = g[j] * ders[layer, j]
            if gj != 0.0:
                for i in range(ni):
                    prev[i] += gj * hw[offs[layer] + i * no + j]
        g = prev
    return g


@njit(cache=True, fastmath=_FM)
def _tape(T, u, G):
    return (np.empty((T + 1, u)), np.empty((T + 1, u)), np.empty((T, G * u)), np.empty((T, G * u)),
            np.empty((T, 2 * u)))


@njit(cache=True, fastmath=_FM)
def model_jacobian(x, h0, c0, model, work, jac):
    """Outputs ``(m,)`` and ``jac`` ``(m, T*n)`` of one target: one BPTT pass per output unit.

    ``model = (cell, meta, par, head, dims, codes)``; ``work = (tape, acts, ders)`` scratch arrays.
    """
    cell, meta, par, head, dims, codes = model
    tape, acts, ders = work
    cell_forward(x, h0, c0, cell, meta, par, tape)
    y = head_forward(tape[0][tape[0].shape[0] - 1], head, dims, codes, acts, ders)
    for k in range(y.shape[0]):
        gh = head_backward(k, head, dims, codes, ders)
        cell_backward(gh, cell, meta, tape, jac[k])
    return y


@njit(cache=True, fastmath=_FM)
def model_output(x, h0, c0, model, work):
    """Outputs ``(m,)`` of one target (arguments as for :func:`model_jacobian`)."""
    cell, meta, par, head, dims, codes = model
    tape, acts, ders = work
    cell_forward(x, h0, c0, cell, meta, par, tape)
    return head_forward(tape[0][tape[0].shape[0] - 1], head, dims, codes, acts, ders)


@njit(cache=True, fastmath=_FM, parallel=True)
def jacobian_batch(xs, h0s, c0s, cell, meta, par, head, dims, codes):
    """Outputs ``(N, m)`` and Jacobians ``(N, m, T*n)``; ``xs`` ``(N, T*n)`` in processing order."""
    N, P = xs.shape
    n, u = meta[1], meta[2]
    T = P // n
    G = GATE_COUNT[meta[0]]
    m = dims[dims.shape[0] - 1]
    width = max(dims.max(), 1)
    out = np.empty((N, m))
    jac = np.empty((N, m, P))
    for r in numba.prange(N):
        tape = _tape(T, u, G)
        acts, ders = np.empty((codes.shape[0], width)), np.empty((codes.shape[0], width))
        y = model_jacobian(xs[r], h0s[r], c0s[r], (cell, meta, par, head, dims, codes), (tape, acts, ders), jac[r])
        for k in range(m):
            out[r, k] = y[k]
    return out, jac


@njit(cache=True, fastmath=_FM)
def _cholesky_solve(M, b):
    """Solve ``M v = b`` for symmetric positive definite ``M`` (overwritten by its factor); ``b`` overwritten by ``v``."""
    k = M.shape[0]
    for j in range(k):
        s = M[j, j]
        for p in range(j):
            s -= M[j, p] * M[j, p]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        M[j, j] = d
        for i in range(j + 1, k):
            s = M[i, j]
            for p in range(j):
                s -= M[i, p] * M[j, p]
            M[i, j] = s / d
    for i in range(k):
        s = b[i]
        for p in range(i):
            s -= M[i, p] * b[p]
        b[i] = s / M[i, i]
    for i in range(k - 1, -1, -1):
        s = b[i]
        for p in range(i + 1, k):
            s -= M[p, i] * b[p]
        b[i] = s / M[i, i]
    return True


@njit(cache=True, fastmath=_FM)
def _reg_apply(x, n, kind, out):
    """``out = D^T D x``: ``D`` the identity (kind 0, smallness) or the difference between steps (kind 1)."""
    if kind == 0:
        for i in range(x.shape[0]):
            out[i] = x[i]
        return
    T = x.shape[0] // n
    for i in range(x.shape[0]):
        out[i] = 0.0
    for t in range(T - 1):
        for j in range(n):
            d = x[(t + 1) * n + j] - x[t * n + j]
            out[(t + 1) * n + j] += d
            out[t * n + j] -= d


@njit(cache=True, fastmath=_FM)
def _step(J, r, x, w, n, kind, dx):
    """The damped Gauss-Newton step: min-norm ``J dx = -r`` (w = 0), else the Tikhonov normal equations."""
    m, P = J.shape
    if w == 0.0:
        S = J @ J.T
        lam = r.copy()
        scale, rr = 0.0, 0.0
        for i in range(m):
            scale = max(scale, S[i, i])
            rr += r[i] * r[i]
        for i in range(m):  # Levenberg-Marquardt damping mu = LM_DAMPING * ||r||: quadratic near a root
            S[i, i] += 1e-13 * scale + LM_DAMPING * np.sqrt(rr) + 1e-300
        if not _cholesky_solve(S, lam):
            return False
        for p in range(P):
            s = 0.0
            for i in range(m):
                s += J[i, p] * lam[i]
            dx[p] = -s
        return True
    M = J.T @ J
    reg = np.empty(P)
    _reg_apply(x, n, kind, reg)
    rhs = -(J.T @ r)
    for p in range(P):
        rhs[p] -= w * reg[p]
    e = np.zeros(P)
    for p in range(P):
        e[:] = 0.0
        e[p] = 1.0
        _reg_apply(e, n, kind, reg)
        for q in range(P):
            M[q, p] += w * reg[q]
        M[p, p] += 1e-12 * (1.0 + w)
    for p in range(P):
        dx[p] = rhs[p]
    return _cholesky_solve(M, dx)


@njit(cache=True, fastmath=_FM)
def _cost(y, target, x, w, n, kind, scratch):
    s = 0.0
    for k in range(y.shape[0]):
        s += (y[k] - target[k]) ** 2
    if w > 0.0:
        _reg_apply(x, n, kind, scratch)
        for p in range(x.shape[0]):
            s += w * x[p] * scratch[p]
    return s


@njit(cache=True, fastmath=_FM)
def _line_search(x, dx, target, reg, model, work, buf, cost):
    """Halve the step until the cost decreases (at most 40 times); ``x`` moves only then.

    Returns ``(new cost, step length)``; the new cost is ``inf`` when no step was accepted.
    """
    tape, acts, ders, h0, c0 = work
    trial, scratch = buf
    w, n, kind = reg
    alpha = 1.0
    for _ in range(40):
        for p in range(x.shape[0]):
            trial[p] = x[p] + alpha * dx[p]
        new = _cost(model_output(trial, h0, c0, model, (tape, acts, ders)),
                    target, trial, w, n, kind, scratch)
        if new < cost:
            x[:] = trial
            return new, alpha
        alpha *= 0.5
    return np.inf, alpha


@njit(cache=True, fastmath=_FM)
def gauss_newton_one(x, target, tolu, h0, c0, model, reg, max_iter):
    """Damped Gauss-Newton with a backtracking line search on one target; ``x`` updated in place.

    ``reg = (w, kind)``: with ``w > 0`` the penalised problem is solved first,
    then plain Gauss-Newton steps polish the residual from there.  Returns
    ``(status code, iterations)``.
    """
    cell, meta, par, head, dims, codes = model
    w, kind = reg[0], int(reg[1])
    n, u = meta[1], meta[2]
    P = x.shape[0]
    m = target.shape[0]
    tape = _tape(P // n, u, GATE_COUNT[meta[0]])
    width = max(dims.max(), 1)
    acts, ders = np.empty((codes.shape[0], width)), np.empty((codes.shape[0], width))
    J = np.empty((m, P))
    dx, trial, scratch = np.empty(P), np.empty(P), np.empty(P)
    for it in range(max_iter + 1):
        y = model_jacobian(x, h0, c0, model, (tape, acts, ders), J)
        r = y - target
        if not np.all(np.isfinite(r)):
            return Status.DIVERGED, it
        work = (tape, acts, ders, h0, c0)
        if w == 0.0 and np.all(np.abs(r) <= tolu):
            if _step(J, r, x, w, n, kind, dx):  # one more step from within tolerance: the digits float64 allows
                _line_search(x, dx, target, (w, n, kind), model, work, (trial, scratch),
                             _cost(y, target, x, w, n, kind, scratch))
            return Status.CONVERGED, it
        if it == max_iter or not _step(J, r, x, w, n, kind, dx):
            return Status.MAX_ITER if it == max_iter else Status.STALLED, it
        cost = _cost(y, target, x, w, n, kind, scratch)
        new, alpha = _line_search(x, dx, target, (w, n, kind), model, work, (trial, scratch), cost)
        accepted = new < cost
        small = alpha * np.max(np.abs(dx)) <= 1e-15 * (1.0 + np.max(np.abs(x)))
        if w > 0.0 and (small or not accepted or cost - new <= 1e-15 * cost):
            w = 0.0  # the penalised optimum is reached: polish the residual from there
        elif not accepted:
            return Status.STALLED, it
    return Status.MAX_ITER, max_iter


@njit(cache=True, parallel=True)
def _gn_prange(xs, goal, state, cell, meta, par, head, dims, codes, settings, status, iters):
    """The loop of :func:`gauss_newton_batch` (pairs stacked: numba's parallel loop takes no nested tuples)."""
    reg = settings[:2]
    for r in numba.prange(xs.shape[0]):
        st, it = gauss_newton_one(xs[r], goal[0, r], goal[1, r], state[0, r], state[1, r],
                                  (cell, meta, par, head, dims, codes), reg, int(settings[2]))
        status[r] = st
        iters[r] = it


def gauss_newton_batch(xs, targets, tolu, h0s, c0s, model, reg, max_iter):
    """Gauss-Newton on every target (``prange``); ``xs`` ``(N, T*n)`` is updated in place.

    Parameters
    ----------
    xs : (N, T*n) float64
        Starting points (processing order), overwritten by the answers.
    targets, tolu : (N, m) float64
        Targets and the per-unit tolerance they are judged by.
    h0s, c0s : (N, u) float64
        Initial states.
    model : tuple
        ``(cell, meta, par, head, dims, codes)`` (see the module docstring).
    reg : (2,) float64
        ``[weight, kind]`` of the regulariser (kind 0 smallness, 1 smoothness).
    max_iter : int

    Returns
    -------
    status : (N,) int8
    iters : (N,) int64
    """
    status = np.zeros(xs.shape[0], dtype=np.int8)
    iters = np.zeros(xs.shape[0], dtype=np.int64)
    settings = np.array([reg[0], reg[1], max_iter], dtype=np.float64)
    _gn_prange(xs, np.stack((targets, tolu)), np.stack((h0s, c0s)), *model, settings, status, iters)
    return status, iters
