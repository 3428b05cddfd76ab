"""Sets of inputs, as values: what a target's preimage is when it is more than a point.

Examples
--------
>>> import numpy as np
>>> from symrecon.sets import AffineSet
>>> s = AffineSet(point=np.array([1.0, 0.0]), null_basis=np.array([[0.0], [1.0]]))
>>> s.dimension, s.sample(np.array([2.0])).tolist()
(1, [1.0, 2.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["AffineSet"]


@dataclass(frozen=True)
class AffineSet:
    """The set ``{point + null_basis @ t}`` of inputs that all give the same output.

    Attributes
    ----------
    point : ndarray, shape (n_in,) or (N, n_in)
        The minimum-norm member (one per target for a batch).
    null_basis : ndarray, shape (n_in, k)
        Orthonormal basis of the directions that do not change the output.
    """

    point: NDArray[np.float64]
    null_basis: NDArray[np.float64]

    @property
    def dimension(self) -> int:
        """``k``, the number of free directions."""
        return int(self.null_basis.shape[1])

    def sample(self, t: ArrayLike) -> NDArray[np.float64]:
        """``point + null_basis @ t`` for ``t`` of shape ``(k,)`` (or ``(N, k)`` for a batch)."""
        return self.point + np.asarray(t, dtype=np.float64) @ self.null_basis.T


# --- interim sets (recurrent helper): replaced by the full sets module at merge ---
class EmptySet:
    """No input at all; ``certificate`` says why (interim: the full sets module replaces this).

    Examples
    --------
    >>> from symrecon.sets import EmptySet
    >>> EmptySet(2, "w = 0 and b > 0").contains([0.0, 0.0])
    False
    """

    def __init__(self, n: int, certificate: str, *, data=None):
        self.n, self.certificate, self.data = int(n), str(certificate), dict(data or {})

    is_empty = True

    def contains(self, x, tol: float = 1e-9):
        arr = np.asarray(x, dtype=np.float64)
        return False if arr.ndim == 1 else np.zeros(arr.shape[0], dtype=bool)

    def sample(self, k, rng=None):
        from .errors import InvalidValueError
        raise InvalidValueError(f"cannot sample the empty set: {self.certificate}")

    def nearest(self, x_ref):
        from .errors import InfeasibleTargetError
        raise InfeasibleTargetError(f"the set is empty: {self.certificate}")

    def latex(self) -> str:
        return r"\emptyset"

    def __repr__(self) -> str:
        return f"EmptySet(n={self.n}, certificate={self.certificate!r})"


#: scipy.optimize.linprog's code for "the constraints cannot all hold"
_LINPROG_INFEASIBLE = 2


class Polyhedron:
    """``{x : A x <= c, E x = d}`` (interim: the full sets module replaces this).

    Examples
    --------
    >>> from symrecon.sets import Polyhedron
    >>> h = Polyhedron.halfspace([1.0, 1.0], 1.0)
    >>> h.contains([0.2, 0.3]), h.nearest([1.0, 1.0]).tolist()
    (True, [0.5, 0.5])
    """

    def __init__(self, A=None, c=None, E=None, d=None, *, description: str = ""):
        n = next(np.shape(m)[1] for m in (A, E) if m is not None)
        self.A = np.zeros((0, n)) if A is None else np.array(A, dtype=np.float64).reshape(-1, n)
        self.c = np.zeros(0) if c is None else np.array(c, dtype=np.float64).reshape(-1)
        self.E = np.zeros((0, n)) if E is None else np.array(E, dtype=np.float64).reshape(-1, n)
        self.d = np.zeros(0) if d is None else np.array(d, dtype=np.float64).reshape(-1)
        self.n, self.description = int(n), description

    @classmethod
    def halfspace(cls, a, c, description: str = "") -> "Polyhedron":
        return cls(np.asarray(a, dtype=np.float64)[None], [float(c)], description=description)

    @property
    def is_empty(self) -> bool:
        from scipy.optimize import linprog
        if len(self.c) + len(self.d) == 0:
            return False
        res = linprog(np.zeros(self.n), A_ub=self.A if len(self.c) else None, b_ub=self.c if len(self.c) else None,
                      A_eq=self.E if len(self.d) else None, b_eq=self.d if len(self.d) else None,
                      bounds=[(None, None)] * self.n)
        return res.status == _LINPROG_INFEASIBLE

    def intersect(self, other) -> "Polyhedron":
        return Polyhedron(np.vstack([self.A, other.A]), np.concatenate([self.c, other.c]),
                          np.vstack([self.E, other.E]), np.concatenate([self.d, other.d]),
                          description=" and ".join(s for s in (self.description, other.description) if s))

    def contains(self, x, tol: float = 1e-9):
        arr = np.asarray(x, dtype=np.float64)
        rows = np.atleast_2d(arr)
        ok = np.all(rows @ self.A.T <= self.c + tol, axis=1) & np.all(np.abs(rows @ self.E.T - self.d) <= tol, axis=1)
        return bool(ok[0]) if arr.ndim == 1 else ok

    def nearest(self, x_ref):
        arr = np.asarray(x_ref, dtype=np.float64)
        out = np.array([self._nearest_one(r) for r in np.atleast_2d(arr)])
        return out[0] if arr.ndim == 1 else out

    def _nearest_one(self, r):
        if len(self.c) == 1 and len(self.d) == 0:
            a = self.A[0]
            return r - max(0.0, float(a @ r - self.c[0])) / float(a @ a) * a
        from scipy.optimize import minimize
        cons = [{"type": "ineq", "fun": lambda x: self.c - self.A @ x, "jac": lambda x: -self.A}] if len(self.c) else []
        cons += [{"type": "eq", "fun": lambda x: self.E @ x - self.d, "jac": lambda x: self.E}] if len(self.d) else []
        res = minimize(lambda x: 0.5 * np.sum((x - r) ** 2), r, jac=lambda x: x - r, constraints=cons,
                       method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
        return res.x

    def sample(self, k, rng=None):
        rng = np.random.default_rng(rng)
        centre = self.nearest(np.zeros(self.n))
        pts = centre + rng.normal(size=(4 * int(k) + 64, self.n))
        inside = pts[self.contains(pts)]
        return inside[:k] if len(inside) >= k else np.vstack([inside, np.repeat(centre[None], k - len(inside), 0)])

    def latex(self) -> str:
        def row(a, v, rel):
            terms = " ".join(f"{'+' if w >= 0 else '-'} {abs(w):.6g} x_{{{j + 1}}}" for j, w in enumerate(a) if w)
            return f"{terms.lstrip('+ ') or '0'} {rel} {v:.6g}"
        rows = [row(a, v, r"\le") for a, v in zip(self.A, self.c)] + [row(a, v, "=") for a, v in zip(self.E, self.d)]
        return r" \\ ".join(rows) if rows else r"\mathbb{R}^{%d}" % self.n

    def __repr__(self) -> str:
        return f"Polyhedron(n={self.n}, {len(self.c)} inequalities, {len(self.d)} equations)"
__all__ += ["EmptySet", "Polyhedron"]
# --- end interim sets ---
