"""Pure-NumPy twins of the numba solver kernels: the same algorithms, written for reading.

Each twin evaluates the model with :mod:`symrecon.backends.numpy_ref` and
decides with the NumPy forms of the shared rules (:func:`~.primitives.frozen_mask`,
:func:`~.primitives.verdicts`); agreement with its kernel is a test.  They
return ``(xs, status, iters)`` with int8 :class:`~symrecon.status.Status` codes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...errors import NotInvertibleError
from ...status import LaneState, Status
from .. import numpy_ref
from .gauss_newton import DERIV_FLOOR, MAX_TRIES, MU_FLOOR, MU_GROW, MU_SHRINK, MU_START, PROGRESS_RTOL, STEP_FLOOR
from .gd import GRAD_FLOOR
from .pack import layer_inverses
from .primitives import frozen_mask, verdicts

__all__ = ["gn_square_reference", "lm_reference", "gd_reference"]

Result = tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.int64]]


def gn_square_reference(model: Any, x0s, ys, tol: float = 1e-9, max_iter: int = 100) -> Result:
    """Twin of :func:`~.gauss_newton.gn_square_batch` (vectorised over the batch).

    A target whose step fails (no decrease, vanishing derivative) ends with
    ``LaneState.HAND_OVER`` at its last accepted point.
    """
    inverses = layer_inverses(model)
    if inverses is None:
        raise NotInvertibleError("gn_square_reference needs a chain of square, well-conditioned Dense layers")
    winvs = [m.reshape(layer.kernel.shape) for m, layer in
             zip(np.split(inverses, np.cumsum([la.kernel.size for la in model.layers])[:-1]),
                 model.layers)]
    x = np.array(x0s, dtype=np.float64)
    n = x.shape[0]
    status = np.zeros(n, dtype=np.int8)
    iters = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)

    def evaluate(xb):
        values = list(numpy_ref.layer_values(model, xb))
        return values[-1][1] - ys, [d for _, _, d in values]

    r, ds = evaluate(x)
    cost = np.sum(r * r, axis=1)
    with np.errstate(all="ignore"):
        for _ in range(max_iter + 1):
            st = verdicts(np.max(np.abs(r), axis=1), tol, iters, max_iter, False)
            done = active & (st != LaneState.RUNNING)
            status[done] = st[done]
            active &= ~done
            if not np.any(active):
                break
            v = -r
            ok = np.ones(n, dtype=bool)
            for d, winv in zip(reversed(ds), reversed(winvs)):
                ok &= np.all(np.abs(d) > DERIV_FLOOR * np.max(np.abs(d), axis=1, keepdims=True), axis=1)
                v = np.where(ok[:, None], v / d, 0.0) @ winv
            r_n, ds_n = evaluate(x + v)
            c_n = np.sum(r_n * r_n, axis=1)
            take = active & ok & (c_n < cost)
            status[active & ~take] = LaneState.HAND_OVER
            active &= take
            x[take], r[take], cost[take] = x[take] + v[take], r_n[take], c_n[take]
            ds = [np.where(take[:, None], dn, do) for dn, do in zip(ds_n, ds)]
            iters[take] += 1
    return x, status, iters


def _lm_trial(model: Any, x, y, mat, rhs, jf, free, mu: float, scale: float, lower, upper):
    """One damped trial point, or None when the damped system is not positive definite."""
    wide = mat.shape[0] < x.shape[0]
    damped = mat.copy()
    if not wide:
        damped[np.diag_indices(x.shape[0])] += np.where(free == 0.0, 1.0, 0.0)
    damped[np.diag_indices(damped.shape[0])] += mu * scale
    try:
        low = np.linalg.cholesky(damped)
        sol = np.linalg.solve(low.T, np.linalg.solve(low, rhs))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(sol)):
        return None
    x_new = x + (-(jf.T @ sol) if wide else sol)
    return x_new if lower is None else np.clip(x_new, lower, upper)


def _lm_one(model: Any, x, y, lower, upper, tol: float, max_iter: int, it: int) -> tuple[Any, int, int]:
    """Levenberg–Marquardt on one target from ``x`` with ``it`` iterations already spent."""

    def evaluate(xv):
        out, jac = numpy_ref.jacobian(model, xv[None, :])
        r = out[0] - y
        return r, jac[0], float(r @ r), float(np.max(np.abs(r)))

    r, jac, cost, res = evaluate(x)
    mu, last_gain = 0.0, math.inf
    while True:
        at_minimum = it >= max_iter and last_gain <= PROGRESS_RTOL
        st = int(verdicts(res, tol, it, max_iter, at_minimum))
        if st != LaneState.RUNNING:
            return x, st, it
        g = jac.T @ r
        free = np.where(frozen_mask(x, g, lower, upper), 0.0, 1.0)
        jf = jac * free
        wide = jac.shape[0] < x.shape[0]
        mat = jf @ jf.T if wide else jf.T @ jf
        rhs = r if wide else -g * free
        scale = float(np.max(np.diag(mat)))
        if not scale > 0:
            return x, Status.STALLED, it
        for _ in range(MAX_TRIES):
            x_new = _lm_trial(model, x, y, mat, rhs, jf, free, mu, scale, lower, upper)
            if x_new is not None:
                r_new, jac_new, cost_new, res_new = evaluate(x_new)
                if cost_new < cost:
                    last_gain = (cost - cost_new) / cost
                    x, r, jac, cost, res = x_new, r_new, jac_new, cost_new, res_new
                    break
                if np.max(np.abs(x_new - x)) <= STEP_FLOOR * (1.0 + np.max(np.abs(x))):
                    return x, Status.STALLED, it
            mu = MU_START if mu == 0.0 else mu * MU_GROW
        else:
            return x, Status.STALLED, it
        it += 1
        mu = mu / MU_SHRINK
        if mu < MU_FLOOR:
            mu = 0.0


def lm_reference(model: Any, x0s, ys, lower=None, upper=None, tol: float = 1e-9, max_iter: int = 100,
                 iters0=None) -> Result:
    """Twin of :func:`~.gauss_newton.lm_batch`: the same algorithm, one target at a time.

    Uses :func:`numpy.linalg.cholesky` and the NumPy Jacobian.  ``iters0``:
    iterations already spent per target (counted towards ``max_iter``).
    """
    x0s = np.asarray(x0s, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    n = x0s.shape[0]
    xs = x0s.copy()
    status = np.zeros(n, dtype=np.int8)
    iters = np.zeros(n, dtype=np.int64) if iters0 is None else np.array(iters0, dtype=np.int64)
    with np.errstate(all="ignore"):
        for t in range(n):
            xs[t], status[t], iters[t] = _lm_one(model, xs[t].copy(), ys[t], lower, upper, tol, max_iter,
                                                 int(iters[t]))
    return xs, status, iters


def gd_reference(model: Any, x0s, ys, *, lower=None, upper=None, tol: float = 1e-9, max_iter: int = 1000,
                 optimizer: str = "constant", lr: float = 0.01, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> Result:
    """Twin of :func:`~.gd.gd_batch` for the fixed-rule optimizers (vectorised over the batch).

    Supports ``"constant"``, ``"momentum"`` and ``"adam"`` (the line search's
    per-target step lengths are tested through the kernel against these).
    """
    if optimizer not in ("constant", "momentum", "adam"):
        raise ValueError(f"gd_reference supports 'constant', 'momentum' and 'adam'; got {optimizer!r}")
    x = np.array(x0s, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    n = x.shape[0]
    v = np.zeros_like(x)
    s2 = np.zeros_like(x)
    status = np.zeros(n, dtype=np.int8)
    iters = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    for _ in range(max_iter + 1):
        with np.errstate(all="ignore"):
            r = numpy_ref.forward(model, x) - ys
            _, g = numpy_ref.gradient(model, x, ys)
            pg = np.where(frozen_mask(x, g, lower, upper), 0.0, g)
            st = verdicts(np.max(np.abs(r), axis=1), tol, iters, max_iter, ~(np.max(np.abs(pg), axis=1) > GRAD_FLOOR))
            done = active & (st != LaneState.RUNNING)
            status[done] = st[done]
            active &= ~done
            if not np.any(active):
                break
            a = active
            iters[a] += 1
            if optimizer == "constant":
                x[a] -= lr * g[a]
            elif optimizer == "momentum":
                v[a] = beta1 * v[a] - lr * g[a]
                x[a] += v[a]
            else:
                t = iters[a][:, None].astype(np.float64)
                v[a] = beta1 * v[a] + (1.0 - beta1) * g[a]
                s2[a] = beta2 * s2[a] + (1.0 - beta2) * g[a] * g[a]
                x[a] -= lr * (v[a] / (1.0 - beta1 ** t)) / (np.sqrt(s2[a] / (1.0 - beta2 ** t)) + eps)
            if lower is not None:
                x[a] = np.clip(x[a], lower, upper)
    return x, status, iters
