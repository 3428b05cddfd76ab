"""Batched Gauss-Newton in NumPy for recurrent problems: input sequences and single steps.

The twin of the numba loop in :mod:`symrecon.backends.numba.bptt` (same
step, damping, line search and regulariser), written over all rows at once.
It only needs the rows' outputs and Jacobians (:class:`Problem`), so the same
loop solves a whole sequence (Jacobians of the unrolled graph) and one step
from a given state (:mod:`symrecon.rnn_step`).

Examples
--------
>>> import numpy as np
>>> from symrecon.rnn_newton import Problem, gauss_newton_numpy
>>> fns = Problem(lambda x, rows: x ** 3, lambda x, rows: (x ** 3, 3 * x[:, :, None] ** 2 * np.eye(1)), 1)
>>> x, status, _ = gauss_newton_numpy(fns, np.array([[8.0]]), np.array([[1.0]]), np.array([[1e-12]]), 50)
>>> round(float(x[0, 0]), 12), int(status[0])
(2.0, 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .backends.numba.bptt import LM_DAMPING
from .status import Status

__all__ = ["Problem", "gauss_newton_numpy", "subset", "with_restarts"]

Array = NDArray[np.float64]


class Problem(NamedTuple):
    """What the loop needs: ``out(x, rows) -> (k, m)`` and ``jac(x, rows) -> (out, (k, m, P))``.

    ``rows`` are the indices of the ``k`` rows of ``x`` among all targets
    (a step's state depends on them); ``n`` is the features per time step.
    """

    out: Callable[[Array, NDArray[np.int64]], Array]
    jac: Callable[[Array, NDArray[np.int64]], tuple[Array, Array]]
    n: int


def _cost(fns: Problem, x: Array, rows: NDArray[np.int64], y: Array, w: float, kind: int) -> Array:
    r = fns.out(x, rows) - y
    cost = np.sum(r * r, axis=1)
    if w > 0:
        cost = cost + w * np.sum(_reg_apply(x, fns.n, kind) * x, axis=1)
    return cost


def _reg_apply(x: Array, n: int, kind: int) -> Array:
    """``D^T D x`` per row (smallness: ``x``; smoothness: minus the discrete Laplacian over time)."""
    if kind == 0:
        return x.copy()
    seq = x.reshape(x.shape[0], -1, n)
    d = np.diff(seq, axis=1)
    out = np.zeros_like(seq)
    out[:, 1:] += d
    out[:, :-1] -= d
    return out.reshape(x.shape)


def _numpy_step(jac: Array, r: Array, x: Array, w: float, n: int, kind: int) -> Array:
    """The Gauss-Newton step of every row (the twin of the kernel's ``_step``)."""
    if w == 0.0:
        S = jac @ np.swapaxes(jac, 1, 2)
        scale = np.max(np.diagonal(S, axis1=1, axis2=2), axis=1)
        mu = LM_DAMPING * np.sqrt(np.sum(r * r, axis=1))
        S += (1e-13 * scale + mu + 1e-300)[:, None, None] * np.eye(S.shape[1])
        return -np.einsum("nip,ni->np", jac, np.linalg.solve(S, r[..., None])[..., 0])
    P = x.shape[1]
    DtD = _reg_apply(np.eye(P), n, kind)
    M = np.swapaxes(jac, 1, 2) @ jac + w * DtD + 1e-12 * (1.0 + w) * np.eye(P)
    rhs = -(np.einsum("nip,ni->np", jac, r) + w * _reg_apply(x, n, kind))
    return np.linalg.solve(M, rhs[..., None])[..., 0]


def gauss_newton_numpy(fns: Problem, y: Array, x0: Array, tolu: Array, max_iter: int,
                       reg: tuple[float, int] = (0.0, 0)) -> tuple[Array, NDArray[np.int8], NDArray[np.int64]]:
    """The Gauss-Newton loop in NumPy, all rows together.

    Same algorithm as :func:`symrecon.backends.numba.bptt.gauss_newton_one`.

    Parameters
    ----------
    fns : Problem
        Outputs and Jacobians of the rows.
    y, tolu : (N, m)
        Targets and per-unit tolerances.
    x0 : (N, P)
    max_iter : int
    reg : (weight, kind)
        Regulariser (kind 0 smallness, 1 smoothness over steps of ``fns.n`` features).

    Returns
    -------
    x : (N, P), status : (N,) int8, iters : (N,) int64
    """
    n = fns.n
    x = np.array(x0, dtype=np.float64)
    w = np.full(x.shape[0], float(reg[0]))
    status = np.full(x.shape[0], Status.MAX_ITER, dtype=np.int8)
    iters = np.full(x.shape[0], max_iter, dtype=np.int64)
    live = np.ones(x.shape[0], dtype=bool)
    for it in range(max_iter + 1):
        rows = np.flatnonzero(live)
        if rows.size == 0:
            break
        out, jac = fns.jac(x[rows], rows)
        r = out - y[rows]
        bad = ~np.all(np.isfinite(r), axis=1)
        done = (w[rows] == 0) & np.all(np.abs(r) <= tolu[rows], axis=1) & ~bad
        for mask, code in ((bad, Status.DIVERGED), (done, Status.CONVERGED)):
            status[rows[mask]], iters[rows[mask]], live[rows[mask]] = code, it, False
        if np.any(done):  # one more step from within tolerance: the answer to the digits float64 allows
            d = rows[done]
            _numpy_line_search(fns, x, y, d, _numpy_step(jac[done], r[done], x[d], 0.0, n, 0), np.zeros(x.shape[0]),
                               0, (status.copy(), iters.copy(), live.copy()), it)
        keep = ~(bad | done)
        rows, jac, r = rows[keep], jac[keep], r[keep]
        if rows.size == 0 or it == max_iter:
            break
        for wv in np.unique(w[rows]):
            sel = w[rows] == wv
            _numpy_line_search(fns, x, y, rows[sel], _numpy_step(jac[sel], r[sel], x[rows[sel]], wv, n, reg[1]),
                               w, reg[1], (status, iters, live), it)
    return x, status, iters


def _numpy_line_search(fns: Problem, x: Array, y: Array, rows: NDArray[np.int64], dx: Array, w: Array, kind: int,
                       out: tuple, it: int) -> None:
    status, iters, live = out
    wv = float(w[rows[0]])
    cost = _cost(fns, x[rows], rows, y[rows], wv, kind)
    alpha = np.ones(rows.size)
    accepted = np.zeros(rows.size, dtype=bool)
    new = np.full(rows.size, np.inf)
    for _ in range(40):
        todo = ~accepted
        if not np.any(todo):
            break
        trial = x[rows[todo]] + alpha[todo, None] * dx[todo]
        with np.errstate(all="ignore"):
            c = _cost(fns, trial, rows[todo], y[rows[todo]], wv, kind)
        ok = c < cost[todo]
        idx = np.flatnonzero(todo)
        accepted[idx[ok]], new[idx[ok]] = True, c[ok]
        x[rows[idx[ok]]] = trial[ok]
        alpha[idx[~ok]] *= 0.5
    small = alpha * np.max(np.abs(dx), axis=1) <= 1e-15 * (1.0 + np.max(np.abs(x[rows]), axis=1))
    if wv > 0:
        w[rows[small | ~accepted | (cost - new <= 1e-15 * cost)]] = 0.0
        return
    stalled = rows[~accepted]
    status[stalled], iters[stalled], live[stalled] = Status.STALLED, it, False


def subset(fns: Problem, keep: NDArray[np.int64]) -> Problem:
    """The same problem restricted to rows ``keep`` (row ``k`` of the subset is row ``keep[k]``)."""
    return Problem(lambda x, rows: fns.out(x, keep[rows]), lambda x, rows: fns.jac(x, keep[rows]), fns.n)


def with_restarts(solve: Callable, y: Array, x0: Array, restarts: int) -> tuple[Array, NDArray[np.int8],
                                                                                NDArray[np.int64]]:
    """Run ``solve(rows, y_rows, x_rows)``; rows that do not converge start again from seeded random points.

    ``solve`` returns ``(x, status, iters)`` for the rows it is given; at most
    ``restarts`` further rounds; iterations add up over rounds.
    """
    x, status, iters = solve(np.arange(y.shape[0]), y, x0)
    rng = np.random.default_rng(0)
    for _ in range(restarts):
        redo = np.flatnonzero(status != Status.CONVERGED)
        if redo.size == 0:
            break
        x_r, s_r, i_r = solve(redo, y[redo], rng.normal(size=(redo.size, x.shape[1])))
        better = s_r == Status.CONVERGED
        x[redo[better]], status[redo[better]] = x_r[better], s_r[better]
        iters[redo] += i_r
    return x, status, iters
