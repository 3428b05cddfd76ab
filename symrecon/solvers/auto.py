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
the closed form proves that no input gives the         ``"analytic"``, status
target (an intermediate value outside an               ``INFEASIBLE``, ``x`` NaN
activation's open image)
=====================================================  =====================

``res.method`` holds the concrete method per target, never ``"auto"``;
``success`` is the re-checked residual within ``tol``.  Routing is per row:
each target takes the first method that solves it.  A target inside the
output image that no input reaches ends with ``success=False``:
:attr:`~symrecon.Status.INFEASIBLE` when the closed form proves it (an
intermediate value outside an activation's open image, as ``analytic`` says
too), otherwise :attr:`~symrecon.Status.STALLED` (the message says it may be
unreachable), never an exception.  The rule is the mathematical one, as for
the output layer: a hidden sigmoid asked for exactly ``1.0`` is infeasible,
although float64 rounding makes ``sigmoid(40) == 1.0`` and an iterative
method alone would report that target reached within tolerance.

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
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from ..errors import NotInvertibleError
from ..models import Sequential
from ..recheck import Recheck, forward_rows, max_residual
from ..status import Status
from . import register
from ._base import AbstractSolver, BlockResult, Problem
from ._common import start_points

__all__ = ["Auto"]

#: methods auto may record, in the order it tries them
_STAGES = ("analytic", "newton", "scipy")


@dataclass
class _Routing:
    """Per-row state while ``auto`` routes the rows of one block.

    ``answer`` holds every row's best answer so far (its arrays are written in
    place, ``method`` per row); ``todo`` marks the rows no method has settled.
    """

    answer: BlockResult
    todo: NDArray[np.bool_]
    #: newton's restarts for the rows it left open (said in the advice)
    restarts: int | None = None
    #: the closed-form kernel's own forward re-check, when it settled every row
    recheck: Recheck | None = None

    @property
    def methods(self) -> NDArray[np.object_]:
        """The per-row method array of ``answer`` (always an array here)."""
        assert isinstance(self.answer.method, np.ndarray)
        return self.answer.method


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
    ``res.stats`` holds ``"n_analytic"``, ``"n_newton"``, ``"n_scipy"``
    (targets per method) and ``"analytic_unavailable"`` (why there is no
    closed form, or None).
    """

    name: ClassVar[str] = "auto"
    supports_bounds: ClassVar[bool] = True
    additive_stats: ClassVar[tuple[str, ...]] = tuple(f"n_{m}" for m in _STAGES)

    fallback: bool = True

    def __post_init__(self) -> None:
        from ..validation import check_option

        check_option(self.name, "fallback", self.fallback, "bool")

    def prepare(self, problem: Problem) -> None:
        """Without a closed form every row goes to ``newton``: compile its kernels before the first block.

        With one, ``newton`` only polishes the rare row the closed form misses,
        and compiling it up front would cost every first call a compile.
        """
        from .analytic import cached_inverse
        from .newton import GaussNewton

        try:
            cached_inverse(problem.model)
        except NotInvertibleError:
            GaussNewton().prepare(problem)

    def solve_block(self, problem: Problem) -> BlockResult:
        n = problem.n_targets
        start = BlockResult(x=start_points(problem), status=np.full(n, Status.NOT_RUN, dtype=np.int8),
                            n_iter=np.zeros(n, dtype=np.int64), method=np.full(n, "newton", dtype=object))
        route = _Routing(answer=start, todo=np.ones(n, dtype=bool))
        unavailable, reason = self._closed_form(problem, route)
        history = self._iterate(problem, route)
        stats: dict[str, object] = {f"n_{m}": int(np.sum(route.answer.method == m)) for m in _STAGES}
        stats["analytic_unavailable"] = unavailable
        stats["reason"] = reason
        if route.restarts:
            stats["restarts"] = route.restarts
        return dataclasses.replace(route.answer, history=history, stats=stats, null_basis=_null_basis(problem),
                                   recheck=route.recheck)

    @staticmethod
    def _closed_form(problem: Problem, route: _Routing) -> tuple[str | None, str | None]:
        """Take the closed-form answer (or proof of infeasibility) on every row it settles.

        Returns why there is no closed form, and why the first infeasible row has no preimage.
        """
        from ..symbolic.numeric import evaluate_checked
        from .analytic import cached_inverse, first_reason

        try:
            inv = cached_inverse(problem.model)
        except NotInvertibleError as exc:
            return str(exc), None
        # the kernel re-checks each answer by a forward pass while it is in cache (no second pass here)
        x_a, st_a, check = evaluate_checked(inv.plan, problem.model, problem.y, problem.tol, problem.rtol,
                                            keep_y_pred=False)
        reason = first_reason(inv, problem.y, st_a)
        proved = st_a == Status.INFEASIBLE
        route.answer.x[proved] = np.nan
        route.answer.status[proved] = Status.INFEASIBLE
        route.methods[proved] = "analytic"
        route.todo[proved] = False
        ok = st_a == Status.EXACT
        if problem.lower is not None and problem.upper is not None:
            ok &= np.all((x_a >= problem.lower) & (x_a <= problem.upper), axis=1)
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return None, reason
        fine = check.within[rows]
        good, near = rows[fine], rows[~fine]
        if good.size == problem.n_targets:
            route.recheck = check  # every row settled here: the result takes this re-check as it is
        route.answer.x[good] = x_a[good]
        route.answer.status[good] = Status.EXACT
        route.methods[good] = "analytic"
        route.todo[good] = False
        # close but off by rounding (ill-conditioned layers): newton polishes from there
        x_near = x_a[near]
        if problem.lower is not None and problem.upper is not None:
            x_near = np.clip(x_near, problem.lower, problem.upper)
        route.answer.x[near] = x_near
        return None, reason

    def _iterate(self, problem: Problem, route: _Routing) -> NDArray[np.float64] | None:
        """``newton`` on the rows left, then ``scipy`` on what newton did not solve; returns newton's history."""
        from .newton import GaussNewton
        from .scipy_opt import ScipyLeastSquares

        history = None
        stages: list[AbstractSolver] = [GaussNewton()] + ([ScipyLeastSquares()] if self.fallback else [])
        for stage, solver in enumerate(stages):
            rows = np.flatnonzero(route.todo)
            if rows.size == 0:
                break
            # newton starts from the closed-form answer where there is one; scipy from the
            # caller's start, which gives a second, independent chance on hard targets
            x_start = route.answer.x[rows] if stage == 0 else start_points(problem)[rows]
            block = solver.solve_block(problem.rows(rows, x0=x_start))
            r_s = _residuals(problem.model, block.x, problem.y[rows])
            if stage == 0:
                better = np.ones(rows.size, dtype=bool)
                history = block.history
                route.restarts = block.stats.get("restarts")
            else:
                better = r_s < _residuals(problem.model, route.answer.x[rows], problem.y[rows])
            take = rows[better]
            route.answer.x[take] = block.x[better]
            route.answer.status[take] = block.status[better]
            route.answer.n_iter[take] = block.n_iter[better]
            route.methods[take] = solver.name
            route.todo[rows[r_s <= problem.row_tol[rows]]] = False
        return history


def _residuals(model: Sequential, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Max-norm residual per row (inf where not finite), by the same re-check the result uses."""
    return max_residual(forward_rows(model, x), y)


def _null_basis(problem: Problem) -> NDArray[np.float64] | None:
    """The closed form's null-space basis (wide first layer) when its rows are exact *sets*, without bounds.

    Every target the closed form settles then has the affine set ``x + span(basis)`` as its preimage (the
    result's ``affine_set``; ``kind`` "exact-set"); with bounds the set is cut by the box, which
    :func:`symrecon.preimage` returns instead.
    """
    from .analytic import cached_inverse

    if problem.has_bounds:
        return None
    try:
        inv = cached_inverse(problem.model)
    except NotInvertibleError:
        return None
    return inv.null_basis if inv.is_affine and inv.null_basis.shape[1] > 0 else None
