"""``newton``: batched Gauss–Newton / Levenberg–Marquardt on the input, numba-jitted.

The default iterative method.  Inputs are small (tens to hundreds of
dimensions), so a second-order step per target is cheap and converges in a
handful of iterations where first-order input descent needs thousands.

Algorithm (per target, see :mod:`symrecon.backends.numba.gauss_newton`):

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

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..backends.numba.pack import layer_inverses
from ..status import LaneState
from ..validation import check_option
from . import register
from ._base import AbstractSolver, BlockResult, Problem
from ._common import KernelRun, compile_notice, no_rows
from .pre_activation import retry_on_pre_activation
from .rescue import rescue

__all__ = ["GaussNewton", "layer_inverses"]

#: the kernels stop at this fraction of ``tol`` so that the independent re-check
#: (NumPy forward pass, a few ulps different) is comfortably within ``tol``
TOL_MARGIN = 0.5
#: targets per parallel work item of the lane kernels
LANE_CHUNK = 256


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
    restarts : int, default 6
        Targets left above tolerance get second chances (see
        :mod:`symrecon.solvers.rescue`): continuation from ``model(x0)``, the
        layer-by-layer pseudo-inverse as a start, then up to ``restarts``
        random starts (fewer once a round reaches nothing new); 0 still runs
        the first two.
    fallback : bool, default True
        Last, run ``scipy.optimize.least_squares`` (``trf``) per target on
        what is still open, from the caller's start (at most
        :data:`~symrecon.solvers.rescue.LAST_RESORT_ROWS` targets per block).

    Notes
    -----
    ``res.stats`` holds ``"structured"`` (whether phase 1 ran),
    ``"n_damped"`` (targets the damped solver handled) and
    ``"n_pre_activation"`` (targets solved only by the second run on the
    output layer's pre-activation, see :mod:`symrecon.solvers.pre_activation`),
    ``"n_rescued"`` (targets solved by the second chances) and
    ``"restarts"`` (starting points tried beyond the first for a target still
    open).  A target solved by a second chance reports that run's ``n_iter``
    (and, for one target, its history).
    """

    name: ClassVar[str] = "newton"
    supports_bounds: ClassVar[bool] = True
    default_max_iter: ClassVar[int] = 100
    additive_stats: ClassVar[tuple[str, ...]] = ("n_damped", "n_pre_activation", "n_rescued")
    #: the kernels parallelise inside a block; blocks only pace the progress bar (~0.5 s each)
    block_size: ClassVar[int] = 1 << 17

    structured: bool = True
    restarts: int = 6
    fallback: bool = True

    def __post_init__(self) -> None:
        for option, kind in (("structured", "bool"), ("restarts", "nonnegative_int"), ("fallback", "bool")):
            object.__setattr__(self, option, check_option(self.name, option, getattr(self, option), kind))

    def solve_block(self, problem: Problem) -> BlockResult:
        from .scipy_opt import ScipyLeastSquares

        block = self._local(problem)
        last_resort = ScipyLeastSquares(lsq_method="trf").solve_block if self.fallback else None
        block, extra = rescue(self._local, problem, block, self.restarts, last_resort)
        return dataclasses.replace(block, stats=dict(block.stats, **extra))

    def local_run(self, problem: Problem) -> BlockResult:
        """One run from the problem's starting points, without the second chances (for callers with their own)."""
        return self._local(problem)

    def prepare(self, problem: Problem) -> None:
        """Compile the first phase's kernel before any block runs (notice on stderr); the damped one compiles ahead.

        See :func:`~symrecon.backends.numba.gauss_newton.compile_kernels`: the
        damped kernel of a square chain compiles in the background and is
        waited for (with the same notice) before the first target is handed to it.
        """
        from ..backends.numba.gauss_newton import compile_kernels

        run = self._kernel_run(no_rows(problem))
        with compile_notice(problem.progress is not False):
            compile_kernels(run.pm, run.cfg, run.x0, run.ys, run.out)

    def _kernel_run(self, problem: Problem) -> KernelRun:
        return KernelRun(problem, self.default_max_iter, inverses=self.structured and not problem.has_bounds,
                         tol_margin=TOL_MARGIN)

    def _local(self, problem: Problem) -> BlockResult:
        """One local run from the problem's start: GN/LM, then the output layer's pre-activation for what is left."""
        return retry_on_pre_activation(self._gauss_newton, problem, self._gauss_newton(problem))

    def _gauss_newton(self, problem: Problem) -> BlockResult:
        from ..backends.numba import compile_ahead
        from ..backends.numba.gauss_newton import gn_square_batch, lm_batch
        from ..backends.numba.pack import Outputs

        run = self._kernel_run(problem)
        pm, cfg, out = run.pm, run.cfg, run.out
        n_damped = problem.n_targets
        if not pm.structured:
            lm_batch(pm, cfg, run.x0, run.ys, LANE_CHUNK, out)
        else:
            gn_square_batch(pm, cfg, run.x0, run.ys, LANE_CHUNK, out)
            rest = np.flatnonzero(out.status == LaneState.HAND_OVER)
            n_damped = int(rest.size)
            if rest.size:
                with compile_notice(problem.progress is not False):
                    compile_ahead.wait_all()
                # the damped solver restarts where the structured phase stopped, counting its iterations
                x_r = np.ascontiguousarray(out.xs[rest])
                sub = Outputs(x_r, np.zeros(rest.size, dtype=np.int8), np.ascontiguousarray(out.iters[rest]),
                              out.hist)
                lm_batch(pm, cfg._replace(tol=cfg.tol[rest]), x_r, np.ascontiguousarray(run.ys[rest]), LANE_CHUNK,
                         sub)
                out.xs[rest], out.status[rest], out.iters[rest] = sub.xs, sub.status, sub.iters
        return run.result(self.name, {"structured": pm.structured, "n_damped": n_damped, "max_iter": cfg.max_iter})
