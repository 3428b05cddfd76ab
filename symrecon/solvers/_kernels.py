"""Shared numba building blocks for the iterative solvers, with NumPy twins.

A :class:`~symrecon.Sequential` of dense layers is flattened once into a
:class:`PackedModel` (a few contiguous arrays), which is all a kernel sees.
Everything here that a kernel calls has a pure-NumPy reference
(``*_reference``) that the tests compare it against.

Nothing is compiled at import time: ``numba.njit`` only compiles on the first
call, and ``cache=True`` keeps the machine code on disk for the next process.

Layout of a :class:`PackedModel` with ``L`` layers:

* ``sizes`` (L + 1,) int64: ``sizes[0] = n_in``, ``sizes[l + 1]`` = width of layer ``l``.
* ``w`` flat float64; layer ``l``'s kernel, stored *transposed* (``n_out, n_in``,
  row-major) from ``w[w_off[l]]``: the layout for pushing vectors backwards
  (``W v``) and tangents forwards as contiguous multiply-adds.
* ``wk`` the same kernels in Keras layout (``n_in, n_out``, row-major), the
  layout for the forward pass ``x @ W`` as contiguous multiply-adds.
* ``b`` flat float64, layer ``l``'s bias from ``b_off[l]``.
* ``codes`` (L,) int64 and ``params`` (L,) float64: each layer's
  :class:`~symrecon.activations.KernelCode` and parameter.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.solvers._kernels import pack, forward_reference
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> float(forward_reference(pack(m), np.array([[312.5]]))[0, 0])
100.0
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import njit
from numpy.typing import NDArray

from ..activations import KernelCode
from ..backends.numba.activations import act_and_deriv, act_vec
from ..status import Status

__all__ = [
    "PackedModel", "pack", "act_and_deriv", "forward_batch", "jacobian_batch", "gradient_batch",
    "forward_reference", "jacobian_reference", "gradient_reference", "act_and_deriv_reference",
    "STATUS_CONVERGED", "STATUS_MAX_ITER", "STATUS_STALLED", "STATUS_DIVERGED",
]

#: Floating-point flags of the hot loops.  Only re-association (so that dot
#: products can be vectorised with several partial sums instead of one serial
#: chain, ~4x faster on 16-wide layers) and FMA contraction: both change results
#: by rounding only.  No "nnan"/"ninf": NaN and inf must survive, because the
#: solvers detect divergence with them.
FASTMATH = {"reassoc", "contract"}

# Status codes written by kernels; equal to symrecon.result.Status codes (checked in tests).
STATUS_CONVERGED = Status.CONVERGED
STATUS_MAX_ITER = Status.MAX_ITER
STATUS_STALLED = Status.STALLED
STATUS_DIVERGED = Status.DIVERGED


class PackedModel(NamedTuple):
    """A dense network as flat arrays (see the module docstring for the layout)."""

    sizes: NDArray[np.int64]
    w: NDArray[np.float64]
    wk: NDArray[np.float64]
    w_off: NDArray[np.int64]
    b: NDArray[np.float64]
    b_off: NDArray[np.int64]
    codes: NDArray[np.int64]
    params: NDArray[np.float64]

    @property
    def n_in(self) -> int:
        return int(self.sizes[0])

    @property
    def n_out(self) -> int:
        return int(self.sizes[-1])

    @property
    def max_width(self) -> int:
        return int(np.max(self.sizes))

    @property
    def args(self) -> tuple:
        """The arrays in the order every kernel takes them."""
        return (self.sizes, self.w, self.wk, self.w_off, self.b, self.b_off, self.codes, self.params)


def pack(model) -> PackedModel:
    """Flatten a :class:`~symrecon.Sequential` of :class:`~symrecon.Dense` layers.

    Parameters
    ----------
    model : Sequential

    Returns
    -------
    PackedModel
    """
    layers = model.layers
    sizes = np.array([layers[0].n_in] + [layer.n_out for layer in layers], dtype=np.int64)
    w_parts, wk_parts, b_parts, w_off, b_off = [], [], [], [], []
    wo = bo = 0
    for layer in layers:
        w_off.append(wo)
        b_off.append(bo)
        # transposed: row j holds the weights into unit j (contiguous dot products)
        w_parts.append(np.ascontiguousarray(layer.kernel.T).ravel())
        wk_parts.append(np.ascontiguousarray(layer.kernel).ravel())
        b_parts.append(np.asarray(layer.bias, dtype=np.float64))
        wo += layer.kernel.size
        bo += layer.n_out
    return PackedModel(
        sizes=sizes,
        w=np.ascontiguousarray(np.concatenate(w_parts)),
        wk=np.ascontiguousarray(np.concatenate(wk_parts)),
        w_off=np.array(w_off, dtype=np.int64),
        b=np.ascontiguousarray(np.concatenate(b_parts)),
        b_off=np.array(b_off, dtype=np.int64),
        codes=np.array([layer.activation.kernel_code for layer in layers], dtype=np.int64),
        params=np.array([layer.activation.param for layer in layers], dtype=np.float64),
    )


#: kernel code -> (registry name, name of the parameter or None)
_BY_CODE = {
    KernelCode.LINEAR: ("linear", None),
    KernelCode.SIGMOID: ("sigmoid", None),
    KernelCode.TANH: ("tanh", None),
    KernelCode.RELU: ("relu", None),
    KernelCode.LEAKY_RELU: ("leaky_relu", "negative_slope"),
    KernelCode.ELU: ("elu", "alpha"),
    KernelCode.SELU: ("selu", None),
    KernelCode.SOFTPLUS: ("softplus", None),
    KernelCode.SOFTSIGN: ("softsign", None),
    KernelCode.EXPONENTIAL: ("exponential", None),
    KernelCode.HARD_SIGMOID: ("hard_sigmoid", "slope"),
    KernelCode.RELU6: ("relu6", None),
    KernelCode.SILU: ("silu", None),
    KernelCode.GELU: ("gelu", None),
}


def act_and_deriv_reference(z: NDArray[np.float64], code: int, param: float):
    """NumPy twin of :func:`act_and_deriv`: the registry's ``numpy`` and ``numpy_derivative``."""
    from .. import activations as acts

    name, pname = _BY_CODE[int(code)]
    act = acts.get(name, **({pname: float(param)} if pname else {}))
    return act.numpy(z), act.numpy_derivative(z)


# ---------------------------------------------------------------------------
# One-target primitives (called inside the prange loops of the solvers).


@njit(cache=True, fastmath=FASTMATH, inline="always")
def affine(a, a_off, wk, w_off, b, b_off, n_i, n_o, z):
    """``z[:n_o] = b + a[a_off:a_off + n_i] @ W`` for a packed (n_in, n_out) kernel.

    Row by row of the kernel, so the inner loop is contiguous multiply-adds.
    """
    for j in range(n_o):
        z[j] = b[b_off + j]
    for i in range(n_i):
        ai = a[a_off + i]
        row = w_off + i * n_o
        for j in range(n_o):
            z[j] += ai * wk[row + j]


@njit(cache=True, fastmath=FASTMATH)
def forward_one(sizes, w, wk, w_off, b, b_off, codes, params, x, buf_a, buf_b, out):
    """Forward pass of one input ``x`` (n_in,) into ``out`` (n_out,).

    ``buf_a``, ``buf_b`` are scratch vectors of length ``2 * max_width``.
    """
    n_layers = codes.shape[0]
    mw = buf_a.shape[0] // 2
    cur = buf_a[:mw]
    nxt = buf_b[:mw]
    zs = buf_a[mw:]
    ds = buf_b[mw:]
    for k in range(sizes[0]):
        cur[k] = x[k]
    for layer in range(n_layers):
        n_i = sizes[layer]
        n_o = sizes[layer + 1]
        wo = w_off[layer]
        bo = b_off[layer]
        affine(cur, 0, wk, wo, b, bo, n_i, n_o, zs)
        act_vec(zs, nxt, ds, n_o, codes[layer], params[layer])
        cur, nxt = nxt, cur
    for j in range(sizes[n_layers]):
        out[j] = cur[j]


@njit(cache=True, fastmath=FASTMATH)
def forward_jac_one(sizes, w, wk, w_off, b, b_off, codes, params, x, buf_a, buf_b, t_a, t_b, out, jac):
    """Output ``out`` (n_out,) and Jacobian ``jac`` (n_out, n_in) at ``x`` by forward mode.

    The tangent ``T_l = d a_l / d x`` (width_l, n_in) is pushed through each
    layer: ``T_l = diag(f'(z_l)) W_l^T T_{l-1}`` with ``T_0 = I``; the first
    layer needs no product (``T_1 = diag(f') W_1^T``).  Scratch: ``buf_*``
    (2 * max_width,), ``t_*`` (max_width, n_in).
    """
    n_layers = codes.shape[0]
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
        n_i = sizes[layer]
        n_o = sizes[layer + 1]
        wo = w_off[layer]
        bo = b_off[layer]
        affine(cur, 0, wk, wo, b, bo, n_i, n_o, zs)
        act_vec(zs, nxt, ds, n_o, codes[layer], params[layer])
        for j in range(n_o):
            d = ds[j]
            row = wo + j * n_i
            trow = tn[j]
            if layer == 0:
                for k in range(n0):
                    trow[k] = d * w[row + k]
            else:
                for k in range(n0):
                    trow[k] = 0.0
                for i in range(n_i):
                    wi = w[row + i]
                    src = tc[i]
                    for k in range(n0):
                        trow[k] += wi * src[k]
                for k in range(n0):
                    trow[k] *= d
        cur, nxt = nxt, cur
        tc, tn = tn, tc
    n_out = sizes[n_layers]
    for j in range(n_out):
        out[j] = cur[j]
        for k in range(n0):
            jac[j, k] = tc[j, k]


@njit(cache=True, fastmath=FASTMATH)
def gradient_one(sizes, w, wk, w_off, b, b_off, codes, params, x, y, acts, derivs, delta_a, delta_b, grad):
    """Cost ``||model(x) - y||^2`` and its gradient ``grad`` (n_in,) by backprop.

    ``acts``/``derivs`` hold every layer's activations/derivatives
    (length ``sum(sizes)``); ``delta_*`` are scratch vectors (max_width,).
    Returns the cost and the max-norm residual.
    """
    n_layers = codes.shape[0]
    n0 = sizes[0]
    for k in range(n0):
        acts[k] = x[k]
    off_in = 0
    off_out = n0
    for layer in range(n_layers):
        n_i = sizes[layer]
        n_o = sizes[layer + 1]
        wo = w_off[layer]
        bo = b_off[layer]
        affine(acts, off_in, wk, wo, b, bo, n_i, n_o, delta_a)
        act_vec(delta_a, acts[off_out:], derivs[off_out:], n_o, codes[layer], params[layer])
        off_in = off_out
        off_out += n_o
    # output layer: d cost / d z_L = 2 r f'(z_L)
    n_out = sizes[n_layers]
    cost = 0.0
    res = 0.0
    for j in range(n_out):
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
        n_o = sizes[layer + 1]
        wo = w_off[layer]
        off_in = off_out - n_i
        for i in range(n_i):
            dn[i] = 0.0
        for j in range(n_o):
            dj = dc[j]
            row = wo + j * n_i
            for i in range(n_i):
                dn[i] += w[row + i] * dj
        if layer > 0:
            for i in range(n_i):
                dn[i] *= derivs[off_in + i]
        dc, dn = dn, dc
        off_out = off_in
    for k in range(n0):
        grad[k] = dc[k]
    return cost, res


# ---------------------------------------------------------------------------
# Batched entry points (also what the tests compare with the NumPy twins).


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def forward_batch(sizes, w, wk, w_off, b, b_off, codes, params, xs):
    """``model(xs)`` for ``xs`` (N, n_in) -> (N, n_out)."""
    n = xs.shape[0]
    mw = np.max(sizes)
    out = np.empty((n, sizes[-1]))
    for t in numba.prange(n):
        buf_a = np.empty(2 * mw)
        buf_b = np.empty(2 * mw)
        forward_one(sizes, w, wk, w_off, b, b_off, codes, params, xs[t], buf_a, buf_b, out[t])
    return out


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def jacobian_batch(sizes, w, wk, w_off, b, b_off, codes, params, xs):
    """Outputs (N, n_out) and Jacobians (N, n_out, n_in) at ``xs`` (N, n_in)."""
    n = xs.shape[0]
    n0 = sizes[0]
    mw = np.max(sizes)
    out = np.empty((n, sizes[-1]))
    jac = np.empty((n, sizes[-1], n0))
    for t in numba.prange(n):
        buf_a = np.empty(2 * mw)
        buf_b = np.empty(2 * mw)
        t_a = np.empty((mw, n0))
        t_b = np.empty((mw, n0))
        forward_jac_one(sizes, w, wk, w_off, b, b_off, codes, params, xs[t], buf_a, buf_b, t_a, t_b, out[t], jac[t])
    return out, jac


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def gradient_batch(sizes, w, wk, w_off, b, b_off, codes, params, xs, ys):
    """Costs (N,) and gradients (N, n_in) of ``||model(x) - y||^2``."""
    n = xs.shape[0]
    n0 = sizes[0]
    mw = np.max(sizes)
    total = np.sum(sizes)
    cost = np.empty(n)
    grad = np.empty((n, n0))
    for t in numba.prange(n):
        acts = np.empty(total)
        derivs = np.empty(total)
        d_a = np.empty(mw)
        d_b = np.empty(mw)
        cost[t] = gradient_one(sizes, w, wk, w_off, b, b_off, codes, params, xs[t], ys[t], acts, derivs,
                               d_a, d_b, grad[t])[0]
    return cost, grad


# ---------------------------------------------------------------------------
# NumPy twins (vectorised over the batch).


def _layers(pm: PackedModel):
    for layer in range(len(pm.codes)):
        n_i, n_o = int(pm.sizes[layer]), int(pm.sizes[layer + 1])
        wt = pm.w[pm.w_off[layer]: pm.w_off[layer] + n_i * n_o].reshape(n_o, n_i)
        bias = pm.b[pm.b_off[layer]: pm.b_off[layer] + n_o]
        yield wt.T, bias, int(pm.codes[layer]), float(pm.params[layer])


def forward_reference(pm: PackedModel, xs: NDArray[np.float64]) -> NDArray[np.float64]:
    """NumPy twin of :func:`forward_batch`."""
    a = np.asarray(xs, dtype=np.float64)
    for kernel, bias, code, param in _layers(pm):
        a = act_and_deriv_reference(a @ kernel + bias, code, param)[0]
    return a


def jacobian_reference(pm: PackedModel, xs: NDArray[np.float64]):
    """NumPy twin of :func:`jacobian_batch`: outputs (N, n_out), Jacobians (N, n_out, n_in)."""
    a = np.asarray(xs, dtype=np.float64)
    n, n0 = a.shape
    tangent = np.broadcast_to(np.eye(n0), (n, n0, n0))
    for kernel, bias, code, param in _layers(pm):
        a, d = act_and_deriv_reference(a @ kernel + bias, code, param)
        tangent = d[:, :, None] * np.einsum("ij,nik->njk", kernel, tangent)
    return a, tangent


def gradient_reference(pm: PackedModel, xs: NDArray[np.float64], ys: NDArray[np.float64]):
    """NumPy twin of :func:`gradient_batch`: ``2 J^T r`` by reverse mode."""
    a = np.asarray(xs, dtype=np.float64)
    saved = []
    for kernel, bias, code, param in _layers(pm):
        a, d = act_and_deriv_reference(a @ kernel + bias, code, param)
        saved.append((kernel, d))
    r = a - ys
    delta = 2.0 * r
    for kernel, d in reversed(saved):
        delta = (delta * d) @ kernel.T
    return np.sum(r * r, axis=1), delta
