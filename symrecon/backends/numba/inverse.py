"""The fused numba kernel of the analytic inverse: every layer backwards, then the forward re-check, per block of rows.

The analytic inverse of a chain of Dense layers is evaluated backwards, one
layer after the other, from the :class:`~.pack.PackedModel` every kernel
reads (packed with ``inverses=True``: the back-matrices ``B_l`` and the
activation images are in it)::

    u         = f_l^{-1}(a^{(l)}) - b^{(l)}     (checked: a^{(l)} in image(f_l))
    a^{(l-1)} = u @ B^{(l)}                     (B = W^{-1}, or pinv(W))

:func:`inverse_rows` runs the whole chain in one ``@njit(parallel=True)``
kernel over blocks of rows and returns a per-row
:class:`~symrecon.status.Status`: ``EXACT`` for a solved row, ``INFEASIBLE``
for a row with a value outside an activation's image, an inconsistent tall
layer or an input that overflows float64 (its ``x`` is NaN).  With
``recheck`` the same kernel then runs the model *forward* on the block's
answers while they are in cache (:mod:`.recheck`: the kernels ``W`` and the
activations forward, independent of the inverse) and writes ``model(x)``,
the residual and the tolerance verdict per row, so that the result needs no
second pass over the batch.  tanh layers, the common case, take their own
pass (:func:`_invert_column`): the image check folded into a one-division
artanh (:func:`~.vecmath.artanh`).  Because the output layer's image check
also fails NaN and inf, a batch solved here needs no scan of its targets
beforehand (``reconstruct`` re-scans only when a row is not ``EXACT``).  Nothing raises inside the kernel: an exception
in a ``prange`` body would abort its whole block and leave rows unwritten, so
bad values are flagged and computed on (``error_model="numpy"``: 1/0 is inf,
not ``ZeroDivisionError``).  The detailed reason for a row, and the
reference for every value, is the NumPy twin in
:mod:`symrecon.symbolic.numeric`.

Nothing here compiles at import time: numba compiles the kernel on its first
call and caches the machine code on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, parallel_chunksize, prange
from numpy.typing import NDArray

from ...recheck import Recheck
from ...status import Status
from ...activations import get as _activation
from .activations import inverse_block
from .pack import PackedModel
from .recheck import affine_block, forward_block, judge_block
from .vecmath import artanh

__all__ = ["BLOCK", "inverse_rows"]

#: rows per block of the kernel (its four (width, BLOCK) scratch arrays stay in L2; 256 measured faster than 128)
BLOCK = 256
#: blocks per parallel task (its scratch buffers are allocated once per task, not per block)
TASK_BLOCKS = 16
#: tasks a thread takes at a time: handed out as threads free up, so that a thread slowed by
#: another process does less of the batch (measured on a shared 2-core machine: the slowest of
#: nine 10^6-row calls 182 ms with numba's equal split, 97 ms with this; the median unchanged)
TASKS_PER_GRAB = 4

_EXACT = int(Status.EXACT)
_INFEASIBLE = int(Status.INFEASIBLE)
_TANH = _activation("tanh").kernel_code

_FLAGS = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}


@njit(**_FLAGS)
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


@njit(**_FLAGS)
def _invert_column(code, param, bias, col, bad, arg, ratio, nb, img):
    """``col[r] = f^{-1}(col[r]) - bias``, flagging ``bad[r]`` where ``col[r]`` is outside the image of ``f``.

    tanh (the common case) in one vectorised pass, the check folded in;
    every other activation as :func:`_check_image` then :func:`~.activations.inverse_block`.
    """
    if code == _TANH:
        for r in range(nb):
            v = col[r]
            bad[r] = bad[r] if abs(v) < 1.0 else 1.0  # NaN is outside too
            col[r] = artanh(v) - bias
    else:
        _check_image(col, bad, nb, img[0], img[1], img[2] > 0.0, img[3] > 0.0)
        inverse_block(code, param, bias, col, arg, ratio, nb)


@njit(**_FLAGS)
def _check_tall(cur, nxt, wk, w_off, n_out, n_in, nb, rtol, bad):
    """Flag rows whose least-squares preimage does not reproduce ``u`` (relative ``rtol``)."""
    for r in range(nb):
        worst = 0.0
        scale = 0.0
        for j in range(n_out):
            acc = 0.0
            for k in range(n_in):
                acc += nxt[k, r] * wk[w_off + k * n_out + j]
            worst = max(worst, abs(acc - cur[j, r]))
            scale = max(scale, abs(cur[j, r]))
        if not (worst <= rtol * (1.0 + scale)):
            bad[r] = 1.0


@njit(**_FLAGS)
def _back_block(pm, cur, nxt, bad, arg, ratio, nb, rtol):
    """Un-do every layer of the block's targets (in ``cur``); returns the buffer holding ``x``."""
    for layer in range(pm.codes.shape[0] - 1, -1, -1):
        n_in, n_out = pm.sizes[layer], pm.sizes[layer + 1]
        code, param, img = pm.codes[layer], pm.params[layer], pm.image[layer]
        b_off, w_off = pm.b_off[layer], pm.w_off[layer]
        for j in range(n_out):
            _invert_column(code, param, pm.b[b_off + j], cur[j], bad, arg, ratio, nb, img)
        # nxt[k, r] = sum_j cur[j, r] B[j, k]: an affine step through B (n_out -> n_in) without bias
        affine_block(cur, nxt, pm.back, w_off, pm.b, -1, n_out, n_in, nb)
        if n_out > n_in:
            _check_tall(cur, nxt, pm.wk, w_off, n_out, n_in, nb, rtol, bad)
        cur, nxt = nxt, cur
    return cur, nxt


@njit(**_FLAGS)
def _forward_block(pm, cur, nxt, nb):
    """``model(x)`` for the block's answers (in ``cur``): kernels ``W`` and activations forward."""
    for layer in range(pm.codes.shape[0]):
        n_in, n_out = pm.sizes[layer], pm.sizes[layer + 1]
        affine_block(cur, nxt, pm.wk, pm.w_off[layer], pm.b, pm.b_off[layer], n_in, n_out, nb)
        for k in range(n_out):
            forward_block(pm.codes[layer], pm.params[layer], nxt[k], nb)
        cur, nxt = nxt, cur
    return cur, nxt


@njit(**_FLAGS)
def _solve_block(pm, y, i0, rtol, tols, recheck, out, status, y_pred, residual, within, buf):
    """Rows ``i0 .. i0 + BLOCK`` of :func:`_inverse_kernel`, in the task's scratch ``buf`` (cur, nxt, target, bad, arg, ratio)."""
    nb = min(BLOCK, y.shape[0] - i0)
    n_x, n_y = pm.sizes[0], pm.sizes[-1]
    cur, nxt, target = buf[0], buf[1], buf[2, :n_y]  # judge_block reads every row of target
    bad, arg, ratio = buf[3, 0], buf[3, 1], buf[3, 2]
    for r in range(nb):
        bad[r] = 0.0
        for j in range(n_y):
            target[j, r] = y[i0 + r, j]
    for j in range(n_y):
        for r in range(nb):
            cur[j, r] = target[j, r]
    cur, nxt = _back_block(pm, cur, nxt, bad, arg, ratio, nb, rtol)
    for r in range(nb):
        ok = bad[r] == 0.0
        for k in range(n_x):
            ok = ok & (abs(cur[k, r]) < np.inf)  # overflow (and NaN) is infeasible too
        bad[r] = 0.0 if ok else 1.0
        for k in range(n_x):
            out[i0 + r, k] = cur[k, r] if ok else np.nan
        status[i0 + r] = _EXACT if ok else _INFEASIBLE
    if not recheck:
        return
    # cur holds exactly the x just returned (rows that are not EXACT: reported as NaN below)
    cur, nxt = _forward_block(pm, cur, nxt, nb)
    lo, hi = pm.image[-1, 0], pm.image[-1, 1]
    worst, fine = arg, ratio  # the scratch buffers, free again
    judge_block(cur, target, nb, lo, hi, tols[0], tols[1], worst, fine)
    for r in range(nb):
        solved = bad[r] == 0.0
        residual[i0 + r] = worst[r] if solved else np.inf
        within[i0 + r] = solved & (fine[r] > 0.0)
        for j in range(n_y):
            y_pred[i0 + r, j] = cur[j, r] if solved else np.nan


# "contract" lets LLVM fuse multiply-adds; no reassociation, which would
# undo the exact (1 + w) - 1 of the artanh, and no nnan/ninf, which would
# drop the image and overflow checks.
@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract"})
def _inverse_kernel(pm, y, rtol, tols, recheck, out, status, y_pred, residual, within):
    """Fused backward pass (and forward re-check) over all layers for every row of ``y``.

    Works on blocks of ``BLOCK`` rows stored unit-major (``cur[j, r]``) so
    that every inner loop runs over contiguous rows and vectorises; a
    parallel task takes ``TASK_BLOCKS`` blocks in turn.  Writes every row of
    ``out`` (N, n_in; NaN for infeasible rows) and ``status`` (N,)
    :class:`Status` codes; with ``recheck`` also ``y_pred``, ``residual``
    and ``within`` (``tols = (atol, rtol)`` of the tolerance rule).  Never raises.
    """
    n = y.shape[0]
    width = max(3, np.max(pm.sizes))  # row 3 of the scratch holds the three per-row buffers
    n_blocks = (n + BLOCK - 1) // BLOCK
    for task in prange((n_blocks + TASK_BLOCKS - 1) // TASK_BLOCKS):
        buf = np.empty((4, width, BLOCK))
        for blk in range(task * TASK_BLOCKS, min(n_blocks, (task + 1) * TASK_BLOCKS)):
            _solve_block(pm, y, blk * BLOCK, rtol, tols, recheck, out, status, y_pred, residual, within, buf)


def inverse_rows(pm: PackedModel, rtol: float, y: NDArray[np.float64],
                 tols: tuple[float, float] | None = None,
                 ) -> tuple[NDArray[np.float64], NDArray[np.int8], Recheck | None]:
    """Run the kernel on every row of ``y``.

    Parameters
    ----------
    pm : PackedModel
        Packed with ``inverses=True`` (:func:`~.pack.pack`): it holds the back-matrices.
    rtol : float
        Relative tolerance of the tall layers' consistency check.
    y : ndarray, shape (N, n_out)
        Finite targets (not modified).
    tols : (atol, rtol), optional
        The tolerance rule's absolute and relative parts: also re-check every
        answer by a forward pass (None: no re-check).

    Returns
    -------
    x : ndarray, shape (N, n_in)
        NaN in the ``INFEASIBLE`` rows (and undefined in a row still ``NOT_RUN``).
    status : ndarray of int8, shape (N,)
        :class:`~symrecon.status.Status` codes: ``EXACT`` or ``INFEASIBLE``
        (``NOT_RUN`` where the kernel did not reach a row: never, unless it failed).
    recheck : Recheck or None
        ``model(x)``, the residual and the verdict per row (with ``tols``).
    """
    if not pm.has_back:
        raise ValueError("inverse_rows needs a model packed with inverses=True (the back-matrices)")
    y = np.ascontiguousarray(y, dtype=np.float64)
    n = y.shape[0]
    # The kernel writes every row it reaches; a row it did not reach keeps the
    # NOT_RUN status, and callers redo every row that is not EXACT by the
    # reference (:func:`symrecon.symbolic.numeric.evaluate_rows`), so the
    # other outputs need no fill (a fill is one more pass over 100s of MB).
    out = np.empty((n, pm.n_in))
    status = np.full(n, int(Status.NOT_RUN), dtype=np.int8)
    check = None if tols is None else Recheck(np.empty((n, pm.n_out)), np.empty(n), np.empty(n, dtype=np.bool_))
    bufs = check if check is not None else Recheck(np.empty((0, pm.n_out)), np.empty(0), np.empty(0, dtype=np.bool_))
    if n:
        limits = np.array(tols if tols is not None else (0.0, 0.0), dtype=np.float64)
        with parallel_chunksize(TASKS_PER_GRAB):
            _inverse_kernel(pm, y, float(rtol), limits, check is not None, out, status, *bufs)
    return out, status, check
