"""The fused numba kernel of the analytic inverse: every layer, backwards, for blocks of targets.

The analytic inverse of a chain of Dense layers is evaluated backwards, one
layer after the other::

    u         = f_l^{-1}(a^{(l)}) - b^{(l)}     (checked: a^{(l)} in image(f_l))
    a^{(l-1)} = u @ B^{(l)}                     (B = W^{-1}, or pinv(W))

:func:`inverse_rows` runs the whole chain in one ``@njit(parallel=True)``
kernel over blocks of targets and returns a per-row
:class:`~symrecon.status.Status`: ``EXACT`` for a solved row, ``INFEASIBLE``
for a row with a value outside an activation's image, an inconsistent tall
layer or an input that overflows float64 (its ``x`` is NaN).  Nothing raises
inside the kernel: an exception in a ``prange`` body would abort its whole
block and leave rows unwritten, so bad values are flagged and computed on
(``error_model="numpy"``: 1/0 is inf, not ``ZeroDivisionError``).  The
detailed reason for a row comes from the NumPy twin in
:mod:`symrecon.symbolic.numeric`.

Nothing here compiles at import time: numba compiles the kernel on its first
call and caches the machine code on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from ...status import Status
from .activations import inverse_block

__all__ = ["BLOCK", "inverse_rows"]

#: targets per block of the kernel (a block's working set stays in L1/L2)
BLOCK = 256

_EXACT = int(Status.EXACT)
_INFEASIBLE = int(Status.INFEASIBLE)


@njit(cache=True, error_model="numpy")
def _check_image(col, bad, nb, lo, hi, lo_closed, hi_closed):
    """``bad[r] = 1`` where ``col[r]`` is outside ``[lo, hi]`` (ends open unless closed); NaN is outside."""
    if lo_closed or hi_closed:  # no invertible activation has a closed end today; kept general
        for r in range(nb):
            v = col[r]
            inside = ((v > lo) or (lo_closed and v == lo)) and ((v < hi) or (hi_closed and v == hi))
            bad[r] = bad[r] if inside else 1.0
    else:
        for r in range(nb):
            v = col[r]
            bad[r] = bad[r] if (v > lo) & (v < hi) else 1.0


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _back_multiply(cur, nxt, mats, mo, n_out, n_in, nb):
    """``nxt[k, r] = sum_j cur[j, r] * back[j, k]``: contiguous over targets, so it vectorises."""
    for k in range(n_in):
        acc = nxt[k]
        c0 = mats[mo + k]
        col = cur[0]
        for r in range(nb):
            acc[r] = col[r] * c0
        for j in range(1, n_out):
            c = mats[mo + j * n_in + k]
            col = cur[j]
            for r in range(nb):
                acc[r] += col[r] * c


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _check_tall(cur, nxt, kernels, ko, n_out, n_in, nb, rtol, bad):
    """Flag targets whose least-squares preimage does not reproduce ``u`` (relative ``rtol``)."""
    for r in range(nb):
        worst = 0.0
        scale = 0.0
        for j in range(n_out):
            acc = 0.0
            for k in range(n_in):
                acc += nxt[k, r] * kernels[ko + k * n_out + j]
            worst = max(worst, abs(acc - cur[j, r]))
            scale = max(scale, abs(cur[j, r]))
        if not (worst <= rtol * (1.0 + scale)):
            bad[r] = 1.0


# "contract" lets LLVM fuse multiply-adds; no reassociation, which would
# undo the exact (1 + w) - 1 of the artanh, and no nnan/ninf, which would
# drop the image and overflow checks.
@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract"})
def _inverse_kernel(y, ints, floats, mats, kernels, biases, offsets, rtol, out, status):
    """Fused backward pass over all layers for every target (row of ``y``).

    Works on blocks of ``BLOCK`` targets stored unit-major (``cur[j, r]``) so
    that every inner loop runs over contiguous targets and vectorises.
    Writes every row of ``out`` (N, n_in; NaN for infeasible rows) and
    ``status`` (N,) :class:`Status` codes; never raises.
    """
    n, m = y.shape
    n_steps = ints.shape[0]
    width = 1
    for s in range(n_steps):
        width = max(width, ints[s, 1], ints[s, 2])
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        i0 = blk * BLOCK
        nb = min(BLOCK, n - i0)
        cur = np.empty((width, BLOCK))
        nxt = np.empty((width, BLOCK))
        bad = np.zeros(BLOCK)
        arg = np.empty(BLOCK)
        ratio = np.empty(BLOCK)
        for r in range(nb):
            for j in range(m):
                cur[j, r] = y[i0 + r, j]
        ko = 0  # offset of this step's kernel in `kernels`
        for s in range(n_steps):
            code, n_out, n_in = ints[s, 0], ints[s, 1], ints[s, 2]
            for j in range(n_out):
                _check_image(cur[j], bad, nb, floats[s, 1], floats[s, 2], floats[s, 3] > 0.0, floats[s, 4] > 0.0)
                inverse_block(code, floats[s, 0], biases[offsets[s, 1] + j], cur[j], arg, ratio, nb)
            _back_multiply(cur, nxt, mats, offsets[s, 0], n_out, n_in, nb)
            if ints[s, 3]:
                _check_tall(cur, nxt, kernels, ko, n_out, n_in, nb, rtol, bad)
            ko += n_out * n_in
            cur, nxt = nxt, cur
        n_x = ints[n_steps - 1, 2]
        for r in range(nb):
            ok = bad[r] == 0.0
            for k in range(n_x):
                ok = ok & (abs(cur[k, r]) < np.inf)  # overflow (and NaN) is infeasible too
            for k in range(n_x):
                out[i0 + r, k] = cur[k, r] if ok else np.nan
            status[i0 + r] = _EXACT if ok else _INFEASIBLE


def inverse_rows(packed: tuple[NDArray, ...], rtol: float,
                 y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """Run the kernel on every row of ``y``.

    Parameters
    ----------
    packed : tuple of ndarray
        ``(ints, floats, mats, kernels, biases, offsets)`` as built by
        :class:`~symrecon.symbolic.numeric.InversePlan` (steps in evaluation
        order, output layer first).
    rtol : float
        Relative tolerance of the tall layers' consistency check.
    y : ndarray, shape (N, n_out)
        Finite targets (not modified).

    Returns
    -------
    x : ndarray, shape (N, n_in)
        NaN in the rows that are not ``EXACT``.
    status : ndarray of int8, shape (N,)
        :class:`~symrecon.status.Status` codes: ``EXACT`` or ``INFEASIBLE``.
    """
    ints, floats, mats, kernels, biases, offsets = packed
    y = np.ascontiguousarray(y, dtype=np.float64)
    n = y.shape[0]
    # Filled, never np.empty: a row the kernel did not reach reads NaN / NOT_RUN.
    out = np.full((n, int(ints[-1, 2])), np.nan)
    status = np.full(n, int(Status.NOT_RUN), dtype=np.int8)
    if n:
        _inverse_kernel(y, ints, floats, mats, kernels, biases, offsets, float(rtol), out, status)
    return out, status
