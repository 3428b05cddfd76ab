"""``scipy`` and ``lbfgs``: per-target adapters around :mod:`scipy.optimize`.

* ``scipy``: :func:`scipy.optimize.least_squares` on ``model(x) - y`` with the
  analytic Jacobian (forward mode, NumPy); ``"lm"`` (MINPACK) when there are no
  bounds and the network is not wide, ``"trf"`` otherwise.
* ``lbfgs``: :func:`scipy.optimize.minimize` with ``L-BFGS-B`` on
  ``||model(x) - y||^2`` and its backprop gradient.

Both loop over targets in Python: robust fallbacks, not batch engines (use
``newton`` for large batches).  Success is judged by the re-checked residual,
never by scipy's own ``success`` flag.

Examples
--------
>>> import symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> res = sr.reconstruct(m, [100.0], method="scipy")
>>> round(float(res.x[0]), 9), res.success
(312.5, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from ..backends import numpy_ref
from ..errors import CapabilityError
from ..status import Status
from ..validation import check_option
from . import register
from ._base import AbstractSolver, BlockResult, Problem
from ._common import iteration_limit, start_points

__all__ = ["ScipyLeastSquares", "ScipyLBFGS", "residual_and_jacobian", "cost_and_gradient"]

_EPS = float(np.finfo(np.float64).eps)
#: scipy's own ``least_squares`` status for "the function-evaluation limit was reached"
_LSQ_MAX_NFEV = 0
#: least_squares methods and whether they accept bounds
_LSQ_METHODS = {"lm": False, "trf": True, "dogbox": True}


def residual_and_jacobian(model, x: NDArray[np.float64], y: NDArray[np.float64]):
    """``r = model(x) - y`` (n_out,) and ``J = dr/dx`` (n_out, n_in) for one input, by the NumPy reference's forward mode."""
    out, jac = numpy_ref.jacobian(model, x[None])
    return out[0] - y, jac[0]


def cost_and_gradient(model, x: NDArray[np.float64], y: NDArray[np.float64]):
    """``||model(x) - y||^2`` and its gradient ``2 J^T r`` for one input, by the NumPy reference's backprop."""
    cost, grad = numpy_ref.gradient(model, x[None], y[None])
    return float(cost[0]), grad[0]


def _verdict(residual: float, tol: float, exhausted: bool) -> Status:
    if not np.isfinite(residual):
        return Status.DIVERGED
    if residual <= tol:
        return Status.CONVERGED
    # scipy stopped on its own tolerances at a non-zero residual: a local minimum
    return Status.MAX_ITER if exhausted else Status.STALLED


def _run_per_target(solver: AbstractSolver, problem: Problem, one) -> BlockResult:
    """Call ``one(x0, y) -> (x, n_iter, nfev, exhausted)`` for every row and judge each answer."""
    n, n0 = problem.n_targets, problem.model.n_in
    x0 = start_points(problem)
    xs = np.full((n, n0), np.nan)
    codes = np.full(n, Status.NOT_RUN, dtype=np.int8)
    iters = np.zeros(n, dtype=np.int64)
    nfev = np.zeros(n, dtype=np.int64)
    row_tol = problem.row_tol
    for t in range(n):
        x, n_it, n_f, exhausted = one(x0[t], problem.y[t])
        xs[t] = x
        r = np.max(np.abs(problem.model.forward(x) - problem.y[t])) if np.all(np.isfinite(x)) else np.inf
        codes[t] = _verdict(float(r), float(row_tol[t]), exhausted)
        iters[t], nfev[t] = n_it, n_f
    stats = {"nfev": int(nfev.sum()), "max_iter": iteration_limit(problem, solver.default_max_iter or 0)}
    return BlockResult(x=xs, status=codes, n_iter=iters, method=solver.name, stats=stats)


@register
@dataclass(frozen=True)
class ScipyLeastSquares(AbstractSolver):
    """:func:`scipy.optimize.least_squares` per target, analytic Jacobian.

    Parameters
    ----------
    lsq_method : {"lm", "trf", "dogbox"} or None, default None
        None: ``"lm"`` without bounds when ``n_out >= n_in`` (MINPACK needs
        at least as many residuals as unknowns), ``"trf"`` otherwise.

    Notes
    -----
    ``max_iter`` is passed as ``max_nfev``; ``n_iter`` reports scipy's ``nfev``.
    """

    name: ClassVar[str] = "scipy"
    supports_bounds: ClassVar[bool] = True
    default_max_iter: ClassVar[int] = 1000
    block_size: ClassVar[int] = 256
    additive_stats: ClassVar[tuple[str, ...]] = ("nfev",)

    lsq_method: str | None = None

    def __post_init__(self) -> None:
        check_option(self.name, "lsq_method", self.lsq_method, (*sorted(_LSQ_METHODS), None))

    def check_capabilities(self, problem: Problem) -> None:
        super().check_capabilities(problem)
        if self.lsq_method is None:
            return
        if problem.has_bounds and not _LSQ_METHODS[self.lsq_method]:
            raise CapabilityError(f"lsq_method {self.lsq_method!r} does not support bounds; use 'trf' or 'dogbox'")
        if self.lsq_method == "lm" and problem.model.n_out < problem.model.n_in:
            raise CapabilityError("lsq_method 'lm' needs n_out >= n_in (a wide network has fewer residuals "
                                  "than unknowns); use 'trf'")

    def _method(self, problem: Problem) -> str:
        if self.lsq_method is not None:
            return self.lsq_method
        if not problem.has_bounds and problem.model.n_out >= problem.model.n_in:
            return "lm"
        return "trf"

    def solve_block(self, problem: Problem) -> BlockResult:
        from scipy.optimize import least_squares

        model = problem.model
        method = self._method(problem)
        max_nfev = iteration_limit(problem, self.default_max_iter)
        bounds = (problem.lower, problem.upper) if problem.has_bounds else (-np.inf, np.inf)

        def one(x0, y):
            def fun(x):
                return residual_and_jacobian(model, x, y)[0]

            def jac(x):
                return residual_and_jacobian(model, x, y)[1]

            sol = least_squares(fun, x0, jac=jac, method=method, bounds=bounds, xtol=_EPS, ftol=_EPS, gtol=_EPS,
                                max_nfev=max_nfev)
            return sol.x, sol.nfev, sol.nfev, sol.status == _LSQ_MAX_NFEV

        return _run_per_target(self, problem, one)


@register
@dataclass(frozen=True)
class ScipyLBFGS(AbstractSolver):
    """:func:`scipy.optimize.minimize` (``L-BFGS-B``) per target on ``||model(x) - y||^2``.

    Parameters
    ----------
    memory : int, default 10
        Number of correction pairs (L-BFGS-B's ``maxcor``).
    """

    name: ClassVar[str] = "lbfgs"
    supports_bounds: ClassVar[bool] = True
    default_max_iter: ClassVar[int] = 2000
    block_size: ClassVar[int] = 256
    additive_stats: ClassVar[tuple[str, ...]] = ("nfev",)

    memory: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "memory", check_option(self.name, "memory", self.memory, "positive_int"))

    def solve_block(self, problem: Problem) -> BlockResult:
        from scipy.optimize import minimize

        model = problem.model
        max_iter = iteration_limit(problem, self.default_max_iter)
        bounds = None if problem.lower is None or problem.upper is None else list(zip(problem.lower, problem.upper))
        # stop on the residual, not on L-BFGS-B's relative tolerances: the cost is
        # sum r^2, so max|r| <= tol is guaranteed once the cost is below tol^2
        target_cost = problem.kernel_tol ** 2

        def one(x0, y):
            def fun(x):
                return cost_and_gradient(model, x, y)

            sol = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": max_iter, "maxcor": self.memory, "ftol": target_cost * 1e-3,
                                    "gtol": 1e-300})
            return sol.x, sol.nit, sol.nfev, sol.nit >= max_iter

        return _run_per_target(self, problem, one)
