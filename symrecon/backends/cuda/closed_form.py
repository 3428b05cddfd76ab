"""The closed-form inverse on the GPU: one thread per target, every layer backwards.

The same computation as the CPU kernel :mod:`symrecon.backends.numba.inverse`
and through the same helpers (the image check, the activation inverses and
the tall-layer consistency check are the CPU backend's functions, compiled
for the device; the back-multiplication is written for one target): a thread holds its target as
a column of two local arrays and walks the packed model's layers, output layer first::

    u         = f_l^{-1}(a^{(l)}) - b^{(l)}     (flagged when a^{(l)} is outside image(f_l))
    a^{(l-1)} = u @ B^{(l)}                     (B = W^{-1}, or pinv(W))

Per target: :class:`~symrecon.status.Status` ``EXACT``, or ``INFEASIBLE``
with ``x`` NaN.  As on the CPU, rows that are not ``EXACT`` are decided again
by the NumPy twin (an image edge can differ in the last bit).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.backends.cuda.target import device_problem
>>> from symrecon.solvers.analytic import cached_inverse
>>> m = sr.Sequential([sr.Dense([[2.0, 0.0], [0.0, 0.5]], [0.1, 0.0], "tanh")])
>>> if device_problem() is None:  # a GPU here, or numba's CUDA simulator
...     x, status, stats = closed_form_rows(cached_inverse(m).plan, m(np.array([[0.3, -0.2]])))
...     assert np.allclose(x, [[0.3, -0.2]]) and status[0] == sr.Status.EXACT
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...status import Status
from ..numba.activations import inverse_block
from ..numba.inverse import _check_image, _check_tall
from .layout import MAX_WIDTH, THREADS
from .target import cuda_module, device_function
from .transfer import DEFAULT_CHUNK, run_chunks

__all__ = ["closed_form_rows"]

cuda = cuda_module()
float64 = np.float64

_EXACT = Status.EXACT.value
_INFEASIBLE = Status.INFEASIBLE.value

check_image = device_function(_check_image)
invert_block = device_function(inverse_block)
check_tall = device_function(_check_tall)


@cuda.jit(device=True)
def _back_multiply(cur, nxt, mats, mo, n_out, n_in):
    """``nxt[k] = sum_j cur[j] back[j, k]`` for one target, summed in the CPU kernel's order.

    Not the CPU's ``_back_multiply``: that one runs over a block of targets
    in its inner loop (to vectorise); one thread has one target, so the sum
    stays in a register instead of a load and a store per term.
    """
    for k in range(n_in):
        acc = cur[0, 0] * mats[mo + k]
        for j in range(1, n_out):
            acc += cur[j, 0] * mats[mo + j * n_in + k]
        nxt[k, 0] = acc


@cuda.jit
def _closed_form_kernel(y, sizes, codes, params, image, b, offsets, back, wk, rtol, out, status):
    """Thread ``t``: ``out[t]`` (n_in,) and ``status[t]`` for the target ``y[t]`` (n_out,).

    Reads the model's one packed form (:class:`~symrecon.backends.numba.pack.PackedModel`, packed with
    ``inverses=True``), output layer first, as the CPU kernel does; ``offsets[l]`` is ``(b_off[l], w_off[l])``.
    """
    t = cuda.grid(1)
    if t >= y.shape[0]:
        return
    cur = cuda.local.array((MAX_WIDTH, 1), float64)
    nxt = cuda.local.array((MAX_WIDTH, 1), float64)
    bad = cuda.local.array(1, float64)
    arg = cuda.local.array(1, float64)
    ratio = cuda.local.array(1, float64)
    bad[0] = 0.0
    for j in range(y.shape[1]):
        cur[j, 0] = y[t, j]
    for layer in range(codes.shape[0] - 1, -1, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        for j in range(n_out):
            check_image(cur[j], bad, 1, image[layer, 0], image[layer, 1], image[layer, 2] > 0.0,
                        image[layer, 3] > 0.0)
            invert_block(codes[layer], params[layer], b[offsets[layer, 0] + j], cur[j], arg, ratio, 1)
        _back_multiply(cur, nxt, back, offsets[layer, 1], n_out, n_in)
        if n_out > n_in:
            check_tall(cur, nxt, wk, offsets[layer, 1], n_out, n_in, 1, rtol, bad)
        cur, nxt = nxt, cur
    ok = bad[0] == 0.0
    for k in range(out.shape[1]):
        ok = ok and abs(cur[k, 0]) < np.inf  # overflow (and NaN) is infeasible too
    for k in range(out.shape[1]):
        out[t, k] = cur[k, 0] if ok else np.nan
    status[t] = _EXACT if ok else _INFEASIBLE


def closed_form_rows(plan: Any, y: NDArray[np.float64],
                     chunk: int = DEFAULT_CHUNK) -> tuple[NDArray[np.float64], NDArray[np.int8], dict[str, Any]]:
    """Evaluate the closed-form inverse of every row of ``y`` on the GPU.

    Parameters
    ----------
    plan : InversePlan
        From :func:`~symrecon.analytic_inverse` (``inv.plan``).
    y : ndarray, shape (N, n_out)
        Finite targets (not modified).
    chunk : int
        Rows per host <-> device chunk (see :mod:`~.transfer`).

    Returns
    -------
    x : ndarray, shape (N, n_in)
        NaN in rows that are not ``EXACT``.
    status : ndarray of int8, shape (N,)
        ``EXACT`` or ``INFEASIBLE`` :class:`~symrecon.status.Status` codes.
    stats : dict
        ``device_chunks`` and ``kernel_s`` (see :func:`~.transfer.run_chunks`).
    """
    from ...symbolic.numeric import evaluate_rows

    y = np.ascontiguousarray(y, dtype=np.float64)
    pm = plan.packed
    offsets = np.stack([pm.b_off[:pm.codes.shape[0]], pm.w_off[:pm.codes.shape[0]]], axis=1)
    arrays = [cuda.to_device(np.ascontiguousarray(a)) for a in (pm.sizes, pm.codes, pm.params, pm.image, pm.b,
                                                               offsets, pm.back, pm.wk)]
    rtol = float(plan.consistency_rtol)
    n = y.shape[0]
    x = np.full((n, plan.n_in), np.nan)
    status = np.full(n, Status.NOT_RUN.value, dtype=np.int8)

    def launch(stream: Any, rows: int, dev_in: Any, dev_out: Any) -> None:
        blocks = (rows + THREADS - 1) // THREADS
        _closed_form_kernel[blocks, THREADS, stream](dev_in[0], *arrays, rtol, dev_out[0], dev_out[1])

    stats = run_chunks(cuda, launch, [y], [x, status], chunk)
    again = np.flatnonzero(status != _EXACT)
    if again.size:
        x[again], status[again] = evaluate_rows(plan, y[again], backend="numpy")
    return x, status, stats
