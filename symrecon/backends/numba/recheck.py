"""The forward re-check inside the analytic kernel: ``model(x)`` for a block of rows, and the verdict per row.

The analytic kernel (:mod:`.inverse`) re-runs the model forward on every
reconstructed row while the row is still in cache, instead of a separate
NumPy pass over the whole batch afterwards.  The check starts from the
returned ``x`` and multiplies by the kernels ``W`` (not the back-matrices);
the activations' forward formulas are here (a tanh layer's is evaluated
around its inverse's values instead, see :mod:`.inverse`).  Its twins are :func:`symrecon.recheck.forward_rows` and
:func:`symrecon.recheck.max_residual` (outputs and residuals) and
:func:`symrecon.tolerance.unit_tolerance` / :func:`~symrecon.tolerance.within`
(the verdict); agreement is a test.

Blocks are stored unit-major (``col[j, r]``: unit ``j`` of the block's row
``r``) so that every loop runs over contiguous rows and vectorises.

Examples
--------
>>> import numpy as np
>>> from symrecon import activations
>>> from symrecon.backends.numba.recheck import forward_block
>>> col = np.array([0.0, 0.5, -30.0])
>>> tanh = activations.get("tanh")
>>> forward_block(tanh.kernel_code, tanh.param, col, 3)
>>> bool(np.allclose(col, np.tanh([0.0, 0.5, -30.0]), rtol=0, atol=4e-16))
True
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ...activations import get as _activation
from .activations import act_and_deriv
from .vecmath import exp, exp_capped

__all__ = ["forward_block", "affine_block", "judge_block", "FLOOR"]

#: float64 resolution floor of the tolerance rule, in units of ``|y|`` (as :mod:`symrecon.tolerance`)
FLOOR = 4.0 * float(np.finfo(np.float64).eps)

_LINEAR = _activation("linear").kernel_code
_TANH = _activation("tanh").kernel_code
_SIGMOID = _activation("sigmoid").kernel_code
_FAST = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}


@njit(**_FAST)
def forward_block(code, param, col, nb):
    """``col[r] = f(col[r])`` for ``r < nb``: the activation with kernel code ``code``, forward.

    tanh and sigmoid run as vectorised loops over :func:`~.vecmath.exp_capped` and :func:`~.vecmath.exp`
    (tanh: ``sign(z) (1 - 2 / (e^{2|z|} + 1))``, absolute error below
    ``2.3e-16``, exact ``±1`` in saturation); every other activation through
    its scalar formula in :mod:`.activations`.  NaN propagates.
    """
    if code == _LINEAR:
        return
    if code == _TANH:
        for r in range(nb):
            z = col[r]
            t = 1.0 - 2.0 / (exp_capped(2.0 * abs(z)) + 1.0)  # 1 exactly from |z| = 20 on
            col[r] = math.copysign(t, z) if z == z else z
    elif code == _SIGMOID:
        for r in range(nb):
            z = col[r]
            e = exp(-abs(z))
            col[r] = (1.0 if z >= 0.0 else e) / (1.0 + e) if z == z else z
    else:
        for r in range(nb):
            col[r] = act_and_deriv(col[r], code, param)[0]


@njit(**_FAST)
def _four_outputs(src, dst, mat, off, b, b_off, n_in, n_out, nb, k):
    """Units ``k .. k + 3`` of :func:`affine_block`: four inputs by four outputs per pass over the rows.

    Indexes the 2-D blocks instead of taking row views: a view costs a
    reference count, and a block takes hundreds of them.
    """
    has_b = b_off >= 0
    b0, b1 = (b[b_off + k] if has_b else 0.0), (b[b_off + k + 1] if has_b else 0.0)
    b2, b3 = (b[b_off + k + 2] if has_b else 0.0), (b[b_off + k + 3] if has_b else 0.0)
    for r in range(nb):
        dst[k, r], dst[k + 1, r], dst[k + 2, r], dst[k + 3, r] = b0, b1, b2, b3
    j4 = n_in - n_in % 4
    for j in range(0, j4, 4):
        o = off + j * n_out + k
        c00, c01, c02, c03 = mat[o], mat[o + 1], mat[o + 2], mat[o + 3]
        o += n_out
        c10, c11, c12, c13 = mat[o], mat[o + 1], mat[o + 2], mat[o + 3]
        o += n_out
        c20, c21, c22, c23 = mat[o], mat[o + 1], mat[o + 2], mat[o + 3]
        o += n_out
        c30, c31, c32, c33 = mat[o], mat[o + 1], mat[o + 2], mat[o + 3]
        for r in range(nb):
            x0, x1, x2, x3 = src[j, r], src[j + 1, r], src[j + 2, r], src[j + 3, r]
            dst[k, r] = dst[k, r] + x0 * c00 + x1 * c10 + x2 * c20 + x3 * c30
            dst[k + 1, r] = dst[k + 1, r] + x0 * c01 + x1 * c11 + x2 * c21 + x3 * c31
            dst[k + 2, r] = dst[k + 2, r] + x0 * c02 + x1 * c12 + x2 * c22 + x3 * c32
            dst[k + 3, r] = dst[k + 3, r] + x0 * c03 + x1 * c13 + x2 * c23 + x3 * c33
    for j in range(j4, n_in):
        o = off + j * n_out + k
        c0, c1, c2, c3 = mat[o], mat[o + 1], mat[o + 2], mat[o + 3]
        for r in range(nb):
            x = src[j, r]
            dst[k, r] += x * c0
            dst[k + 1, r] += x * c1
            dst[k + 2, r] += x * c2
            dst[k + 3, r] += x * c3


@njit(**_FAST)
def affine_block(src, dst, mat, off, b, b_off, n_in, n_out, nb):
    """``dst[k, r] = b[k] + sum_j src[j, r] M[j, k]`` for ``r < nb``: ``M`` (n_in, n_out) row-major at ``mat[off]``.

    ``b_off < 0``: no bias.  Rows are contiguous in every inner loop, and
    each pass over the rows updates four outputs from four inputs (16
    multiply-adds per 8 loads and 4 stores, against 8 per 10 one output at a
    time), summed in the same order as one input at a time, so the rounding
    is the same.
    """
    k4 = n_out - n_out % 4
    for k in range(0, k4, 4):
        _four_outputs(src, dst, mat, off, b, b_off, n_in, n_out, nb, k)
    for k in range(k4, n_out):
        bk = b[b_off + k] if b_off >= 0 else 0.0
        for r in range(nb):
            dst[k, r] = bk
        for j in range(n_in):
            c = mat[off + j * n_out + k]
            for r in range(nb):
                dst[k, r] += src[j, r] * c


@njit(**_FAST)
def judge_block(pred, target, nb, lo, hi, atol, rtol, worst, ok):
    """Residual and verdict of the block's rows: ``pred[j, r]`` against ``target[j, r]`` (both unit-major).

    ``worst[r] = max_j |pred[j, r] - target[j, r]|`` (inf where not finite);
    ``ok[r]`` (1.0 or 0.0): every unit ``j`` has
    ``|pred - y| <= (atol + rtol |y|) min(1, d) + FLOOR |y|``, ``d`` the
    distance from ``y`` to the nearer end ``lo``/``hi`` of the output
    activation's image (infinite ends are never near).
    """
    for r in range(nb):
        worst[r] = 0.0
        ok[r] = 1.0
    for j in range(target.shape[0]):
        p = pred[j]
        t = target[j]
        for r in range(nb):
            yv = t[r]
            diff = abs(p[r] - yv)
            ay = abs(yv)
            near = min(1.0, min(yv - lo, hi - yv))
            fine = diff <= (atol + rtol * ay) * near + FLOOR * ay
            ok[r] = ok[r] if fine else 0.0
            worst[r] = max(worst[r], diff) if diff == diff else math.inf
