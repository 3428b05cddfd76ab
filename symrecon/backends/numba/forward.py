"""numba forward pass, Jacobian and gradient of a packed model: per target, per lane block, per batch.

Every kernel here has the same twin, :mod:`symrecon.backends.numpy_ref`
(``forward``, ``jacobian``, ``gradient``); agreement is a test.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.backends.numba.pack import pack
>>> from symrecon.backends.numba.forward import forward_batch
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> float(forward_batch(pack(m), np.array([[312.5]]))[0, 0])
100.0
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit

from .activations import act_vec
from .primitives import FASTMATH, affine

__all__ = ["forward_one", "forward_jac_one", "gradient_one", "forward_batch", "jacobian_batch", "gradient_batch",
           "forward_jac_lanes", "forward_store_lanes"]


# ---------------------------------------------------------------------------
# One target (called inside the prange loops of the batch kernels).


@njit(cache=True, fastmath=FASTMATH)
def forward_one(pm, x, buf_a, buf_b, out):
    """Forward pass of one input ``x`` (n_in,) into ``out`` (n_out,).

    ``buf_a``, ``buf_b`` are scratch vectors of length ``2 * max_width``.
    """
    sizes = pm.sizes
    n_layers = pm.codes.shape[0]
    mw = buf_a.shape[0] // 2
    cur = buf_a[:mw]
    nxt = buf_b[:mw]
    zs = buf_a[mw:]
    ds = buf_b[mw:]
    for k in range(sizes[0]):
        cur[k] = x[k]
    for layer in range(n_layers):
        affine(cur, 0, pm, layer, zs)
        act_vec(zs, nxt, ds, sizes[layer + 1], pm.codes[layer], pm.params[layer])
        cur, nxt = nxt, cur
    for j in range(sizes[n_layers]):
        out[j] = cur[j]


@njit(cache=True, fastmath=FASTMATH)
def _push_tangent(pm, layer, ds, tc, tn):
    """``tn = diag(ds) W_l^T tc``: the tangent (width, n_in) through layer ``layer`` (``tc = I`` for the first)."""
    n0 = pm.sizes[0]
    n_i = pm.sizes[layer]
    wo = pm.w_off[layer]
    for j in range(pm.sizes[layer + 1]):
        d = ds[j]
        row = wo + j * n_i
        trow = tn[j]
        if layer == 0:
            for k in range(n0):
                trow[k] = d * pm.w[row + k]
        else:
            for k in range(n0):
                trow[k] = 0.0
            for i in range(n_i):
                wi = pm.w[row + i]
                src = tc[i]
                for k in range(n0):
                    trow[k] += wi * src[k]
            for k in range(n0):
                trow[k] *= d


@njit(cache=True, fastmath=FASTMATH)
def forward_jac_one(pm, x, buf_a, buf_b, t_a, t_b, out, jac):
    """Output ``out`` (n_out,) and Jacobian ``jac`` (n_out, n_in) at ``x`` by forward mode.

    The tangent ``T_l = d a_l / d x`` (width_l, n_in) is pushed through each
    layer: ``T_l = diag(f'(z_l)) W_l^T T_{l-1}`` with ``T_0 = I``.  Scratch:
    ``buf_*`` (2 * max_width,), ``t_*`` (max_width, n_in).
    """
    sizes = pm.sizes
    n_layers = pm.codes.shape[0]
    n0 = sizes[0]
    mw = buf_a.shape[0] // 2
    cur = buf_a[:mw]
    nxt = buf_b[:mw]
    zs = buf_a[mw:]
    ds = buf_b[mw:]
    tc = t_a
    tn = t_b
    for k in range(n0):
        cur[k] = x[k]
    for layer in range(n_layers):
        affine(cur, 0, pm, layer, zs)
        act_vec(zs, nxt, ds, sizes[layer + 1], pm.codes[layer], pm.params[layer])
        _push_tangent(pm, layer, ds, tc, tn)
        cur, nxt = nxt, cur
        tc, tn = tn, tc
    for j in range(sizes[n_layers]):
        out[j] = cur[j]
        for k in range(n0):
            jac[j, k] = tc[j, k]


@njit(cache=True, fastmath=FASTMATH)
def gradient_one(pm, x, y, acts, derivs, delta_a, delta_b, grad):
    """Cost ``||model(x) - y||^2`` and its gradient ``grad`` (n_in,) by backprop.

    ``acts``/``derivs`` hold every layer's activations/derivatives
    (length ``sum(sizes)``); ``delta_*`` are scratch vectors (max_width,).
    Returns the cost and the max-norm residual.
    """
    sizes = pm.sizes
    n_layers = pm.codes.shape[0]
    n0 = sizes[0]
    for k in range(n0):
        acts[k] = x[k]
    off_in = 0
    off_out = n0
    for layer in range(n_layers):
        affine(acts, off_in, pm, layer, delta_a)
        act_vec(delta_a, acts[off_out:], derivs[off_out:], sizes[layer + 1], pm.codes[layer], pm.params[layer])
        off_in = off_out
        off_out += sizes[layer + 1]
    # output layer: d cost / d z_L = 2 r f'(z_L)
    cost = 0.0
    res = 0.0
    for j in range(sizes[n_layers]):
        r = acts[off_in + j] - y[j]
        cost += r * r
        a = abs(r)
        if a > res or a != a:
            res = a
        delta_a[j] = 2.0 * r * derivs[off_in + j]
    dc = delta_a
    dn = delta_b
    off_out = off_in
    for layer in range(n_layers - 1, -1, -1):
        n_i = sizes[layer]
        wo = pm.w_off[layer]
        off_in = off_out - n_i
        for i in range(n_i):
            dn[i] = 0.0
        for j in range(sizes[layer + 1]):
            dj = dc[j]
            row = wo + j * n_i
            for i in range(n_i):
                dn[i] += pm.w[row + i] * dj
        if layer > 0:
            for i in range(n_i):
                dn[i] *= derivs[off_in + i]
        dc, dn = dn, dc
        off_out = off_in
    for k in range(n0):
        grad[k] = dc[k]
    return cost, res


# ---------------------------------------------------------------------------
# Lane blocks (structure of arrays: ``x`` is (n_in, lanes), the lane axis
# innermost, so every inner loop is a contiguous multiply-add over independent
# targets, which the compiler vectorises).


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _affine_lanes(w, row, bj, n_i, src, src_off, zbuf):
    """``zbuf[l] = bj + sum_i w[row + i] src[src_off + i, l]``: one unit's pre-activation for every lane.

    Takes the weight array itself, not the packed model: fields read from a
    tuple inside the hot loops cost a reference-count update each.
    """
    for l in range(zbuf.shape[0]):
        zbuf[l] = bj
    for i in range(n_i):
        wi = w[row + i]
        s = src[src_off + i]
        for l in range(zbuf.shape[0]):
            zbuf[l] += wi * s[l]


@njit(cache=True, fastmath=FASTMATH)
def forward_jac_lanes(pm, x, cur, nxt, zbuf, dbuf, tc, tn, out, jac):
    """Outputs and Jacobians of a block of lanes: ``x`` (n_in, L) -> ``out`` (n_out, L), ``jac`` (n_out, n_in * L).

    ``jac[j, k * L + l]`` = d out_j / d x_k of lane ``l``; the layer algebra
    is that of :func:`forward_jac_one`.  Scratch: ``cur``/``nxt`` (max_width, L),
    ``zbuf``/``dbuf`` (L,), ``tc``/``tn`` (max_width, n_in * L).
    """
    # the packed arrays as locals, out of the hot loops (see _affine_lanes)
    sizes, w, w_off, b, b_off, codes, params = pm.sizes, pm.w, pm.w_off, pm.b, pm.b_off, pm.codes, pm.params
    n_lanes = x.shape[1]
    n_layers = codes.shape[0]
    n0 = sizes[0]
    width = n0 * n_lanes
    for k in range(n0):
        for l in range(n_lanes):
            cur[k, l] = x[k, l]
    for layer in range(n_layers):
        n_i = sizes[layer]
        for j in range(sizes[layer + 1]):
            row = w_off[layer] + j * n_i
            _affine_lanes(w, row, b[b_off[layer] + j], n_i, cur, 0, zbuf)
            act_vec(zbuf, nxt[j], dbuf, n_lanes, codes[layer], params[layer])
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


@njit(cache=True, fastmath=FASTMATH)
def forward_store_lanes(pm, x, acts, derivs, zbuf):
    """Forward pass of a block of lanes keeping every layer: ``x`` (n_in, L), ``acts``/``derivs`` (sum(sizes), L).

    Row ``off_l + j`` holds unit ``j`` of layer ``l`` (the input first).
    Returns the row offset of the output layer.
    """
    sizes, w, w_off, b, b_off, codes, params = pm.sizes, pm.w, pm.w_off, pm.b, pm.b_off, pm.codes, pm.params
    n_lanes = x.shape[1]
    for k in range(sizes[0]):
        for l in range(n_lanes):
            acts[k, l] = x[k, l]
    off_in = 0
    off_out = sizes[0]
    for layer in range(codes.shape[0]):
        n_i = sizes[layer]
        n_o = sizes[layer + 1]
        for j in range(n_o):
            _affine_lanes(w, w_off[layer] + j * n_i, b[b_off[layer] + j], n_i, acts, off_in, zbuf)
            act_vec(zbuf, acts[off_out + j], derivs[off_out + j], n_lanes, codes[layer], params[layer])
        off_in = off_out
        off_out += n_o
    return off_in


# ---------------------------------------------------------------------------
# Batches (what the solvers and the tests call).


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def forward_batch(pm, xs):
    """``model(xs)`` for ``xs`` (N, n_in) -> (N, n_out)."""
    n = xs.shape[0]
    mw = np.max(pm.sizes)
    out = np.empty((n, pm.sizes[-1]))
    for t in numba.prange(n):
        forward_one(pm, xs[t], np.empty(2 * mw), np.empty(2 * mw), out[t])
    return out


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def jacobian_batch(pm, xs):
    """Outputs (N, n_out) and Jacobians (N, n_out, n_in) at ``xs`` (N, n_in)."""
    n = xs.shape[0]
    n0 = pm.sizes[0]
    mw = np.max(pm.sizes)
    out = np.empty((n, pm.sizes[-1]))
    jac = np.empty((n, pm.sizes[-1], n0))
    for t in numba.prange(n):
        forward_jac_one(pm, xs[t], np.empty(2 * mw), np.empty(2 * mw), np.empty((mw, n0)), np.empty((mw, n0)),
                        out[t], jac[t])
    return out, jac


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def gradient_batch(pm, xs, ys):
    """Costs (N,) and gradients (N, n_in) of ``||model(x) - y||^2``."""
    n = xs.shape[0]
    mw = np.max(pm.sizes)
    total = np.sum(pm.sizes)
    cost = np.empty(n)
    grad = np.empty((n, pm.sizes[0]))
    for t in numba.prange(n):
        cost[t] = gradient_one(pm, xs[t], ys[t], np.empty(total), np.empty(total), np.empty(mw), np.empty(mw),
                               grad[t])[0]
    return cost, grad
