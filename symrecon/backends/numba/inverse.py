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
layer or an input that overflows float64 (its ``x`` is NaN).  tanh layers,
the common case, take their own loop (:func:`_artanh_layer`): the image
check folded into a one-division artanh (:func:`~.vecmath.artanh`).
Because the output layer's image check also fails NaN and inf, a batch
solved here needs no scan of its targets beforehand (``reconstruct``
re-scans only when a row is not ``EXACT``).

With ``recheck`` the same kernel then runs the model *forward* on the
block's answers while they are in cache and writes the residual and the
tolerance verdict per row (and ``model(x)`` on request), so that the result
needs no second pass over the batch.  The forward pass starts from the
returned ``x`` and multiplies by the kernels ``W``, not the back-matrices;
a tanh (or sigmoid) layer's activation is then evaluated by the addition
theorem around the point its inverse started from (:func:`_near`): with
``tanh(z) = a`` known and ``d = W a' + b - z`` the change of the
pre-activation, ``tanh(z + d) = a + t (1 - a^2) / (1 + a t)``,
``t = tanh(d)``, by a short series while ``|d| <= NEAR``: the same value as
the exp-based formula to rounding, with no exp and no division.  ``d`` is
where an inaccurate inverse shows (an ill-conditioned ``W``), and a block
with a row beyond :data:`NEAR` is re-run through every activation's own
forward formula (:mod:`.recheck`).  Every other activation always is.

Nothing raises inside the kernel: an exception in a ``prange`` body would
abort its whole block and leave rows unwritten, so bad values are flagged
and computed on (``error_model="numpy"``: 1/0 is inf, not
``ZeroDivisionError``).  The detailed reason for a row, and the reference
for every value, is the NumPy twin in :mod:`symrecon.symbolic.numeric`.

Nothing here compiles at import time: numba compiles the kernel on its first
call and caches the machine code on disk (``cache=True``).
"""

from __future__ import annotations

import math

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

__all__ = ["block_rows", "inverse_rows"]

#: most rows per block of the kernel (256 measured faster than 128 on the 16-wide benchmark)
MAX_BLOCK = 256
#: bytes of one task's scratch (every layer's values of a block): fewer rows per block for a
#: deep or wide model, so that the block stays in a core's L2 cache
SCRATCH_BYTES = 1 << 19
#: blocks per parallel task (its scratch buffers are allocated once per task, not per block)
TASK_BLOCKS = 16
#: tasks a thread takes at a time: handed out as threads free up, so that a thread slowed by
#: another process does less of the batch (measured on a shared 2-core machine: the slowest of
#: nine 10^6-row calls 182 ms with numba's equal split, 97 ms with this; the median unchanged)
TASKS_PER_GRAB = 4
#: largest pre-activation change ``|d|`` the series of :func:`_near` is used for: beyond it
#: (a row far from its own inverse, i.e. failing its check anyway) the block is re-run by the
#: activations' own forward formulas.  The series' error there is below 1e-24.
NEAR = 2.0**-16

_EXACT = int(Status.EXACT)
_INFEASIBLE = int(Status.INFEASIBLE)
_TANH = _activation("tanh").kernel_code
_SIGMOID = _activation("sigmoid").kernel_code

_FLAGS = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}


def block_rows(n_layers: int, width: int) -> int:
    """Rows per block: :data:`MAX_BLOCK`, or fewer (a multiple of 8, at least 8) to fit :data:`SCRATCH_BYTES`.

    A block keeps ``2 n_layers + 3`` arrays of ``(width, rows)`` float64: the
    values entering every layer's inverse and leaving its activation's
    inverse (the forward re-check expands around them), and two for the
    forward pass.

    >>> block_rows(3, 16), block_rows(40, 512)
    (256, 8)
    """
    rows = SCRATCH_BYTES // (8 * max(1, width) * (2 * n_layers + 3))
    return int(min(MAX_BLOCK, max(8, rows - rows % 8)))


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
def _invert_column(code, param, bias, src, dst, bad, arg, ratio, nb, img):
    """``dst[r] = f^{-1}(src[r]) - bias``, flagging ``bad[r]`` where ``src[r]`` is outside the image of ``f``.

    :func:`_check_image` then :func:`~.activations.inverse_block` (tanh has its own loop in :func:`_back_block`).
    """
    for r in range(nb):
        dst[r] = src[r]
    _check_image(dst, bad, nb, img[0], img[1], img[2] > 0.0, img[3] > 0.0)
    inverse_block(code, param, bias, dst, arg, ratio, nb)


@njit(**_FLAGS)
def _artanh_layer(h, u, b, b_off, bad, n_out, nb):
    """``u[j, r] = artanh(h[j, r]) - b[j]``, flagging ``bad[r]`` where ``|h[j, r]| >= 1`` (or NaN)."""
    for j in range(n_out):
        bias = b[b_off + j]
        for r in range(nb):
            v = h[j, r]
            bad[r] = bad[r] if abs(v) < 1.0 else 1.0  # NaN is outside too
            u[j, r] = artanh(v) - bias


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
def _back_block(pm, vals, bad, arg, ratio, nb, rtol):
    """Un-do every layer of the block's targets (in ``vals[L]``), keeping every layer's values.

    ``vals[l]`` (l = L .. 0) receives the values entering layer ``l``'s
    output, ``vals[0]`` the input ``x``; ``vals[L + 1 + l]`` the
    activation's inverse minus the bias, ``u = f^{-1}(h) - b``.
    """
    n_layers = pm.codes.shape[0]
    for layer in range(n_layers - 1, -1, -1):
        n_in, n_out = pm.sizes[layer], pm.sizes[layer + 1]
        code, param, img = pm.codes[layer], pm.params[layer], pm.image[layer]
        b_off, w_off = pm.b_off[layer], pm.w_off[layer]
        h, u = vals[layer + 1], vals[n_layers + 1 + layer]
        if code == _TANH:  # the common case in one vectorised loop per unit, the image check folded in
            _artanh_layer(h, u, pm.b, b_off, bad, n_out, nb)
        else:
            for j in range(n_out):
                _invert_column(code, param, pm.b[b_off + j], h[j], u[j], bad, arg, ratio, nb, img)
        # vals[layer][k, r] = sum_j u[j, r] B[j, k]: an affine step through B (n_out -> n_in) without bias
        affine_block(u, vals[layer], pm.back, w_off, pm.b, -1, n_out, n_in, nb)
        if n_out > n_in:
            _check_tall(u, vals[layer], pm.wk, w_off, n_out, n_in, nb, rtol, bad)


@njit(**_FLAGS)
def _near(col, h, u, far, n_out, nb, is_tanh):
    """``col[k, r] = f(z + d)`` for ``d = col[k, r] - u[k, r]``, ``f(z) = h[k, r]``, ``f`` tanh or sigmoid: no exp.

    The addition theorems::

        tanh(z + d)    = h + t (1 - h^2) / (1 + h t),   t = tanh(d)  = d - d^3 / 3 + ...
        sigmoid(z + d) = h + g h (1 - h) / (1 + h g),   g = e^d - 1  = d + d^2 / 2 + d^3 / 6 + ...

    both ``h + s f'(z) / (1 + h s)``; for ``|d| <= NEAR`` the series above
    and ``1 / (1 + hs) = 1 - hs + (hs)^2`` leave an error below 1e-24.
    ``far[r]`` keeps the largest ``|d|`` of row ``r`` (inf for NaN): a row
    beyond :data:`NEAR` needs the full formula.
    """
    for k in range(n_out):
        _near_unit(col[k], h[k], u[k], far, nb, is_tanh)


@njit(**_FLAGS)
def _near_unit(col, h, u, far, nb, is_tanh):
    """One unit of :func:`_near` (a loop of its own: it vectorises, the 2-D loop measured slower)."""
    for r in range(nb):
        d = col[r] - u[r]
        hv = h[r]
        s = d - d * d * d * (1.0 / 3.0) if is_tanh else d + d * d * (0.5 + d * (1.0 / 6.0))
        slope = (1.0 - hv) * (1.0 + hv) if is_tanh else hv * (1.0 - hv)
        hs = hv * s
        col[r] = hv + (s * slope) * (1.0 - hs + hs * hs)
        ad = abs(d)
        far[r] = max(far[r], ad) if ad == ad else math.inf


@njit(**_FLAGS)
def _forward_block(pm, vals, nb, far, near):
    """``model(x)`` for the block's answers (``x`` in ``vals[0]``), in the last two arrays of ``vals``.

    The kernels ``W`` forward on the returned ``x``; a tanh or sigmoid layer,
    with ``near``, by :func:`_near` around the values its inverse started from (``vals[l + 1]`` and ``vals[L + 1 + l]``),
    every other activation (and these without ``near``) by its own forward formula.
    """
    n_layers = pm.codes.shape[0]
    cur = vals[0]
    for layer in range(n_layers):
        n_in, n_out = pm.sizes[layer], pm.sizes[layer + 1]
        nxt = vals[2 * n_layers + 1 + layer % 2]
        code = pm.codes[layer]
        if near and (code == _TANH or code == _SIGMOID):
            affine_block(cur, nxt, pm.wk, pm.w_off[layer], pm.b, -1, n_in, n_out, nb)
            _near(nxt, vals[layer + 1], vals[n_layers + 1 + layer], far, n_out, nb, code == _TANH)
        else:
            affine_block(cur, nxt, pm.wk, pm.w_off[layer], pm.b, pm.b_off[layer], n_in, n_out, nb)
            for k in range(n_out):
                forward_block(code, pm.params[layer], nxt[k], nb)
        cur = nxt
    return cur


@njit(**_FLAGS)
def _recheck_block(pm, vals, nb, bad, far):
    """The forward pass of :func:`_forward_block`: by the series, unless a solved row is too far for it."""
    for r in range(nb):
        far[r] = 0.0
    pred = _forward_block(pm, vals, nb, far, True)
    for r in range(nb):
        if bad[r] == 0.0 and not (far[r] <= NEAR):
            return _forward_block(pm, vals, nb, far, False)
    return pred


@njit(**_FLAGS)
def _solve_block(pm, y, i0, rtol, tols, recheck, outputs, vals, rows):
    """Rows ``i0 ..`` of :func:`_inverse_kernel` (as many as ``vals`` holds), in the task's scratch ``vals`` and ``rows``.

    ``outputs``: the kernel's ``(out, status, y_pred, residual, within)``.
    """
    out, status, y_pred, residual, within = outputs
    nb = min(vals.shape[2], y.shape[0] - i0)
    n_layers = pm.codes.shape[0]
    n_x, n_y = pm.sizes[0], pm.sizes[-1]
    target = vals[n_layers, :n_y]  # judge_block reads every row of target
    bad, arg, ratio, far = rows[0], rows[1], rows[2], rows[3]
    for r in range(nb):
        bad[r] = 0.0
        for j in range(n_y):
            target[j, r] = y[i0 + r, j]
    _back_block(pm, vals, bad, arg, ratio, nb, rtol)
    x = vals[0]
    for k in range(n_x):
        xk = x[k]
        for r in range(nb):
            bad[r] = bad[r] if abs(xk[r]) < np.inf else 1.0  # overflow (and NaN) is infeasible too
    for r in range(nb):
        ok = bad[r] == 0.0
        row = out[i0 + r]
        for k in range(n_x):
            row[k] = x[k, r] if ok else np.nan
        status[i0 + r] = _EXACT if ok else _INFEASIBLE
    if not recheck:
        return
    # vals[0] holds exactly the x just returned (rows that are not EXACT: reported as NaN below)
    pred = _recheck_block(pm, vals, nb, bad, far)
    lo, hi = pm.image[-1, 0], pm.image[-1, 1]
    worst, fine = arg, ratio  # the scratch rows, free again
    keep = y_pred.shape[0] > 0
    judge_block(pred, target, nb, lo, hi, tols[0], tols[1], worst, fine)
    for r in range(nb):
        solved = bad[r] == 0.0
        residual[i0 + r] = worst[r] if solved else np.inf
        within[i0 + r] = solved & (fine[r] > 0.0)
        if keep:
            for j in range(n_y):
                y_pred[i0 + r, j] = pred[j, r] if solved else np.nan


# "contract" lets LLVM fuse multiply-adds; no reassociation, which would
# undo the exact (1 + w) - 1 of the artanh, and no nnan/ninf, which would
# drop the image and overflow checks.
@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract"})
def _inverse_kernel(pm, y, nbk, rtol, tols, recheck, out, status, y_pred, residual, within):
    """Fused backward pass (and forward re-check) over all layers for every row of ``y``.

    Works on blocks of ``nbk`` rows stored unit-major (``vals[l][j, r]``) so
    that every inner loop runs over contiguous rows and vectorises; a
    parallel task takes ``TASK_BLOCKS`` blocks in turn.  Writes every row of
    ``out`` (N, n_in; NaN for infeasible rows) and ``status`` (N,)
    :class:`Status` codes; with ``recheck`` also ``y_pred``, ``residual``
    and ``within`` (``tols = (atol, rtol)`` of the tolerance rule).  Never raises.
    """
    n = y.shape[0]
    n_layers = pm.codes.shape[0]
    width = np.max(pm.sizes)
    n_blocks = (n + nbk - 1) // nbk
    for task in prange((n_blocks + TASK_BLOCKS - 1) // TASK_BLOCKS):
        vals = np.empty((2 * n_layers + 3, width, nbk))
        rows = np.empty((4, nbk))
        for blk in range(task * TASK_BLOCKS, min(n_blocks, (task + 1) * TASK_BLOCKS)):
            _solve_block(pm, y, blk * nbk, rtol, tols, recheck, (out, status, y_pred, residual, within), vals, rows)


def inverse_rows(pm: PackedModel, rtol: float, y: NDArray[np.float64],
                 tols: tuple[float, float] | None = None, keep_y_pred: bool = True,
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
    keep_y_pred : bool
        Write the re-check's outputs ``model(x)``; False: only the residual
        and the verdict (``recheck.y_pred`` is None).

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
    y_pred = np.empty((n if keep_y_pred else 0, pm.n_out))  # no rows: the kernel writes none
    check = None if tols is None else Recheck(y_pred, np.empty(n), np.empty(n, dtype=np.bool_))
    bufs = check if check is not None else Recheck(np.empty((0, pm.n_out)), np.empty(0), np.empty(0, dtype=np.bool_))
    if n:
        limits = np.array(tols if tols is not None else (0.0, 0.0), dtype=np.float64)
        with parallel_chunksize(TASKS_PER_GRAB):
            rows = block_rows(len(pm.codes), int(pm.sizes.max()))
            _inverse_kernel(pm, y, rows, float(rtol), limits, check is not None, out, status, *bufs)
    if check is not None and not keep_y_pred:
        check = check._replace(y_pred=None)
    return out, status, check
