""":class:`LocalRegion`: a shut-down region known only through forward passes and a local solver (not exact).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[1.0, 0.0], [0.0, 1.0]], activation="tanh"),
...                    sr.Dense([[1.0], [1.0]], activation="sigmoid", name="out")])
>>> r = sr.shutdown_region(m, "out", 0, threshold=0.25, bounds=(-3.0, 3.0))
>>> r.exact, r.kind, bool(m(r.nearest([1.0, 1.0]))[0] <= 0.25 + 1e-9)
(False, 'local', True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backends import numpy_ref
from .errors import CapabilityError
from .sets import DEFAULT_RADIUS, SolutionSet
from .sets._base import latex_number

__all__ = ["LocalRegion"]

#: rejection sampling draws this many candidates per round, for at most this many rounds
_DRAWS, _ROUNDS = 4096, 25


class LocalRegion(SolutionSet):
    """``{x : z_lo <= w . h(x) + b <= z_hi}`` (∩ the box) for a non-linear ``h`` (the layers before the unit).

    Membership is a forward pass (exact up to round-off); :meth:`nearest` is a
    local solver (SLSQP) and may miss a nearer member: ``exact`` is False and
    ``kind`` is ``"local"``.

    Parameters
    ----------
    prefix : Sequential
        The layers before the unit's layer.
    w : ndarray, shape (width,)
    b : float
        The unit's weights and bias: ``z = h(x) @ w + b``.
    off : OffInterval
        From :func:`symrecon.shutdown.off_interval`.
    lower, upper : ndarray, shape (n,), or None
    label : str
    """

    exact = False
    kind = "local"

    def __init__(self, prefix, w, b: float, off, lower=None, upper=None, *, label: str = ""):
        self.prefix, self.w, self.b, self.off = prefix, np.asarray(w, dtype=np.float64), float(b), off
        self.lower, self.upper, self.description = lower, upper, label
        self.derivation = tuple(off.steps)

    @property
    def n(self) -> int:
        return int(self.prefix.n_in)

    def z(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """The unit's pre-activation for rows ``(N, n)``."""
        return np.asarray(self.prefix(rows)) @ self.w + self.b

    def _gap(self, rows, tol):
        z = self.z(rows)
        ok = (z <= self.off.z_hi + tol) & (z >= self.off.z_lo - tol)
        if self.lower is not None:
            ok &= np.all((rows >= self.lower - tol) & (rows <= self.upper + tol), axis=1)
        return ok

    def _contains_rows(self, rows, tol):
        return self._gap(rows, tol)

    def latex(self) -> str:
        l = len(self.prefix.layers) + 1
        z = rf"w^\top a^{{({l - 1})}}(x) + b"
        lo = "" if not np.isfinite(self.off.z_lo) else rf"{latex_number(self.off.z_lo)} \le "
        hi = "" if not np.isfinite(self.off.z_hi) else rf" \le {latex_number(self.off.z_hi)}"
        return f"{lo}{z}{hi}"

    def _constraints(self):
        def grad(x):
            _, J = numpy_ref.jacobian(self.prefix, x[None])
            return self.w @ J[0]

        out = []
        if np.isfinite(self.off.z_hi):
            out.append({"type": "ineq", "fun": lambda x: self.off.z_hi - self.z(x[None])[0], "jac": lambda x: -grad(x)})
        if np.isfinite(self.off.z_lo):
            out.append({"type": "ineq", "fun": lambda x: self.z(x[None])[0] - self.off.z_lo, "jac": grad})
        return out

    def _nearest_one(self, x_ref, starts) -> NDArray[np.float64] | None:
        # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
        from scipy.optimize import minimize

        if self._gap(x_ref[None], 0.0)[0]:
            return x_ref.copy()
        box = None if self.lower is None else list(zip(self.lower, self.upper))
        best = None
        for x0 in starts:
            res = minimize(lambda x: 0.5 * np.sum((x - x_ref) ** 2), x0, jac=lambda x: x - x_ref, bounds=box,
                           constraints=self._constraints(), method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
            x = np.asarray(res.x)
            if self._gap(x[None], 1e-8)[0] and (best is None or np.sum((x - x_ref) ** 2) < np.sum((best - x_ref) ** 2)):
                best = x
        return best

    def _nearest_rows(self, rows):
        out = np.empty_like(rows)
        rng = np.random.default_rng(0)
        for i, x_ref in enumerate(rows):
            starts = [x_ref] + list(self._draw(4, rng))
            x = self._nearest_one(x_ref, starts)
            if x is None:
                raise CapabilityError(f"the local solver found no input switching {self.description or 'the unit'} "
                                      f"off near row {i} of x_ref (not a proof that none exists: this region is "
                                      f"not exact); try other bounds or another x_ref")
            out[i] = x
        return out

    def _draw(self, k: int, rng: np.random.Generator) -> NDArray[np.float64]:
        if self.lower is not None and np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper)):
            return rng.uniform(self.lower, self.upper, size=(k, self.n))
        return rng.uniform(-DEFAULT_RADIUS, DEFAULT_RADIUS, size=(k, self.n))

    def _sample_rows(self, k: int, rng: Any):
        found: list[NDArray[np.float64]] = []
        for _ in range(_ROUNDS):
            draws = self._draw(_DRAWS, rng)
            found.extend(draws[self._gap(draws, 0.0)])
            if len(found) >= k:
                return np.array(found[:k])
        # a thin region: project random draws onto it with the local solver
        extra = self._nearest_rows(self._draw(k - len(found), rng))
        return np.vstack([np.array(found).reshape(-1, self.n), extra])

    def __repr__(self) -> str:
        return f"<LocalRegion {self.description!r}: n={self.n}, exact=False>"
