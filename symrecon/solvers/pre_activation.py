"""A second chance in the output layer's pre-activation, shared by the iterative solvers.

With an invertible, nonlinear output activation ``f``, ``model(x) = y`` is
``z(x) = f^{-1}(y)`` with ``z`` the output layer's pre-activation.  Near the
ends of ``f``'s image (a tanh output of 0.9987, a sigmoid near 0 or 1, an
exploding exp) the residual in ``y`` is flat and badly scaled, and in ``z``
it is not: Gauss–Newton and gradient descent alike converge there in a
fraction of the iterations.  The answers are re-checked in ``y`` by the
caller's result as always.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.solvers._base import Problem
>>> m = sr.Sequential([sr.Dense([[2.0]], [0.0], "tanh")])
>>> p = Problem(m, np.array([[0.5]]), None, None, None, 1e-9, None, False)
>>> pre = pre_activation_problem(p, np.array([0]))
>>> round(float(pre.y[0, 0]), 6), pre.model.layers[-1].activation.name
(0.549306, 'linear')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..models import Dense, Sequential
from ..status import Status
from ._base import BlockResult, Problem

__all__ = ["pre_activation_problem", "retry_on_pre_activation"]


def pre_activation_problem(problem: Problem, rows: NDArray[np.intp], margin: float = 1.0) -> Problem | None:
    """The rows ``rows`` posed on the output layer's pre-activation ``z``, or None where that changes nothing.

    A unit's tolerance becomes ``margin * tol_j / |f'(z_j)|`` (to first order
    the same set of answers; ``margin < 1`` leaves room for the re-check in
    ``y``).  The caller's starting points are kept.
    """
    last = problem.model.layers[-1]
    act = getattr(last, "activation", None)
    if not isinstance(last, Dense) or act is None or act.name == "linear" or act.numpy_inverse is None:
        return None
    with np.errstate(all="ignore"):
        z = act.numpy_inverse(problem.y[rows])
        slope = np.abs(act.numpy_derivative(z))
        assert problem.unit_tol is not None
        tol = margin * problem.unit_tol[rows] / slope
    usable = np.all(np.isfinite(z) & np.isfinite(tol) & (tol > 0), axis=1)
    if not np.all(usable):
        return None
    linear_out = Dense(last.kernel, last.bias, "linear", name=last.name)
    model = Sequential([*problem.model.layers[:-1], linear_out], name=problem.model.name)
    x0 = None if problem.x0 is None else problem.x0[rows]
    return dataclasses.replace(problem, model=model, y=z, x0=x0, unit_tol=tol)


def retry_on_pre_activation(solve: Callable[[Problem], BlockResult], problem: Problem, block: BlockResult,
                            margin: float = 1.0) -> BlockResult:
    """Run ``solve`` again on ``block``'s unconverged rows, posed on the pre-activation, from the caller's start.

    Rows that converge there take the new answer, its ``n_iter`` and (one
    target) its history; ``stats["n_pre_activation"]`` counts them.
    """
    unsolved = np.flatnonzero(block.status != Status.CONVERGED)
    pre = pre_activation_problem(problem, unsolved, margin) if unsolved.size else None
    if pre is None:
        return dataclasses.replace(block, stats=dict(block.stats, n_pre_activation=0))
    retry = solve(pre)
    took = retry.status == Status.CONVERGED
    won = unsolved[took]
    block.x[won], block.status[won], block.n_iter[won] = retry.x[took], Status.CONVERGED, retry.n_iter[took]
    history = retry.history if (problem.single and won.size) else block.history
    return dataclasses.replace(block, history=history, stats=dict(block.stats, n_pre_activation=int(won.size)))
