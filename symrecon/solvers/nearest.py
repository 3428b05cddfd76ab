"""The member of a target's preimage nearest to a reference input, within bounds.

An underdetermined model (more inputs than outputs, e.g. a classifier) maps
a whole set of inputs to each target; :func:`~symrecon.reconstruct` with
``x_ref=...`` picks the one nearest to ``x_ref`` in L2::

    minimise ||x - x_ref||^2   subject to   model(x) = y,   lower <= x <= upper

solved per target by :func:`scipy.optimize.minimize` (SLSQP: equality
constraints with the model's Jacobian, box bounds), followed by Gauss-Newton
minimum-norm corrections on the coordinates not held at a bound (SLSQP meets
its constraints only to its own tolerance).  Where SLSQP ends away from the
preimage, the search restarts from a feasible point found by
:func:`scipy.optimize.least_squares` from ``x_ref``.  On a non-convex
preimage the answer is a local minimum of the distance (a KKT point), and
every answer is re-checked by a forward pass.

This solver is not in the method table: it is what ``x_ref=`` selects.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[1.0], [1.0]])])            # x0 + x1 = y
>>> res = sr.reconstruct(m, [2.0], x_ref=[3.0, 0.0])
>>> res.x.round(9).tolist(), res.success
([2.5, -0.5], True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from ..errors import ShapeError
from ..status import Status
from ._base import AbstractSolver, BlockResult, Problem

if TYPE_CHECKING:
    from scipy.optimize import Bounds

__all__ = ["NearestSolver", "dense_value_and_jacobian", "nearest_solver"]

#: Gauss-Newton corrections after SLSQP (each one roughly squares the constraint error)
POLISH_STEPS = 30
#: projection steps that make the second start
PROJECTION_STEPS = 40


def dense_value_and_jacobian(model: Any, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``model(x)`` (n_out,) and its Jacobian (n_out, n_in) for a Dense chain and one input ``x`` (n_in,).

    The chain rule layer by layer in NumPy (``J = prod W_l diag f_l'``): the
    search calls it hundreds of times per target, where the graph
    evaluator's per-node overhead would dominate.  Tested against
    :func:`symrecon.backends.numpy_ref.jacobian`.
    """
    a, jac = x, np.eye(x.shape[0])
    for layer in model.layers:
        z = a @ layer.kernel + layer.bias
        a = layer.activation.numpy(z)
        jac = (jac @ layer.kernel) * layer.activation.numpy_derivative(z)
    return a, np.ascontiguousarray(jac.T)


class _Row:
    """``model(x) - y`` and its Jacobian for one target, evaluated once per ``x``."""

    def __init__(self, model: Any, y: NDArray[np.float64]):
        self.model, self.y = model, y
        self._x: NDArray[np.float64] | None = None
        self.nfev = 0

    def _eval(self, x: NDArray[np.float64]) -> None:
        if self._x is None or not np.array_equal(x, self._x):
            out, jac = dense_value_and_jacobian(self.model, x)
            self._x, self._f, self._j = x.copy(), out - self.y, jac
            self.nfev += 1

    def f(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        self._eval(x)
        return self._f

    def jac(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        self._eval(x)
        return self._j


def _polish(row: _Row, x: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64],
            tol: NDArray[np.float64]) -> NDArray[np.float64]:
    """Minimum-norm Gauss-Newton steps on the free coordinates until ``|f| <= tol / 2``."""
    for _ in range(POLISH_STEPS):
        f = row.f(x)
        if not np.all(np.isfinite(f)) or np.all(np.abs(f) <= 0.5 * tol):
            break
        free = (x > lo) & (x < hi)
        if not np.any(free):
            break
        step = np.linalg.lstsq(row.jac(x)[:, free], -f, rcond=None)[0]
        x = x.copy()
        x[free] = np.clip(x[free] + step, lo[free], hi[free])
    return x


def least_distance(a: NDArray[np.float64], c: NDArray[np.float64], ref: NDArray[np.float64], lo: NDArray[np.float64],
                   hi: NDArray[np.float64], iters: int = 60) -> NDArray[np.float64]:
    """``argmin ||x - ref||`` subject to ``a x = c`` and ``lo <= x <= hi`` (the last iterate if infeasible).

    The dual: ``x(lam) = clip(ref + a^T lam)``, and ``a x(lam) = c`` is
    solved for ``lam`` (``m`` numbers) by a semismooth Newton method with
    the free coordinates' ``a_F a_F^T`` and step halving.
    """
    lam = np.zeros(a.shape[0])
    x = np.clip(ref, lo, hi)
    resid = a @ x - c
    scale = 1e-13 * (1.0 + np.abs(c))
    for _ in range(iters):
        if np.all(np.abs(resid) <= scale):
            break
        v = ref + a.T @ lam
        free = (v > lo) & (v < hi)
        step = np.linalg.lstsq(a[:, free] @ a[:, free].T, -resid, rcond=None)[0] if np.any(free) else -resid
        t, norm = 1.0, float(np.linalg.norm(resid))
        while True:
            trial = lam + t * step
            x_t = np.clip(ref + a.T @ trial, lo, hi)
            r_t = a @ x_t - c
            if float(np.linalg.norm(r_t)) < norm or t < 1e-6:
                break
            t *= 0.5
        lam, x, resid = trial, x_t, r_t
    return x


def _projection(row: _Row, ref: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64],
                tol: NDArray[np.float64], max_iter: int) -> tuple[NDArray[np.float64], int]:
    """SQP with the identity as Hessian: each step is the box-bounded point nearest to ``ref`` on the linearised preimage.

    A fixed point is feasible and ``x - ref = J^T lam`` plus bound
    multipliers: exactly the KKT conditions of the nearest-member problem.
    Steps are halved until the constraint violation or the distance improves.
    """
    x = np.clip(ref, lo, hi)
    for it in range(1, max_iter + 1):
        f, jac = row.f(x), row.jac(x)
        target = least_distance(jac, jac @ x - f, ref, lo, hi)
        step = target - x
        viol, dist = float(np.max(np.abs(f))), float(np.linalg.norm(x - ref))
        t = 1.0
        while t > 1e-4:
            trial = x + t * step
            f_t = row.f(trial)
            if np.max(np.abs(f_t)) < viol or (np.all(np.abs(f_t) <= tol) and np.linalg.norm(trial - ref) <= dist):
                break
            t *= 0.5
        x = trial
        if np.all(np.abs(row.f(x)) <= 0.5 * tol) and np.linalg.norm(t * step) <= 1e-10 * (1.0 + np.linalg.norm(x)):
            return x, it
    return x, max_iter


def _slsqp(row: _Row, ref: NDArray[np.float64], start: NDArray[np.float64], box: Bounds | None,
           max_iter: int) -> tuple[NDArray[np.float64], int]:
    # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
    from scipy.optimize import minimize

    res = minimize(lambda x: (0.5 * float(np.dot(x - ref, x - ref)), x - ref), start, jac=True, method="SLSQP",
                   bounds=box, constraints=[{"type": "eq", "fun": row.f, "jac": row.jac}],
                   options={"maxiter": max_iter, "ftol": 1e-14})
    return np.asarray(res.x, dtype=np.float64), int(res.nit)


def _feasible_start(row: _Row, start: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64],
                    tol: NDArray[np.float64], max_iter: int) -> tuple[NDArray[np.float64], int]:
    from scipy.optimize import least_squares

    feas = least_squares(row.f, start, jac=row.jac, bounds=(lo, hi), xtol=1e-15, ftol=1e-15, gtol=1e-15,
                         max_nfev=50 * max_iter)
    return _polish(row, feas.x, lo, hi, tol), int(feas.nfev)


#: how each search starts, from ``(row, ref, lo, hi, tol, max_iter)``: x_ref itself, a few projection steps
#: (they move along the preimage, often into another basin), a feasible point (for when both stall)
_STARTS = (
    lambda row, ref, lo, hi, tol, n: (np.clip(ref, lo, hi), 0),
    lambda row, ref, lo, hi, tol, n: _projection(row, ref, lo, hi, tol, PROJECTION_STEPS),
    lambda row, ref, lo, hi, tol, n: _feasible_start(row, np.clip(ref, lo, hi), lo, hi, tol, n),
)


def nearest_row(model: Any, y: NDArray[np.float64], ref: NDArray[np.float64], lo: NDArray[np.float64],
                hi: NDArray[np.float64], tol: NDArray[np.float64], max_iter: int) -> tuple[NDArray[np.float64], int, int]:
    """One target: ``(x, n_iter, nfev)``; ``tol`` (n_out,) is the allowed ``|model(x) - y|``.

    SLSQP from the first two starts of :data:`_STARTS` (from the third only
    when neither ends on the preimage); the nearest answer on the preimage wins.
    """
    from scipy.optimize import Bounds

    row = _Row(model, y)
    box = Bounds(lo, hi) if np.any(np.isfinite(lo)) or np.any(np.isfinite(hi)) else None
    best, best_key, n_iter = np.clip(ref, lo, hi), (True, np.inf), 0
    for i, make_start in enumerate(_STARTS):
        if i == len(_STARTS) - 1 and not best_key[0]:
            break
        start, used = make_start(row, ref, lo, hi, tol, max_iter)
        x, more = _slsqp(row, ref, start, box, max_iter)
        x = _polish(row, np.clip(x, lo, hi), lo, hi, tol)
        n_iter += used + more
        key = (not bool(np.all(np.abs(row.f(x)) <= tol)), float(np.linalg.norm(x - ref)))
        if key < best_key:
            best, best_key = x, key
    return best, n_iter, row.nfev


@dataclass(frozen=True)
class NearestSolver(AbstractSolver):
    """The input nearest to ``reference`` that gives the target (SLSQP + Gauss-Newton polish).

    Parameters
    ----------
    reference : ndarray, shape (n_in,) or (N, n_in), optional
        The point(s) to stay near; None: the origin (the minimum-norm member).
    """

    name: ClassVar[str] = "nearest"
    supports_bounds: ClassVar[bool] = True
    default_max_iter: ClassVar[int | None] = 500
    #: one block: a per-target reference must stay aligned with its row
    block_size: ClassVar[int] = 1 << 62
    additive_stats: ClassVar[tuple[str, ...]] = ("nfev",)

    reference: Any = field(default=None, compare=False)

    def _references(self, problem: Problem) -> NDArray[np.float64]:
        n, n_in = problem.n_targets, problem.model.n_in
        if self.reference is None:
            return np.zeros((n, n_in))
        ref = np.asarray(self.reference, dtype=np.float64)
        if ref.shape == (n_in,):
            return np.broadcast_to(ref, (n, n_in))
        if ref.shape == (n, n_in):
            return ref
        raise ShapeError(f"x_ref must have shape ({n_in},) or ({n}, {n_in}) to match the model input and the "
                         f"targets; got shape {ref.shape}")

    def check_capabilities(self, problem: Problem) -> None:
        super().check_capabilities(problem)
        self._references(problem)

    def solve_block(self, problem: Problem) -> BlockResult:
        n_in = problem.model.n_in
        refs = self._references(problem)
        lo = np.full(n_in, -np.inf) if problem.lower is None else np.asarray(problem.lower)
        hi = np.full(n_in, np.inf) if problem.upper is None else np.asarray(problem.upper)
        limit = self.default_max_iter if problem.max_iter is None else int(problem.max_iter)
        assert limit is not None
        # The per-target problems are tiny: BLAS threads only add synchronisation (SLSQP ran 9-14x slower
        # with OpenBLAS's default threads on a busy 2-core machine).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._rows(problem, refs, lo, hi, limit)

    def _rows(self, problem: Problem, refs: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64],
              limit: int) -> BlockResult:
        n, n_in = problem.n_targets, problem.model.n_in
        assert problem.unit_tol is not None
        xs = np.full((n, n_in), np.nan)
        codes = np.full(n, Status.NOT_RUN, dtype=np.int8)
        iters = np.zeros(n, dtype=np.int64)
        nfev = 0
        for t in range(n):
            x, iters[t], calls = nearest_row(problem.model, problem.y[t], refs[t], lo, hi, problem.unit_tol[t],
                                             limit)
            xs[t], nfev = x, nfev + calls
            resid = np.abs(problem.model.forward(x) - problem.y[t])
            codes[t] = Status.CONVERGED if np.all(resid <= problem.unit_tol[t]) else Status.STALLED
        return BlockResult(x=xs, status=codes, n_iter=iters, method=self.name, stats={"nfev": nfev})


def nearest_solver(method: object, x_ref: Any, x0: Any, options: dict[str, object]) -> NearestSolver:
    """The solver ``reconstruct(..., x_ref=...)`` runs, after checking that nothing contradicts it."""
    from ..errors import InvalidParameterError
    from ..validation import as_real_array

    if not (isinstance(method, str) and method in ("auto", "nearest")):
        raise InvalidParameterError(f"x_ref selects the nearest-member search; method must be 'auto' (or "
                                    f"'nearest', or 'milp', which has its own) with it; got {method!r}")
    if x0 is not None:
        raise InvalidParameterError("x0 cannot be combined with x_ref: the nearest-member search starts at x_ref "
                                    "(moved into the bounds)")
    if options:
        raise InvalidParameterError(f"unknown option(s) {sorted(options)} for the nearest-member search (x_ref); "
                                    f"it takes bounds, tol, rtol and max_iter")
    return NearestSolver(reference=as_real_array(x_ref, "x_ref"))
