"""``auto``: the closed form where it exists, otherwise ``newton``, then ``scipy``.

Selection rule, per target:

=====================================================  =====================
situation                                              method recorded
=====================================================  =====================
``analytic_inverse(model)`` exists, the answer is      ``"analytic"``
finite, inside the bounds and within ``tol``
otherwise (no closed form, an intermediate value       ``"newton"``
outside an activation's image, outside the bounds,
or a closed-form answer off by rounding: then
``newton`` polishes it)
``newton`` did not reach ``tol`` (and                  ``"scipy"`` if it did
``fallback=True``): ``scipy.optimize.least_squares``   better, else
from the original starting point                       ``"newton"``
=====================================================  =====================

``res.method`` holds the concrete method per target, never ``"auto"``;
``success`` is the re-checked residual within ``tol``.  A target inside the
output image that no input reaches ends with ``success=False`` and
:attr:`~symrecon.Status.STALLED` (the message says the target may be
unreachable), not an exception.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> sr.reconstruct(m, [100.0]).method
'analytic'
>>> relu = sr.Sequential([sr.Dense([[1.0, 2.0]], [0.5, -0.5], "relu"), sr.Dense([[1.0], [1.0]])])
>>> res = sr.reconstruct(relu, [3.0])
>>> res.method, res.success, round(float(res.x[0]), 9)
('newton', True, 1.0)
>>> sr.reconstruct(relu, [-1.0]).status.name   # in the linear output's image, but ReLUs are >= 0
'STALLED'
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import InfeasibleTargetError, NotInvertibleError
from ..result import Reconstruction, Status
from . import register
from ._base import AbstractSolver, Problem
from ._common import start_points

__all__ = ["Auto", "analytic_rows"]


def analytic_rows(inv, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate a closed-form inverse row by row where it is defined.

    The inverse raises :class:`InfeasibleTargetError` for a whole batch when
    any target is outside an intermediate activation's image; the batch is
    then split in halves until the bad rows are isolated (cost
    ``O(bad * log N)`` evaluations).

    Returns
    -------
    x : ndarray (N, n_in)
        NaN on rows without a closed-form answer.
    ok : ndarray of bool (N,)
    """
    n = y.shape[0]
    x = np.full((n, inv.n_in), np.nan)
    ok = np.zeros(n, dtype=bool)
    pending = [(0, n)]
    while pending:
        start, stop = pending.pop()
        try:
            x[start:stop] = inv(y[start:stop] if stop - start > 1 else y[start])
            ok[start:stop] = True
        except InfeasibleTargetError:
            if stop - start > 1:
                mid = (start + stop) // 2
                pending += [(start, mid), (mid, stop)]
    ok &= np.all(np.isfinite(x), axis=1)
    return x, ok


def _batch_view(res: Reconstruction):
    """``(x, codes, n_iter, methods)`` of a result as batch arrays."""
    if res.is_batch:
        return np.asarray(res.x), np.asarray(res.status), np.asarray(res.n_iter), np.asarray(res.method, dtype=object)
    return (np.asarray(res.x)[None, :], np.array([res.status.code], dtype=np.int8), np.array([res.n_iter]),
            np.array([res.method], dtype=object))


@register
@dataclass(frozen=True)
class Auto(AbstractSolver):
    """Closed form when possible, else batched Gauss–Newton, else scipy (per target).

    Parameters
    ----------
    fallback : bool, default True
        Run ``scipy`` on the targets ``newton`` leaves above ``tol``.

    Notes
    -----
    ``res.stats`` holds ``"counts"`` (targets per method) and
    ``"analytic_unavailable"`` (why there is no closed form, or None).
    """

    name: ClassVar[str] = "auto"
    supports_bounds: ClassVar[bool] = True

    fallback: bool = True

    def __post_init__(self):
        if not isinstance(self.fallback, bool):
            raise TypeError(f"The 'fallback' option of method 'auto' must be a bool. Got {self.fallback!r} instead.")

    def solve(self, problem: Problem) -> Reconstruction:
        from .analytic import cached_inverse
        from .newton import GaussNewton
        from .scipy_opt import ScipyLeastSquares

        t0 = time.perf_counter()
        model, y, n = problem.model, problem.y, problem.n_targets
        xs = start_points(problem)
        codes = np.full(n, Status.MAX_ITER.code, dtype=np.int8)
        iters = np.zeros(n, dtype=np.int64)
        methods = np.full(n, "newton", dtype=object)
        history = None

        # 1. closed form
        reason = None
        todo = np.ones(n, dtype=bool)
        try:
            inv = cached_inverse(model)
        except NotInvertibleError as exc:
            inv, reason = None, str(exc)
        if inv is not None:
            x_a, ok = analytic_rows(inv, y)
            if problem.has_bounds:
                ok &= np.all((x_a >= problem.lower) & (x_a <= problem.upper), axis=1)
            if np.any(ok):
                r = _residuals(model, x_a[ok], y[ok])
                good = np.flatnonzero(ok)[r <= problem.tol]
                xs[good] = x_a[good]
                codes[good] = Status.EXACT.code
                methods[good] = "analytic"
                todo[good] = False
                # close but off by rounding (ill-conditioned layers): newton polishes from there
                near = np.flatnonzero(ok)[r > problem.tol]
                xs[near] = x_a[near] if not problem.has_bounds else np.clip(x_a[near], problem.lower, problem.upper)

        # 2. newton, 3. scipy on what is left
        stages = [GaussNewton()] + ([ScipyLeastSquares()] if self.fallback else [])
        for stage, solver in enumerate(stages):
            rows = np.flatnonzero(todo)
            if rows.size == 0:
                break
            # newton starts from the closed-form answer where there is one; scipy from the
            # caller's start, which gives a second, independent chance on hard targets
            x_start = xs[rows] if stage == 0 else start_points(problem)[rows]
            sub = dataclasses.replace(problem.subset(rows), x0=_ro(x_start))
            if problem.single:
                sub = dataclasses.replace(sub, single=True)
            res = solver.solve(sub)
            x_s, c_s, i_s, _ = _batch_view(res)
            r_s = np.atleast_1d(np.asarray(res.residual, dtype=np.float64))
            if stage == 0:
                better = np.ones(rows.size, dtype=bool)
                if problem.single:
                    history = res.history
            else:
                better = r_s < _residuals(model, xs[rows], y[rows])
            take = rows[better]
            xs[take] = x_s[better]
            codes[take] = c_s[better]
            iters[take] = i_s[better]
            methods[take] = solver.name
            todo[rows[r_s <= problem.tol]] = False

        counts = {m: int(np.sum(methods == m)) for m in ("analytic", "newton", "scipy") if np.any(methods == m)}
        return Reconstruction.build(
            model, xs, y, tol=problem.tol, status=codes, method=methods, n_iter=iters,
            elapsed=time.perf_counter() - t0, single=problem.single, history=history,
            stats={"counts": counts, "analytic_unavailable": reason},
        )


def _residuals(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Max-norm residual per row (inf where not finite); the parallel kernel for big batches."""
    finite = np.all(np.isfinite(x), axis=1)
    out = np.full(y.shape, np.nan)
    with np.errstate(all="ignore"):
        if np.sum(finite) >= 4096:
            from ..backends.numba.forward import forward_batch
            from ..backends.numba.pack import pack

            out[finite] = forward_batch(pack(model), np.ascontiguousarray(x[finite]))
        elif np.any(finite):
            out[finite] = model.forward(x[finite])
        r = np.max(np.abs(out - y), axis=1)
    return np.where(np.isfinite(r), r, np.inf)


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a
