"""Numeric evaluators of an analytic inverse: a fused numba kernel and its NumPy twin.

The analytic inverse of a chain of layers is evaluated backwards, one layer
after the other::

    u      = f_l^{-1}(a^{(l)}) - b^{(l)}        (checked: a^{(l)} in image(f_l))
    a^{(l-1)} = u @ B^{(l)}                     (B = W^{-1}, or pinv(W))

Both evaluators take the same :class:`InversePlan` (the per-layer matrices
precomputed once).  :func:`evaluate_numpy` is the reference: plain,
vectorised NumPy using each activation's own ``numpy_inverse``, raising a
detailed :class:`~symrecon.errors.InfeasibleTargetError` for the first bad
target.  :func:`evaluate_numba` runs the whole chain in one
``@njit(parallel=True)`` kernel over blocks of targets; nothing raises inside
the parallel loop (numba would not parallelise it), so the kernel writes a
status code per target and the first bad target is re-run through the NumPy
twin afterwards to produce the same detailed error.

Nothing here compiles at import time: numba compiles :func:`_inverse_kernel`
on its first call and caches the machine code on disk (``cache=True``).

Also here: :func:`lambdify_matrix`, the one place SymPy expressions are turned
into NumPy/mpmath functions (for tests of agreement between the symbolic and
the numeric forms; the numeric paths never evaluate through SymPy).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[2.0, 0.0], [0.0, 4.0]], [0.0, 1.0], "tanh")])
>>> inv = sr.analytic_inverse(m)
>>> y = m(np.array([[0.1, -0.2]]))
>>> np.allclose(evaluate_numba(inv.plan, y), evaluate_numpy(inv.plan, y))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp
from numba import njit, prange
from numpy.typing import NDArray

from ..activations import SELU_ALPHA, SELU_SCALE, Activation
from ..errors import InfeasibleTargetError

__all__ = [
    "BLOCK",
    "STATUS_IMAGE",
    "STATUS_INCONSISTENT",
    "STATUS_OK",
    "STATUS_OVERFLOW",
    "InversePlan",
    "LayerPlan",
    "evaluate_numba",
    "evaluate_numpy",
    "lambdify_matrix",
]

#: per-target status bits written by the kernel
STATUS_OK = 0
STATUS_IMAGE = 1          # a value outside an activation's image
STATUS_INCONSISTENT = 2   # a tall layer's least-squares residual is too large
STATUS_OVERFLOW = 4       # the reconstructed x is not finite in float64

#: targets per block of the numba kernel (a block's working set stays in L1/L2)
BLOCK = 256

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class LayerPlan:
    """What un-doing one Dense layer needs, precomputed.

    Attributes
    ----------
    index : int
        Position of the layer in the model (0 = first).
    name : str
    activation : Activation
    kind : {"square", "tall", "wide"}
    kernel : ndarray, shape (n_in, n_out)
    bias : ndarray, shape (n_out,)
    back : ndarray, shape (n_out, n_in)
        ``W^{-1}`` (square) or the Moore-Penrose pseudo-inverse (tall, wide):
        ``a_prev = (f^{-1}(a) - b) @ back``.
    """

    index: int
    name: str
    activation: Activation
    kind: str
    kernel: NDArray[np.float64]
    bias: NDArray[np.float64]
    back: NDArray[np.float64]

    @property
    def n_in(self) -> int:
        return int(self.kernel.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.kernel.shape[1])


@dataclass(frozen=True)
class InversePlan:
    """The layers to un-do, from the output back to the input, plus packed kernel arrays.

    Attributes
    ----------
    layers : tuple of LayerPlan
        In model order (first layer first); evaluation walks them in reverse.
    consistency_rtol : float
        A tall layer accepts ``u`` when ``max|x W - u| <= rtol * (1 + max|u|)``.
    """

    layers: tuple[LayerPlan, ...]
    consistency_rtol: float

    def __post_init__(self):
        # Pack everything the kernel needs into a few flat arrays (numba takes
        # arrays, not Python objects); steps are in evaluation order.
        steps = self.layers[::-1]
        ints = np.array([[lp.activation.kernel_code, lp.n_out, lp.n_in, lp.kind == "tall"] for lp in steps],
                        dtype=np.int64)
        floats = np.array([[lp.activation.param, *_bounds(lp.activation)] for lp in steps], dtype=np.float64)
        mats = np.concatenate([lp.back.ravel() for lp in steps])
        kernels = np.concatenate([lp.kernel.ravel() for lp in steps])
        biases = np.concatenate([lp.bias for lp in steps])
        offsets = np.zeros((len(steps), 2), dtype=np.int64)  # matrix offset, bias offset
        offsets[1:, 0] = np.cumsum([lp.back.size for lp in steps])[:-1]
        offsets[1:, 1] = np.cumsum([lp.n_out for lp in steps])[:-1]
        packed = (ints, floats, mats, kernels, biases, offsets)
        for arr in packed:
            arr.setflags(write=False)
        object.__setattr__(self, "_packed", packed)

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def packed(self) -> tuple[NDArray, ...]:
        """``(ints, floats, mats, kernels, biases, offsets)`` for :func:`_inverse_kernel`."""
        return self._packed  # type: ignore[attr-defined]


def _bounds(act: Activation) -> tuple[float, float, float, float]:
    """Image as ``(low, high, low_closed, high_closed)`` floats for the kernel."""
    lo, hi, lo_open, hi_open = act.image_bounds
    return lo, hi, float(not lo_open), float(not hi_open)


# ---------------------------------------------------------------------------
# NumPy twin (the reference)


def evaluate_numpy(plan: InversePlan, y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Evaluate the inverse with plain NumPy.

    Parameters
    ----------
    plan : InversePlan
    y : ndarray, shape (N, n_out)
        Validated, finite targets (not modified).

    Returns
    -------
    ndarray, shape (N, n_in)
        For a wide first layer, the minimum-norm input.

    Raises
    ------
    InfeasibleTargetError
        For the first target (row) that no input can produce: a value outside
        an activation's image (at the output or at an intermediate layer), an
        inconsistent tall layer, or an input that overflows float64.
    """
    a = y
    for lp in reversed(plan.layers):
        act = lp.activation
        ok = act.in_image(a)
        if not np.all(ok):
            row, unit = (int(i) for i in np.argwhere(~ok)[0])
            _raise_image(lp, plan, row, unit, float(a[row, unit]), a.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            u = act.numpy_inverse(a) - lp.bias
            prev = u @ lp.back
            if lp.kind == "tall":
                resid = np.max(np.abs(prev @ lp.kernel - u), axis=1)
                bad = ~(resid <= plan.consistency_rtol * (1.0 + np.max(np.abs(u), axis=1)))
                if np.any(bad):
                    row = int(np.argmax(bad))
                    _raise_inconsistent(lp, plan, row, float(resid[row]), a.shape[0])
        a = prev
    finite = np.all(np.isfinite(a), axis=1)
    if not np.all(finite):
        _raise_overflow(plan, int(np.argmin(finite)), y.shape[0])
    return a


def _where(row: int, n_rows: int) -> str:
    return f"target {row}: " if n_rows > 1 else ""


def _raise_image(lp: LayerPlan, plan: InversePlan, row: int, unit: int, value: float, n_rows: int):
    act = lp.activation
    if lp.index == len(plan.layers) - 1:
        what = f"output unit {unit} = {value!r}"
    else:
        what = (f"after un-doing the layers above it, unit {unit} of layer {lp.name!r} (layer {lp.index}) "
                f"would have to output {value!r}, which")
    raise InfeasibleTargetError(
        f"{_where(row, n_rows)}{what} is outside the image {act.image} of the {act.name!r} activation "
        f"of layer {lp.name!r}: no input can produce it",
        layer=lp.name, unit=unit, value=value, interval=act.image,
    )


def _raise_inconsistent(lp: LayerPlan, plan: InversePlan, row: int, resid: float, n_rows: int):
    raise InfeasibleTargetError(
        f"{_where(row, n_rows)}layer {lp.name!r} (layer {lp.index}) is tall ({lp.n_in} inputs -> {lp.n_out} "
        f"outputs) and the pre-activation it would need is not in the range of its kernel: the least-squares "
        f"residual is {resid:.3g} (allowed: {plan.consistency_rtol:g} relative); no input produces this target",
        layer=lp.name, unit=None, value=resid, interval=None,
    )


def _raise_overflow(plan: InversePlan, row: int, n_rows: int):
    first = plan.layers[0]
    raise InfeasibleTargetError(
        f"{_where(row, n_rows)}the input that produces this target is too large for float64 "
        f"(it overflows when un-doing layer {first.name!r})",
        layer=first.name, unit=None, value=math.inf, interval=None,
    )


# ---------------------------------------------------------------------------
# numba kernel


@njit(cache=True, fastmath={"contract"})
def _undo_unit(code, param, lo, hi, lo_closed, hi_closed, bias, col, bad, arg, ratio, nb):
    """One unit of a block, in place: check the image, then ``col = f^{-1}(col) - bias``.

    ``bad[r]`` becomes 1.0 where the value is outside the image (NaN included:
    every comparison with NaN is false).  Branch-free selects so the loops
    vectorise; the formulas are the stable ones of the registry.  ``arg`` and
    ``ratio`` are scratch buffers of the block.
    """
    if lo_closed or hi_closed:  # no invertible activation has a closed end today; kept general
        for r in range(nb):
            v = col[r]
            inside = ((v > lo) or (lo_closed and v == lo)) and ((v < hi) or (hi_closed and v == hi))
            bad[r] = bad[r] if inside else 1.0
    else:
        for r in range(nb):
            v = col[r]
            bad[r] = bad[r] if (v > lo) & (v < hi) else 1.0
    if code == 0:  # KernelCode.LINEAR
        for r in range(nb):
            col[r] = col[r] - bias
    elif code == 2:  # TANH: artanh(v) = log1p(w) / 2 with w = 2v / (1 - v)
        # log1p(w) = log(u) * w / (u - 1), u = 1 + w (exact when u == 1: then w).
        # Three loops so the divisions vectorise and only the log is a scalar call.
        for r in range(nb):
            v = col[r]
            w = 2.0 * v / (1.0 - v)
            u = 1.0 + w
            d = u - 1.0
            tiny = d == 0.0
            arg[r] = 2.0 if tiny else u
            ratio[r] = w / _LN2 if tiny else w / d  # log(2) * w / log(2) = w
        for r in range(nb):
            arg[r] = math.log(arg[r])
        for r in range(nb):
            col[r] = 0.5 * arg[r] * ratio[r] - bias
    elif code == 1:  # SIGMOID: logit(v) = log(v / (1 - v)); 1 - v is exact near 1
        for r in range(nb):
            v = col[r]
            arg[r] = v / (1.0 - v)
        for r in range(nb):
            col[r] = math.log(arg[r]) - bias
    elif code == 4:  # LEAKY_RELU (positive slope)
        for r in range(nb):
            v = col[r]
            col[r] = (v if v >= 0.0 else v / param) - bias
    elif code == 5:  # ELU (alpha = param)
        for r in range(nb):
            v = col[r]
            col[r] = (v if v > 0.0 else math.log1p(v / param)) - bias
    elif code == 6:  # SELU
        for r in range(nb):
            v = col[r] / SELU_SCALE
            col[r] = (v if v > 0.0 else math.log1p(v / SELU_ALPHA)) - bias
    elif code == 7:  # SOFTPLUS: y + log(-expm1(-y)) never overflows
        for r in range(nb):
            v = col[r]
            col[r] = v + math.log(-math.expm1(-v)) - bias
    elif code == 8:  # SOFTSIGN
        for r in range(nb):
            v = col[r]
            col[r] = v / (1.0 - abs(v)) - bias
    elif code == 9:  # EXPONENTIAL
        for r in range(nb):
            col[r] = math.log(col[r]) - bias


# "contract" lets LLVM fuse multiply-adds; no reassociation, which would
# undo the exact (1 + w) - 1 of the artanh, and no nnan/ninf, which would
# drop the image and overflow checks.
@njit(cache=True, parallel=True, fastmath={"contract"})
def _inverse_kernel(y, ints, floats, mats, kernels, biases, offsets, rtol, out, status):
    """Fused backward pass over all layers for every target (row of ``y``).

    Works on blocks of ``BLOCK`` targets stored unit-major (``cur[j, r]``) so
    that every inner loop runs over contiguous targets and vectorises.
    Writes ``out`` (N, n_in) and ``status`` (N,) bit flags; never raises.
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
        bad_image = np.zeros(BLOCK)
        bad_tall = np.zeros(BLOCK)
        arg = np.empty(BLOCK)
        ratio = np.empty(BLOCK)
        for r in range(nb):
            for j in range(m):
                cur[j, r] = y[i0 + r, j]
        ko = 0  # offset of this step's kernel in `kernels`
        for s in range(n_steps):
            code, n_out, n_in, tall = ints[s, 0], ints[s, 1], ints[s, 2], ints[s, 3]
            mo, bo = offsets[s, 0], offsets[s, 1]
            for j in range(n_out):
                _undo_unit(code, floats[s, 0], floats[s, 1], floats[s, 2], floats[s, 3] > 0.0,
                           floats[s, 4] > 0.0, biases[bo + j], cur[j], bad_image, arg, ratio, nb)
            # a_prev[k, r] = sum_j u[j, r] * back[j, k]
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
            if tall:
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
                        bad_tall[r] = 1.0
            ko += n_out * n_in
            cur, nxt = nxt, cur
        n_x = ints[n_steps - 1, 2]
        for r in range(nb):
            finite = True
            for k in range(n_x):
                v = cur[k, r]
                out[i0 + r, k] = v
                finite = finite & (abs(v) < np.inf)
            code = STATUS_OK
            if bad_image[r] > 0.0:
                code |= STATUS_IMAGE
            if bad_tall[r] > 0.0:
                code |= STATUS_INCONSISTENT
            if not finite:
                code |= STATUS_OVERFLOW
            status[i0 + r] = code


def evaluate_numba(plan: InversePlan, y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Evaluate the inverse with the fused, parallel numba kernel.

    Same contract as :func:`evaluate_numpy` (same results to rounding, same
    errors): the first target the kernel flags is re-run through the NumPy
    twin, which raises the detailed :class:`InfeasibleTargetError`.

    Parameters
    ----------
    plan : InversePlan
    y : ndarray, shape (N, n_out)
        Validated, finite targets (not modified).

    Returns
    -------
    ndarray, shape (N, n_in)
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    n = y.shape[0]
    out = np.empty((n, plan.n_in))
    status = np.empty(n, dtype=np.int8)
    ints, floats, mats, kernels, biases, offsets = plan.packed
    _inverse_kernel(y, ints, floats, mats, kernels, biases, offsets, plan.consistency_rtol, out, status)
    bad = np.flatnonzero(status)
    if bad.size:
        row = int(bad[0])
        try:
            evaluate_numpy(plan, y[row:row + 1])
        except InfeasibleTargetError as exc:
            if n > 1:
                raise InfeasibleTargetError(f"target {row}: {exc}", layer=exc.layer, unit=exc.unit,
                                            value=exc.value, interval=exc.interval) from None
            raise
        # The twin accepted a row the kernel flagged: they differ in the last
        # bit at an image edge; trust the reference for that row.
        out[row] = evaluate_numpy(plan, y[row:row + 1])[0]
        rest = bad[1:]
        if rest.size:
            out[rest] = evaluate_numpy(plan, y[rest])
    return out


# ---------------------------------------------------------------------------
# SymPy -> numbers (tests of agreement only)


def _select(condlist, choicelist, default=np.nan):
    arrays = np.broadcast_arrays(*condlist, *choicelist)
    n = len(condlist)
    return np.select([a.astype(bool) for a in arrays[:n]], arrays[n:], default=default)


def lambdify_matrix(symbols: Sequence[sp.Symbol], expr: sp.Matrix,
                    modules: str = "numpy") -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """A vectorised function ``y (N, m) -> (N, k)`` from a ``k x 1`` (or ``1 x k``) SymPy matrix.

    Parameters
    ----------
    symbols : sequence of sympy.Symbol, length m
    expr : sympy.Matrix
    modules : {"numpy", "mpmath"}
        ``"mpmath"`` evaluates row by row in arbitrary precision (slow; for checks).

    Returns
    -------
    callable
        The generated source is kept by ``lambdify`` in the function's ``__doc__``.
    """
    entries = list(expr)
    # Piecewise prints as select(conditions, values); a condition SymPy has
    # decided (True) is a Python bool that numpy.select refuses: broadcast it.
    namespace = [{"select": _select}, "scipy", "numpy"] if modules == "numpy" else modules
    fn = sp.lambdify(list(symbols), entries, modules=namespace, cse=True)

    def evaluate(y: NDArray[np.float64]) -> NDArray[np.float64]:
        y = np.asarray(y, dtype=np.float64)
        if modules == "mpmath":
            rows = [[float(v) for v in fn(*row)] for row in y]
            return np.array(rows, dtype=np.float64).reshape(y.shape[0], len(entries))
        with np.errstate(all="ignore"):  # Piecewise evaluates every branch
            cols = fn(*(y[:, i] for i in range(y.shape[1])))
        return np.column_stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (y.shape[0],)) for c in cols])

    evaluate.__doc__ = fn.__doc__
    return evaluate
