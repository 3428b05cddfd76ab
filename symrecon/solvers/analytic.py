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

import time
import weakref
from dataclasses import dataclass

from ..result import AffineSet, Reconstruction, Status
from ..symbolic.inverse import AnalyticInverse, analytic_inverse
from . import register
from ._base import AbstractSolver, Problem

__all__ = ["AnalyticSolver", "cached_inverse"]

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


@register
@dataclass(frozen=True)
class AnalyticSolver(AbstractSolver):
    """Exact reconstruction through the closed-form inverse (no iteration).

    For a wide first layer the answer is the minimum-norm input and the
    result's ``affine_set`` holds every input with the same output.

    Raises
    ------
    NotInvertibleError
        The model has no closed-form inverse (the error names the layer and
        the reason); use an iterative method.
    InfeasibleTargetError
        A target no input can produce (e.g. an intermediate value outside an
        activation's image).
    """

    name = "analytic"
    exact = True
    supports_bounds = False

    def solve(self, problem: Problem) -> Reconstruction:
        start = time.perf_counter()
        inv = cached_inverse(problem.model)
        x = inv._evaluate(problem.y, "auto")
        affine = AffineSet(point=x, null_basis=inv.null_basis) if inv.is_affine else None
        return Reconstruction.build(
            problem.model, x, problem.y, tol=problem.tol, status=Status.EXACT, method=self.name, n_iter=0,
            elapsed=time.perf_counter() - start, single=problem.single, affine_set=affine,
            stats={"affine_dimension": int(inv.null_basis.shape[1])},
        )
