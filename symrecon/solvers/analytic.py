"""The closed-form solver: :func:`~symrecon.symbolic.analytic_inverse` behind the solver interface.

Examples
--------
>>> import symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> res = sr.reconstruct(m, [100.0], method="analytic")
>>> float(res.x[0]), res.n_iter, res.success
(312.5, 0, True)
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from ..status import Status
from ..symbolic.inverse import AnalyticInverse, analytic_inverse
from ..symbolic.numeric import evaluate_checked
from . import register
from ._base import AbstractSolver, BlockResult, Problem

__all__ = ["AnalyticSolver", "cached_inverse", "first_reason"]

# Models are immutable (read-only weights), so an inverse built once stays
# valid for the model's lifetime; weak keys let the model be collected.
_CACHE: weakref.WeakKeyDictionary[object, AnalyticInverse] = weakref.WeakKeyDictionary()


def cached_inverse(model) -> AnalyticInverse:
    """``analytic_inverse(model)``, built once per model object.

    Raises
    ------
    NotInvertibleError
        As :func:`~symrecon.symbolic.analytic_inverse` (not cached: the
        check is cheap and the model might be asked again on purpose).
    """
    inv = _CACHE.get(model)
    if inv is None:
        inv = analytic_inverse(model)
        _CACHE[model] = inv
    return inv


def first_reason(inv: AnalyticInverse, y: NDArray[np.float64], status: NDArray[np.int8]) -> str | None:
    """Why the first row that is not ``EXACT`` has no preimage (None when every row is)."""
    bad = np.flatnonzero(status != Status.EXACT)
    if not bad.size or not np.all(np.isfinite(y[bad[0]])):  # NaN/inf: reconstruct raises for the target itself
        return None
    err = inv.row_error(y, int(bad[0]))
    return None if err is None else str(err)


@register
@dataclass(frozen=True)
class AnalyticSolver(AbstractSolver):
    """Exact reconstruction through the closed-form inverse (no iteration).

    For a wide first layer the answer is the minimum-norm input and the
    result's ``affine_set`` holds every input with the same output.  A target
    whose preimage is empty (an intermediate value outside an activation's
    image) gets :attr:`~symrecon.Status.INFEASIBLE` and ``x = NaN`` for its
    row; ``res.stats["reason"]`` says why for the first such row.

    Raises
    ------
    NotInvertibleError
        The model has no closed-form inverse (the error names the layer and
        the reason); use an iterative method.
    """

    name: ClassVar[str] = "analytic"
    exact: ClassVar[bool] = True
    # the kernel (and its NumPy twin) test every target against the output image: NaN and inf fail it
    flags_bad_targets: ClassVar[bool] = True
    supports_bounds: ClassVar[bool] = False
    block_size: ClassVar[int] = 1 << 20

    def check_capabilities(self, problem: Problem) -> None:
        super().check_capabilities(problem)
        cached_inverse(problem.model)  # NotInvertibleError before any work

    def solve_block(self, problem: Problem) -> BlockResult:
        inv = cached_inverse(problem.model)
        # the kernel re-checks every answer by a forward pass while it is in cache
        x, status, check = evaluate_checked(inv.plan, problem.model, problem.y, problem.tol, problem.rtol,
                                    keep_y_pred=False)
        return BlockResult(
            # no iterations: one read-only zero for every row (not 8 bytes a row to allocate and fill)
            x=x, status=status, n_iter=np.broadcast_to(np.int64(0), (problem.n_targets,)), method=self.name,
            null_basis=inv.null_basis if inv.is_affine else None,
            stats={"affine_dimension": int(inv.null_basis.shape[1]), "reason": first_reason(inv, problem.y, status)},
            recheck=check,
        )
