"""numba kernels of the recurrent cells, forward over time and backward through time (one target).

The cell part of :mod:`symrecon.backends.numba.bptt` (which documents the
packed layout): :func:`cell_forward` runs SimpleRNN, LSTM or GRU (both
``reset_after`` modes) over a sequence and keeps a tape; :func:`cell_backward`
pulls a cotangent of the last hidden state back to every input step.

Examples
--------
>>> import numpy as np
>>> from symrecon.backends.numba.bptt_cells import cell_backward, cell_forward
>>> cell = (np.array([[2.0]]), np.array([[0.5]]), np.zeros(1), np.zeros(1))
>>> meta, par = np.array([0, 1, 1, 0, 0]), np.zeros(2)
>>> tape = (np.empty((3, 1)), np.empty((3, 1)), np.empty((2, 1)), np.empty((2, 1)), np.empty((2, 2)))
>>> cell_forward(np.array([1.0, 1.0]), np.zeros(1), np.zeros(1), cell, meta, par, tape)
>>> tape[0][:, 0].tolist()   # linear: h1 = 2, h2 = 2 + 0.5 * 2
[0.0, 2.0, 3.0]
>>> gx = np.empty(2)
>>> cell_backward(np.ones(1), cell, meta, tape, gx)
>>> gx.tolist()   # d h2 / d x1 = 0.5 * 2, d h2 / d x2 = 2
[1.0, 2.0]
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .activations import act_and_deriv

__all__ = ["FM", "cell_backward", "cell_forward"]

#: re-association and FMA only: results change by rounding, NaN and inf survive
FM = {"reassoc", "contract"}
_FM = FM


@njit(cache=True, fastmath=_FM)
def _project(v, M, out, c0, c1):
    """``out[j] = sum_i v[i] * M[i, c0 + j]`` for ``j < c1 - c0``."""
    for j in range(c1 - c0):
        out[j] = 0.0
    for i in range(v.shape[0]):
        vi = v[i]
        if vi != 0.0:
            for j in range(c1 - c0):
                out[j] += vi * M[i, c0 + j]


@njit(cache=True, fastmath=_FM)
def _back(dz, M, out, c0, acc):
    """``out[i] (+)= sum_j dz[j] * M[i, c0 + j]`` (a cotangent pulled through a block of columns)."""
    for i in range(out.shape[0]):
        s = 0.0
        for j in range(dz.shape[0]):
            s += dz[j] * M[i, c0 + j]
        out[i] = out[i] + s if acc else s


@njit(cache=True, fastmath=_FM)
def cell_forward(x, h0, c0, cell, meta, par, tape):
    """Run the cell over ``x`` ``(T*n,)``; ``tape = (H (T+1,u), C (T+1,u), A (T,G*u), D (T,G*u), E (T,2u))``.

    ``A``/``D`` hold each gate's value and derivative; ``E`` the extras the
    backward pass needs (LSTM: act(c_t), act'(c_t); GRU: the recurrent
    candidate term before the reset gate).
    """
    K, R, b_in, b_rec = cell
    kind, n, u, act, ract = meta[0], meta[1], meta[2], meta[3], meta[4]
    H, C, A, D, E = tape
    G = A.shape[1] // u
    T = A.shape[0]
    z = np.empty(G * u)
    hz = np.empty(G * u)
    H[0, :] = h0
    C[0, :] = c0
    for t in range(T):
        xt = x[t * n:(t + 1) * n]
        _project(xt, K, z, 0, G * u)
        _project(H[t], R, hz, 0, G * u)
        for k in range(G * u):
            z[k] += b_in[k]
            hz[k] += b_rec[k]
        if kind == 0:
            for j in range(u):
                a, d = act_and_deriv(z[j] + hz[j], act, par[0])
                A[t, j], D[t, j] = a, d
                H[t + 1, j] = a
        elif kind == 1:
            for j in range(4 * u):
                code, p = (act, par[0]) if j // u == 2 else (ract, par[1])
                A[t, j], D[t, j] = act_and_deriv(z[j] + hz[j], code, p)
            for j in range(u):
                c = A[t, u + j] * C[t, j] + A[t, j] * A[t, 2 * u + j]
                C[t + 1, j] = c
                ac, dac = act_and_deriv(c, act, par[0])
                E[t, j], E[t, u + j] = ac, dac
                H[t + 1, j] = A[t, 3 * u + j] * ac
        else:
            for j in range(2 * u):
                A[t, j], D[t, j] = act_and_deriv(z[j] + hz[j], ract, par[1])
            if kind == 3:  # reset before the product: (r * h) @ R_h
                rh = np.empty(u)
                for k in range(u):
                    rh[k] = A[t, u + k] * H[t, k]
                _project(rh, R, hz[2 * u:], 2 * u, 3 * u)
            for j in range(u):
                rec = hz[2 * u + j]
                E[t, j] = rec
                pre = z[2 * u + j] + (A[t, u + j] * rec if kind == 2 else rec)
                A[t, 2 * u + j], D[t, 2 * u + j] = act_and_deriv(pre, act, par[0])
                zj = A[t, j]
                H[t + 1, j] = zj * H[t, j] + (1.0 - zj) * A[t, 2 * u + j]


@njit(cache=True, fastmath=_FM)
def cell_backward(gh, cell, meta, tape, gx):
    """Pull ``dL/dh_T`` (``gh``, overwritten) back through time into ``gx`` ``(T*n,)``."""
    K, R, b_in, b_rec = cell
    kind, n, u = meta[0], meta[1], meta[2]
    H, C, A, D, E = tape
    G = A.shape[1] // u
    T = A.shape[0]
    dz = np.empty(G * u)
    gc = np.zeros(u)
    ghp = np.empty(u)
    for t in range(T - 1, -1, -1):
        if kind == 0:
            for j in range(u):
                dz[j] = gh[j] * D[t, j]
        elif kind == 1:
            for j in range(u):
                gcj = gc[j] + gh[j] * A[t, 3 * u + j] * E[t, u + j]
                dz[j] = gcj * A[t, 2 * u + j] * D[t, j]
                dz[u + j] = gcj * C[t, j] * D[t, u + j]
                dz[2 * u + j] = gcj * A[t, j] * D[t, 2 * u + j]
                dz[3 * u + j] = gh[j] * E[t, j] * D[t, 3 * u + j]
                gc[j] = gcj * A[t, u + j]
        else:
            for j in range(u):
                zj = A[t, j]
                dc = gh[j] * (1.0 - zj) * D[t, 2 * u + j]
                dz[2 * u + j] = dc
                dz[j] = gh[j] * (H[t, j] - A[t, 2 * u + j]) * D[t, j]
                dz[u + j] = (dc * E[t, j] * D[t, u + j]) if kind == 2 else 0.0
        for i in range(n):
            s = 0.0
            for k in range(G * u):
                s += dz[k] * K[i, k]
            gx[t * n + i] = s
        if kind <= 1:
            _back(dz, R, ghp, 0, False)
        elif kind == 2:
            for j in range(u):
                ghp[j] = gh[j] * A[t, j]
            rd = np.empty(u)
            for j in range(u):
                rd[j] = dz[2 * u + j] * A[t, u + j]
            _back(dz[:2 * u], R, ghp, 0, True)
            _back(rd, R, ghp, 2 * u, True)
        else:
            grh = np.empty(u)
            _back(dz[2 * u:], R, grh, 2 * u, False)
            for j in range(u):
                dz[u + j] = grh[j] * H[t, j] * D[t, u + j]
            for i in range(n):
                s = 0.0
                for k in range(u, 2 * u):
                    s += dz[k] * K[i, k]
                gx[t * n + i] += s
            for j in range(u):
                ghp[j] = gh[j] * A[t, j] + grh[j] * A[t, u + j]
            _back(dz[:2 * u], R, ghp, 0, True)
        for j in range(u):
            gh[j] = ghp[j]
