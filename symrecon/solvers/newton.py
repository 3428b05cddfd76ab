"""``newton``: batched Gauss–Newton / Levenberg–Marquardt on the input, numba-jitted.

The default iterative method.  Inputs are small (tens to hundreds of
dimensions), so a second-order step per target is cheap and converges in a
handful of iterations where first-order input descent needs thousands.

Algorithm (per target, see :mod:`symrecon.solvers._newton_kernels`):

1. *Square chains* (every layer ``n x n``, no bounds): Gauss–Newton steps
   ``d = -J^{-1} r`` computed factor by factor, ``J^{-1} = W_1^{-T} D_1^{-1}
   ... W_L^{-T} D_L^{-1}``, with the layer inverses computed once.  No
   Jacobian is formed.
2. Everything else, and any target the first phase cannot finish (a step
   that does not lower the cost, a vanishing derivative): Levenberg–Marquardt
   with the Jacobian by forward mode, the damped normal equations of size
   ``min(n_in, n_out)`` (minimum-norm steps for wide networks, least squares
   for tall ones) and projection onto the bounds with an active set.

Examples
--------
>>> import symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> res = sr.reconstruct(m, [100.0], method="newton", x0=[1.0])
>>> round(float(res.x[0]), 9), res.n_iter, res.success
(312.5, 1, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..validation import check_option
from . import register
from ._base import AbstractSolver, BlockResult, Problem
from ._common import KernelRun

__all__ = ["GaussNewton"]

#: layers whose condition number exceeds this are not inverted for the structured phase
MAX_LAYER_COND = 1e10
#: the kernels stop at this fraction of ``tol`` so that the independent re-check
#: (NumPy forward pass, a few ulps different) is comfortably within ``tol``
TOL_MARGIN = 0.5
#: targets per parallel work item of the damped solver
LANE_CHUNK = 256


def layer_inverses(model) -> np.ndarray | None:
    """``W_l^{-1}`` of every layer, flattened like the packed weights; None if not a square chain.

    Returns None when a layer is not square or is ill-conditioned
    (condition number above :data:`MAX_LAYER_COND`).
    """
    parts = []
    for layer in model.layers:
        k = layer.kernel
        if k.shape[0] != k.shape[1] or not np.linalg.cond(k) < MAX_LAYER_COND:
            return None
        parts.append(np.linalg.inv(k).ravel())
    return np.ascontiguousarray(np.concatenate(parts))


@register
@dataclass(frozen=True)
class GaussNewton(AbstractSolver):
    """Batched Gauss–Newton / Levenberg–Marquardt (numba).

    Parameters
    ----------
    structured : bool, default True
        On chains of square, well-conditioned layers without bounds, start
        with Gauss–Newton steps computed layer by layer (no Jacobian); False
        always uses the damped solver (same answers, slower).

    Notes
    -----
    ``res.stats`` holds ``"structured"`` (whether phase 1 ran) and
    ``"n_damped"`` (targets the damped solver handled).
    """

    name: ClassVar[str] = "newton"
    supports_bounds: ClassVar[bool] = True
    default_max_iter: ClassVar[int] = 100
    additive_stats: ClassVar[tuple[str, ...]] = ("n_damped",)

    structured: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "structured", check_option(self.name, "structured", self.structured, "bool"))

    def solve_block(self, problem: Problem) -> BlockResult:
        from ._newton_kernels import gn_square_batch, lm_batch

        run = KernelRun(problem, self.default_max_iter)
        pm, max_iter, lower, upper, has_bounds = run.pm, run.max_iter, run.lower, run.upper, run.has_bounds
        x0, ys, xs, status, iters, hist = run.x0, run.ys, run.xs, run.status, run.iters, run.hist
        tol = TOL_MARGIN * problem.kernel_tol
        winv = layer_inverses(problem.model) if (self.structured and not has_bounds) else None
        n_damped = 0

        def work(start: int, stop: int) -> None:
            nonlocal n_damped
            sl = slice(start, stop)
            if winv is not None:
                gn_square_batch(*pm.args, winv, x0[sl], ys[sl], tol, max_iter, LANE_CHUNK, xs[sl], status[sl], iters[sl],
                                hist)
                rest = start + np.flatnonzero(status[sl] == 0)
            else:
                xs[sl] = x0[sl]
                rest = np.arange(start, stop)
            if rest.size:
                n_damped += rest.size
                x_r = np.ascontiguousarray(xs[rest])
                s_r = np.zeros(rest.size, dtype=np.int8)
                i_r = np.ascontiguousarray(iters[rest])
                lm_batch(*pm.args, x_r, np.ascontiguousarray(ys[rest]), lower, upper, has_bounds, tol, max_iter,
                         LANE_CHUNK, x_r, s_r, i_r, hist)
                xs[rest], status[rest], iters[rest] = x_r, s_r, i_r

        work(0, problem.n_targets)
        return run.result(
            self.name,
            {"structured": winv is not None, "n_damped": int(n_damped), "max_iter": max_iter},
        )
