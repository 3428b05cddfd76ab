"""The LP relaxation of a network, re-solved many times with other objectives and tighter hinge bounds.

Bound tightening solves dozens of LPs over one relaxation that differ only in
the objective, or in one hinge's chord after its bounds were tightened.  With
``highspy`` installed (the ``milp`` extra) one HiGHS instance keeps the model
and its last basis, so a re-solve is a warm start (primal simplex from the
last optimum); without it every LP is a cold :func:`scipy.optimize.milp`
solve (SciPy's bundled HiGHS).  Same answers; the benchmark
(``benchmarks/milp_omlt.py``) prints what each costs.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.milp.network import PLNetwork
>>> from symrecon.milp.formulation import build_model, hinge_bounds
>>> from symrecon.milp.lp import RelaxedLP, LPOutcome
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]])])  # |x|
>>> lo, hi = np.array([-2.0]), np.array([2.0])
>>> M = build_model(PLNetwork.from_model(m), hinge_bounds(m, lo, hi), lo, hi, relaxed=True)
>>> lp = RelaxedLP(M, *M.for_target(np.array([1.5]), np.array([1e-6])))
>>> x = np.eye(M.n_vars)[0]
>>> outcome, value = lp.minimize(-x)             # the largest x over the relaxation with |x| = 1.5
>>> outcome.name, round(-value, 4)
('OPTIMAL', 1.5)
>>> lp.tighten_hinge(1, M.pre[0][0][0], 0.0, -2.0, -0.5)   # suppose x <= -0.5 were proved: relu(x) is off,
>>> lp.tighten_hinge(2, M.pre[0][0][1], 0.0, 0.5, 2.0)     # relu(-x) on: both exact now
>>> round(-lp.minimize(-x)[1], 4)                # and the relaxation reaches x = -1.5 only
-1.5
"""

from __future__ import annotations

import enum
import importlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import CapabilityError
from .formulation import MILPModel

try:                                    # optional (the ``milp`` extra): warm-started re-solves
    highspy: Any = importlib.import_module("highspy")
except ImportError:                     # without it every LP goes through SciPy
    highspy = None

__all__ = ["LPOutcome", "RelaxedLP", "BACKENDS", "default_backend"]

Float64Array = NDArray[np.float64]


class LPOutcome(enum.Enum):
    """What one LP solve proved: an optimum, infeasibility (a proof), or nothing usable."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    OTHER = "other"


#: scipy.optimize.milp result codes ("solved", "proved infeasible"); scipy's, not symrecon's Status
_SCIPY = {0: LPOutcome.OPTIMAL, 2: LPOutcome.INFEASIBLE}


def _raw_highs() -> Any:
    """A HiGHS instance without the banner ``highspy.Highs()`` prints to stdout once per process."""
    assert highspy is not None
    core = getattr(highspy, "_core", None)
    h = getattr(core, "_Highs", highspy.Highs)()
    h.setOptionValue("output_flag", False)
    # primal simplex: a new objective leaves the last basis primal feasible (measured ~20 % faster than dual here)
    h.setOptionValue("simplex_strategy", 4)
    return h


class _HighsLP:
    """The relaxation in one ``highspy`` instance: each solve starts from the previous basis."""

    def __init__(self, M: MILPModel, row_lo: Float64Array, row_hi: Float64Array):
        assert highspy is not None
        A = M.A.tocsc()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = M.n_vars, A.shape[0]
        lp.col_cost_ = np.zeros(M.n_vars)
        lp.col_lower_, lp.col_upper_ = M.lb.astype(np.float64), M.ub.astype(np.float64)
        lp.row_lower_, lp.row_upper_ = row_lo.astype(np.float64), row_hi.astype(np.float64)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
        self.h = _raw_highs()
        self.h.passModel(lp)
        self.lb, self.ub = M.lb.astype(np.float64).copy(), M.ub.astype(np.float64).copy()
        self.cols = np.arange(M.n_vars, dtype=np.int32)
        self.status = {highspy.HighsModelStatus.kOptimal: LPOutcome.OPTIMAL,
                       highspy.HighsModelStatus.kInfeasible: LPOutcome.INFEASIBLE}

    def solve(self, c: Float64Array) -> tuple[LPOutcome, float]:
        self.h.changeColsCost(len(self.cols), self.cols, c)
        self.h.run()
        outcome = self.status.get(self.h.getModelStatus(), LPOutcome.OTHER)
        return outcome, float(self.h.getInfo().objective_function_value) if outcome is LPOutcome.OPTIMAL else np.nan

    def set_row(self, row: int, cols: NDArray[np.int64], values: Float64Array, row_hi: float) -> None:
        for col, value in zip(cols.tolist(), values.tolist()):
            self.h.changeCoeff(row, col, value)
        self.h.changeRowBounds(row, -highspy.kHighsInf, row_hi)

    def set_upper(self, col: int, value: float) -> None:
        self.ub[col] = value
        self.h.changeColBounds(col, self.lb[col], value)


class _ScipyLP:
    """The relaxation solved from scratch each time by :func:`scipy.optimize.milp` (no integrality)."""

    def __init__(self, M: MILPModel, row_lo: Float64Array, row_hi: Float64Array):
        self.A, self.row_lo, self.row_hi = M.A.tolil(), row_lo, row_hi.copy()
        self.lb, self.ub = M.lb.astype(np.float64).copy(), M.ub.astype(np.float64).copy()

    def solve(self, c: Float64Array) -> tuple[LPOutcome, float]:
        # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
        from scipy.optimize import Bounds, LinearConstraint, milp

        res = milp(c, integrality=np.zeros(len(c)), bounds=Bounds(self.lb, self.ub),
                   constraints=LinearConstraint(self.A.tocsr(), self.row_lo, self.row_hi))
        outcome = _SCIPY.get(int(res.status), LPOutcome.OTHER)
        return outcome, float(res.fun) if outcome is LPOutcome.OPTIMAL else np.nan

    def set_row(self, row: int, cols: NDArray[np.int64], values: Float64Array, row_hi: float) -> None:
        self.A[row, cols] = values
        self.row_hi[row] = row_hi

    def set_upper(self, col: int, value: float) -> None:
        self.ub[col] = value


#: LP backend name -> its class ("highspy" only when the package is installed)
BACKENDS: dict[str, type] = {"scipy": _ScipyLP, **({"highspy": _HighsLP} if highspy is not None else {})}


def default_backend() -> str:
    """``"highspy"`` when installed (warm starts), else ``"scipy"``."""
    return "highspy" if "highspy" in BACKENDS else "scipy"


class RelaxedLP:
    """The LP relaxation ``M`` (from ``build_model(..., relaxed=True)``) with row bounds ``row_lo <= A v <= row_hi``.

    Parameters
    ----------
    M : MILPModel
    row_lo, row_hi : ndarray, shape (m,)
        Row bounds (e.g. :meth:`MILPModel.for_target`).
    backend : {"highspy", "scipy"} or None, default None
        None: :func:`default_backend`.
    """

    def __init__(self, M: MILPModel, row_lo: Float64Array, row_hi: Float64Array, backend: str | None = None):
        self.backend = backend or default_backend()
        if self.backend not in BACKENDS:
            raise CapabilityError(f"LP backend {self.backend!r} is not available; available: {', '.join(BACKENDS)} "
                                  f"('highspy' needs the highspy package: pip install 'symrecon[milp]')")
        self.n_vars = M.n_vars
        self._lp = BACKENDS[self.backend](M, row_lo, row_hi)
        self.n_solved = 0
        self._chords = M.chord_rows

    def minimize(self, c: Float64Array) -> tuple[LPOutcome, float]:
        """``min c @ v`` over the relaxation: the outcome, and the value (NaN unless optimal)."""
        self.n_solved += 1
        return self._lp.solve(np.ascontiguousarray(c, dtype=np.float64))

    def tighten_hinge(self, r_col: int, Es: Float64Array, es: float, L: float, U: float) -> None:
        """New, tighter bounds ``[L, U]`` of ``s = Es @ v + es`` for the hinge ``r = relu(s)`` in column ``r_col``.

        Relaxed models only (``build_model(..., relaxed=True)``): the hinge's
        chord row becomes ``r - k s <= -k L`` with ``k = U / (U - L)`` (``k``
        1 when ``L >= 0``: ``r = s``; 0 when ``U <= 0``: ``r = 0``) and
        ``r <= max(U, 0)``.
        """
        k = 1.0 if L >= 0.0 else 0.0 if U <= 0.0 else U / (U - L)
        cols = np.flatnonzero(Es)
        cols = cols[cols != r_col]
        self._lp.set_row(int(self._chords[r_col]), cols, -k * Es[cols], k * (es - min(L, 0.0)) if k else 0.0)
        self._lp.set_upper(r_col, max(U, 0.0))
