"""The methods that run on the GPU, as one table: method name -> block function on the device.

``reconstruct(..., device="cuda")`` checks the request with
:func:`check_device_request` before any work and then calls
:func:`solve_on_device` for the whole batch (the chunking of
:mod:`~.transfer` replaces the executor's blocks).  A method, an option or a
shape the GPU path does not handle is refused with a
:class:`~symrecon.errors.CapabilityError`; nothing falls back to the CPU.

Examples
--------
>>> from symrecon.backends.cuda.solve import DEVICE_METHODS
>>> sorted(DEVICE_METHODS)
['analytic', 'newton']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import CapabilityError
from ...solvers._base import AbstractSolver, BlockResult, Problem
from ...status import Status
from .layout import shape_problem
from .target import device_problem

__all__ = ["DEVICE_METHODS", "check_device_request", "solve_on_device"]


def _analytic(solver: AbstractSolver, problem: Problem) -> BlockResult:
    from ...solvers.analytic import cached_inverse
    from .closed_form import closed_form_rows

    inv = cached_inverse(problem.model)
    x, status, stats = closed_form_rows(inv.plan, problem.y)
    bad = np.flatnonzero(status != Status.EXACT)
    reason = None
    if bad.size:
        err = inv.row_error(problem.y, int(bad[0]))
        reason = None if err is None else str(err)
    return BlockResult(x=x, status=status, n_iter=np.zeros(problem.n_targets, dtype=np.int64), method=solver.name,
                       null_basis=inv.null_basis if inv.is_affine else None,
                       stats={"affine_dimension": int(inv.null_basis.shape[1]), "reason": reason, "device": "cuda",
                              **stats})


def _newton_phase(solver: Any, problem: Problem) -> BlockResult:
    """The kernels once over ``problem`` (the CPU solver's ``_gauss_newton``, on the device)."""
    from ...solvers._common import KernelRun
    from ...solvers.newton import TOL_MARGIN
    from .newton import newton_rows

    run = KernelRun(problem, solver.default_max_iter, inverses=solver.structured and not problem.has_bounds,
                    tol_margin=TOL_MARGIN)
    xs, status, iters, stats = newton_rows(run.pm, run.cfg, run.x0, run.ys)
    return BlockResult(x=xs, status=status, n_iter=iters, method=solver.name,
                       stats={"structured": run.pm.structured, "max_iter": run.cfg.max_iter, "device": "cuda",
                              **stats})


def _newton(solver: AbstractSolver, problem: Problem) -> BlockResult:
    """As :meth:`~symrecon.solvers.newton.GaussNewton.solve_block`: the device kernels, the pre-activation retry,
    then the same second chances (:func:`~symrecon.solvers.rescue.rescue`), whose local runs are on the device too.
    Only the per-row last resort (scipy ``trf``, at most a few rows per block) runs on the host; ``stats`` counts it.
    """
    from ...solvers.pre_activation import retry_on_pre_activation
    from ...solvers.rescue import rescue
    from ...solvers.scipy_opt import ScipyLeastSquares

    def local(sub: Problem) -> BlockResult:
        return retry_on_pre_activation(lambda p: _newton_phase(solver, p), sub, _newton_phase(solver, sub))

    restarts = int(getattr(solver, "restarts", 0))
    last_resort = ScipyLeastSquares(lsq_method="trf").solve_block if getattr(solver, "fallback", False) else None
    block, extra = rescue(local, problem, local(problem), restarts, last_resort)
    return dataclasses.replace(block, stats=dict(block.stats, **extra))


#: method name -> its block function on the device
DEVICE_METHODS: dict[str, Callable[[AbstractSolver, Problem], BlockResult]] = {
    "analytic": _analytic,
    "newton": _newton,
}


def check_device_request(solver: AbstractSolver, problem: Problem, executor: str) -> None:
    """Refuse what the GPU path cannot do, before any work.

    Raises
    ------
    CapabilityError
        An unsupported method or executor, a network too wide for one thread
        per target, or no CUDA device (or no CUDA target for numba).
    """
    from ...solvers import SOLVERS

    if solver.name not in DEVICE_METHODS or type(solver) is not SOLVERS.get(solver.name):
        raise CapabilityError(
            f"device='cuda' runs method {' or '.join(map(repr, sorted(DEVICE_METHODS)))}; got method "
            f"{solver.name!r} (use device='cpu' for it)")
    if executor != "serial":
        raise CapabilityError(f"device='cuda' schedules its own chunks; executor must be 'serial', got {executor!r}")
    too_big = shape_problem(problem.model)
    if too_big is not None:
        raise CapabilityError(f"device='cuda': {too_big}; use device='cpu'")
    missing = device_problem()
    if missing is not None:
        raise CapabilityError(f"device='cuda' cannot run here: {missing}")


def solve_on_device(solver: AbstractSolver, problem: Problem) -> BlockResult:
    """Every row of ``problem`` on the GPU with ``solver``'s method (checked by :func:`check_device_request`)."""
    return DEVICE_METHODS[solver.name](solver, problem)
