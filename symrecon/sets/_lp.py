"""Linear programs and the Euclidean projection behind :class:`~symrecon.sets.Polyhedron`.

* :func:`min_violation` — the phase-1 LP ``min t`` s.t. every constraint holds up to a
  distance ``t``: ``t* = 0`` gives a member, ``t* > 0`` proves the set empty and its
  dual values are the Farkas multipliers (the certificate).
* :func:`project` — the nearest member: a primal active-set method (exact, one small
  least-squares solve per step) checked against the KKT conditions, with scipy's SLSQP as
  the fallback for degenerate cycling.
* :func:`interior_point` and :func:`hit_and_run` — members for sampling.

Constraints are ``A x <= c`` and ``E x = d`` with rows scaled to unit norm, so that
violations and tolerances are distances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Constraints", "min_violation", "project", "interior_point", "hit_and_run", "EMPTY_TOL"]

#: a phase-1 optimum above this distance proves emptiness (HiGHS' feasibility tolerance is 1e-7 on rows
#: of unit norm; we stay far above it so that round-off never reads as a proof)
EMPTY_TOL = 1e-6


@dataclass(frozen=True)
class Constraints:
    """``A x <= c``, ``E x = d`` with unit-norm rows (zero rows kept as they are)."""

    A: NDArray[np.float64]
    c: NDArray[np.float64]
    E: NDArray[np.float64]
    d: NDArray[np.float64]

    @classmethod
    def scaled(cls, A, c, E, d) -> "Constraints":
        def unit(M, v):
            norms = np.linalg.norm(M, axis=1)
            norms = np.where(norms > 0, norms, 1.0)
            return M / norms[:, None], v / norms

        return cls(*unit(A, c), *unit(E, d))

    @property
    def n(self) -> int:
        return int(self.A.shape[1])

    def violation(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """The largest violation distance of each row (N,)."""
        v = np.zeros(rows.shape[0])
        if self.A.shape[0]:
            v = np.maximum(v, np.max(rows @ self.A.T - self.c, axis=1))
        if self.E.shape[0]:
            v = np.maximum(v, np.max(np.abs(rows @ self.E.T - self.d), axis=1))
        return v


@dataclass(frozen=True)
class Phase1:
    """Result of the phase-1 LP: the least violation, a point attaining it and the dual multipliers."""

    violation: float
    x: NDArray[np.float64]
    multipliers_A: NDArray[np.float64]
    multipliers_E: NDArray[np.float64]


def min_violation(cons: Constraints) -> Phase1:
    """``min t`` s.t. ``A x - t <= c``, ``|E x - d| <= t``, ``t >= 0`` (HiGHS; always solvable)."""
    # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
    from scipy.optimize import linprog

    n, m, p = cons.n, cons.A.shape[0], cons.E.shape[0]
    if m == 0 and p == 0:
        return Phase1(0.0, np.zeros(n), np.zeros(0), np.zeros(0))
    A_ub = np.vstack([np.hstack([cons.A, -np.ones((m, 1))]),
                      np.hstack([cons.E, -np.ones((p, 1))]),
                      np.hstack([-cons.E, -np.ones((p, 1))])])
    b_ub = np.concatenate([cons.c, cons.d, -cons.d])
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=[(None, None)] * n + [(0, None)], method="highs")
    if not res.success:  # pragma: no cover - the phase-1 LP is feasible and bounded by construction
        raise RuntimeError(f"phase-1 LP failed: {res.message}")
    duals = -np.asarray(res.ineqlin.marginals)
    return Phase1(float(res.x[-1]), np.asarray(res.x[:n]), duals[:m], duals[m:m + p] - duals[m + p:])


def project(cons: Constraints, x_ref: NDArray[np.float64], start: NDArray[np.float64]) -> NDArray[np.float64]:
    """The member of the (non-empty) set nearest to ``x_ref``; ``start`` is a member."""
    if cons.violation(x_ref[None])[0] <= 0:
        return x_ref.copy()
    x = _active_set(cons, x_ref, start)
    if x is not None:
        return x
    return _slsqp(cons, x_ref, start)  # pragma: no cover - only on degenerate cycling


def _active_set(cons: Constraints, x_ref, x, max_steps: int | None = None):
    """Primal active-set method for ``min ½|x - x_ref|²``; None when it does not finish."""
    A, c = cons.A, cons.c
    working: list[int] = []
    max_steps = max_steps or 20 * (A.shape[0] + cons.n + 1)
    x = x.copy()
    for _ in range(max_steps):
        M = np.vstack([A[working], cons.E])
        g = x_ref - x
        lam = np.linalg.lstsq(M.T, g, rcond=None)[0] if M.shape[0] else np.zeros(0)
        step = g - M.T @ lam if M.shape[0] else g
        if np.linalg.norm(step) <= 1e-12 * (1.0 + np.linalg.norm(x)):
            ineq = lam[:len(working)]
            if not len(ineq) or ineq.min() >= -1e-10:
                return x
            working.pop(int(np.argmin(ineq)))
            continue
        alpha, blocking = 1.0, -1
        rate = A @ step
        for i in np.flatnonzero(rate > 1e-14):
            if i in working:
                continue
            t = max((c[i] - A[i] @ x) / rate[i], 0.0)
            if t < alpha:
                alpha, blocking = t, int(i)
        x = x + alpha * step
        if blocking >= 0:
            working.append(blocking)
    return None  # pragma: no cover


def _slsqp(cons: Constraints, x_ref, start):  # pragma: no cover - fallback
    from scipy.optimize import minimize

    constraints = []
    if cons.A.shape[0]:
        constraints.append({"type": "ineq", "fun": lambda x: cons.c - cons.A @ x, "jac": lambda x: -cons.A})
    if cons.E.shape[0]:
        constraints.append({"type": "eq", "fun": lambda x: cons.E @ x - cons.d, "jac": lambda x: cons.E})
    res = minimize(lambda x: 0.5 * np.sum((x - x_ref) ** 2), start, jac=lambda x: x - x_ref,
                   constraints=constraints, method="SLSQP", options={"ftol": 1e-14, "maxiter": 1000})
    return np.asarray(res.x)


def interior_point(cons: Constraints, centre: NDArray[np.float64], radius: float):
    """The Chebyshev centre of the set within the box ``centre ± radius`` (a member), and its depth."""
    from scipy.optimize import linprog

    n, m, p = cons.n, cons.A.shape[0], cons.E.shape[0]
    A_ub = np.vstack([np.hstack([cons.A, np.ones((m, 1))]),
                      np.hstack([np.eye(n), np.ones((n, 1))]),
                      np.hstack([-np.eye(n), np.ones((n, 1))])])
    b_ub = np.concatenate([cons.c, centre + radius, radius - centre])
    A_eq = np.hstack([cons.E, np.zeros((p, 1))]) if p else None
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=cons.d if p else None,
                  bounds=[(None, None)] * n + [(0, None)], method="highs")
    if not res.success:
        return None, 0.0
    return np.asarray(res.x[:n]), float(res.x[-1])


def hit_and_run(cons: Constraints, start, centre, radius: float, k: int, rng: np.random.Generator, thin: int = 5):
    """``k`` members by hit-and-run inside the set ∩ box ``centre ± radius``, moving within ``null(E)``."""
    n = cons.n
    if cons.E.shape[0]:
        _, s, vt = np.linalg.svd(cons.E)
        rank = int(np.sum(s > 1e-10))
        free = vt[rank:].T
    else:
        free = np.eye(n)
    A = np.vstack([cons.A, np.eye(n), -np.eye(n)])
    c = np.concatenate([cons.c, centre + radius, radius - centre])
    x = start.copy()
    out = np.empty((k, n))
    for i in range(k):
        for _ in range(thin):
            if free.shape[1] == 0:
                break
            u = free @ rng.normal(size=free.shape[1])
            u /= np.linalg.norm(u)
            rate, slack = A @ u, c - A @ x
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = slack / rate
            hi = np.min(ratios[rate > 1e-14], initial=np.inf)
            lo = np.max(ratios[rate < -1e-14], initial=-np.inf)
            # x is a member, so lo <= 0 <= hi up to round-off; the box keeps both finite
            x = x + rng.uniform(min(lo, 0.0), max(hi, 0.0)) * u
        out[i] = x
    return out
