"""Deciding one target: a fixed-pattern LP where a local point suggests one, else the big-M MILP.

Every witness leaves here *polished* (a few Newton steps on the affine piece
its activation pattern selects, so the output matches to rounding, not to
HiGHS's feasibility tolerance) and is re-checked by the caller's forward pass.
A target is called infeasible only when HiGHS proves the MILP infeasible with
an output band at least :data:`PROOF_BAND` wide: no input in the box comes
that close, so none comes within the (smaller) tolerance either.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.milp.search import Searcher
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [2.0]])])
>>> s = Searcher.build(m, np.array([-1.0]), np.array([2.0]))
>>> v = s.decide(np.array([2.0]), np.array([1e-9]), time_limit=5.0)
>>> v.status.name, v.x.round(6).tolist()
('CONVERGED', [-1.0])
>>> s.decide(np.array([-1.0]), np.array([1e-9]), time_limit=5.0).status.name
'INFEASIBLE'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..models import Sequential
from ..status import Status
from .distance import with_distance
from .formulation import MILPModel, build_model, hinge_bounds
from .tighten import Tightened, tighten_for_target
from .network import PLNetwork

__all__ = ["Searcher", "Verdict", "PROOF_BAND", "polish", "pattern_lp", "infeasible_verdict"]

Float64Array = NDArray[np.float64]

#: the output band of the MILP is at least this wide: above HiGHS's feasibility tolerance (1e-7)
PROOF_BAND = 1e-6
#: scipy.optimize.milp / linprog result codes ("solved", "proved infeasible"); scipy's, not symrecon's Status
SCIPY_SOLVED, SCIPY_INFEASIBLE = 0, 2
#: Newton steps on the affine piece when polishing a witness
_POLISH_STEPS = 4
#: a hinge this close (relative) to its breakpoint may be on either side of it
_KINK = 1e-6
#: the most of a target's time the target-aware bound tightening (LPs) may take before the MILP
TIGHTEN_SHARE = 0.3
#: the most passes of the target-aware bound tightening (it stops earlier when a pass gains little); measured on
#: the OMLT benchmark's 8 -> 32 -> 8 net, proofs came after 1 to 5 passes
TIGHTEN_ROUNDS = 8
#: tighten only MILPs with at most this many unstable hinges: measured on the OMLT benchmark, 2 x 32 LPs proved
#: every unreachable 8 -> 32 -> 8 target, while on 8 -> 64 -> 64 -> 8 and 16 -> 128 -> 128 -> 16 the LPs
#: (15+ ms each) made no unit one-signed and only took time from the MILP
TIGHTEN_MAX_HINGES = 64


@dataclass(frozen=True)
class Verdict:
    """What was decided for one target: ``x`` (NaN unless a witness), its status, and how."""

    x: Float64Array
    status: Status
    stage: str
    certificate: str = ""


def _near_kink_patterns(net: PLNetwork, x: Float64Array) -> list[list[NDArray[np.bool_]]]:
    """The pattern at ``x`` with every hinge within rounding of its breakpoint turned on, and turned off."""
    zs = net.pre_activations(x[None])
    on, off = [], []
    for layer, z in zip(net.layers, zs):
        t = np.asarray(layer.hinges.breaks, dtype=np.float64)[:, None]
        near = np.abs(z[0][None, :] - t) <= _KINK * (1.0 + np.abs(t))
        on.append((z[0][None, :] > t) | near)
        off.append((z[0][None, :] > t) & ~near)
    return [on, off]


def polish(net: PLNetwork, x: Float64Array, y: Float64Array, lower: Float64Array, upper: Float64Array,
           pattern: list[NDArray[np.bool_]] | None = None) -> Float64Array:
    """Newton steps ``x += pinv(J) (y - net(x))`` on an affine piece, kept in the box.

    The MILP and LP solvers meet the output band only to their feasibility
    tolerance; on the piece their point lies on the network is affine and a
    minimum-norm correction removes the rest.  At a kink the forward pass may
    pick a neighbouring piece of lower rank, so the first step also tries
    ``pattern`` (e.g. the MILP's binaries) and the pattern with the hinges at
    their breakpoints turned on or off; the best point wins.
    """
    best, best_r = x, np.max(np.abs(net.forward(x[None])[0] - y))
    first = ([] if pattern is None else [pattern]) + [net.pattern(x)] + _near_kink_patterns(net, x)
    for k in range(_POLISH_STEPS):
        improved = False
        for pat in (first if k == 0 else [net.pattern(best)]):
            _, A, c = net.affine_pieces(pat)
            step = np.linalg.lstsq(A.T, y - (best @ A + c), rcond=None)[0]
            cand = np.clip(best + step, lower, upper)
            r = np.max(np.abs(net.forward(cand[None])[0] - y))
            if r < best_r:
                best, best_r, improved = cand, r, True
        if not improved:
            break
    return best


def milp_pattern(M: MILPModel, net: PLNetwork, v: Float64Array) -> list[NDArray[np.bool_]]:
    """The hinge pattern the MILP's binaries ``d`` select (per layer, (n_hinges, n_l))."""
    found = iter(M.binaries)
    out = []
    for layer in net.layers:
        if layer.n_hinges:
            where, k, n = next(found)
            out.append(v[where].reshape(k, n) > 0.5)
        else:
            out.append(np.zeros((0, layer.n_out), dtype=bool))
    return out


def pattern_lp(net: PLNetwork, pattern: list[NDArray[np.bool_]], y: Float64Array, eps: Float64Array,
               lower: Float64Array, upper: Float64Array) -> Float64Array | None:
    """An input in the box with this activation pattern and ``|out - y| <= eps``, or None (an LP)."""
    # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
    from scipy.optimize import linprog

    pre, A, c = net.affine_pieces(pattern)
    rows, rhs = [A.T, -A.T], [y + eps - c, -(y - eps - c)]
    for layer, (Al, cl), on in zip(net.layers, pre, pattern):
        for j, t in enumerate(layer.hinges.breaks):
            sign = np.where(on[j], -1.0, 1.0)       # on: z >= t; off: z <= t
            rows.append(sign[:, None] * Al.T)
            rhs.append(sign * (t - cl))
    res = linprog(np.zeros(net.n_in), A_ub=np.vstack(rows), b_ub=np.concatenate(rhs),
                  bounds=np.column_stack([lower, upper]), method="highs")
    return res.x if res.status == SCIPY_SOLVED else None


@dataclass(frozen=True)
class Searcher:
    """The MILP of one network over one box, reused for every target of a block."""

    model: Sequential
    net: PLNetwork
    milp_model: MILPModel
    lower: Float64Array
    upper: Float64Array
    #: interval bounds of every pre-activation over the box (tightened per target before the MILP)
    zbounds: list[tuple[Float64Array, Float64Array]] = field(default_factory=list)

    @classmethod
    def build(cls, model: Sequential, lower: Float64Array, upper: Float64Array) -> "Searcher":
        """Bounds by interval propagation, then the big-M model."""
        net = PLNetwork.from_model(model)
        zb = hinge_bounds(model, lower, upper)
        return cls(model, net, build_model(net, zb, lower, upper), lower, upper, zb)

    def _residual(self, x: Float64Array, y: Float64Array) -> Float64Array:
        return np.abs(self.net.forward(x[None])[0] - y)

    def from_pattern(self, x: Float64Array, y: Float64Array, unit_tol: Float64Array) -> Float64Array | None:
        """A witness on the activation pattern of the point ``x`` (a local answer), or None."""
        eps = np.maximum(0.5 * unit_tol, 0.0)
        if np.all(self._residual(x, y) <= eps):
            return x
        found = pattern_lp(self.net, self.net.pattern(x), y, np.maximum(eps, PROOF_BAND), self.lower, self.upper)
        if found is None:
            return None
        found = polish(self.net, found, y, self.lower, self.upper)
        return found if np.all(self._residual(found, y) <= eps) else None

    @property
    def tightens(self) -> bool:
        """Whether :meth:`prove` runs: the MILP is small enough for per-target LP bound tightening to pay."""
        return bool(self.zbounds) and int(self.milp_model.integrality.sum()) <= TIGHTEN_MAX_HINGES

    def prove(self, y: Float64Array, unit_tol: Float64Array, time_limit: float) -> Tightened | None:
        """Target-aware bound tightening (:mod:`.tighten`), or None when the MILP is too big for it to pay.

        ``infeasible`` in the result is a proof that no input in the box
        meets ``y`` within ``unit_tol``; otherwise its bounds are what
        :meth:`decide` builds the MILP from.
        """
        if not self.tightens:
            return None
        return tighten_for_target(self.net, self.zbounds, self.lower, self.upper, y, np.maximum(unit_tol, PROOF_BAND),
                                  rounds=TIGHTEN_ROUNDS, time_limit=time_limit)

    def decide(self, y: Float64Array, unit_tol: Float64Array, time_limit: float, x_ref: Float64Array | None = None,
               norm: str | None = None, tightened: Tightened | None = None) -> Verdict:
        """Solve the MILP for target ``y`` (n_out,) within ``time_limit`` seconds.

        With ``x_ref`` and ``norm`` (``"l1"`` or ``"linf"``, see
        :mod:`symrecon.milp.distance`) the witness is the input nearest to
        ``x_ref`` (optimal when the status is ``CONVERGED`` and the stage
        ``"milp"``; the best found when the time ran out).  ``tightened``: the
        result of :meth:`prove` for this target when already run.
        """
        from scipy.optimize import Bounds, LinearConstraint, milp

        t0 = time.perf_counter()
        band = np.maximum(unit_tol, PROOF_BAND)
        M = self.milp_model
        tight = tightened if tightened is not None else self.prove(y, unit_tol, TIGHTEN_SHARE * time_limit)
        if tight is not None:
            if tight.infeasible:
                return infeasible_verdict(tight, band, time.perf_counter() - t0, M.n_in)
            M = build_model(self.net, tight.zbounds, self.lower, self.upper)
            time_limit -= time.perf_counter() - t0
        lo, hi = M.for_target(y, band)
        c, A, lb, ub, integrality = np.zeros(M.n_vars), M.A, M.lb, M.ub, M.integrality
        if x_ref is not None and norm is not None:
            c, A, lo, hi, lb, ub, integrality = with_distance(A, lo, hi, lb, ub, integrality, x_ref, norm)
        constraints, bounds = LinearConstraint(A, lo, hi), Bounds(lb, ub)
        res = milp(c, integrality=integrality, bounds=bounds, constraints=constraints,
                   options={"time_limit": max(time_limit, 1e-3), "disp": False})
        nan = np.full(M.n_in, np.nan)
        if res.status == SCIPY_INFEASIBLE:
            return Verdict(nan, Status.INFEASIBLE, "milp", _certificate(M, band, time.perf_counter() - t0))
        if res.x is None:
            return Verdict(nan, Status.UNDECIDED, "milp")
        x = polish(self.net, np.asarray(res.x[: M.n_in]), y, self.lower, self.upper, milp_pattern(M, self.net, res.x))
        ok = bool(np.all(self._residual(x, y) <= unit_tol))
        if not ok:
            fixed = self.from_pattern(x, y, unit_tol)
            x, ok = (x, False) if fixed is None else (fixed, True)
        return Verdict(x, Status.CONVERGED if ok else Status.INACCURATE, "milp")


def infeasible_verdict(tight: Tightened, band: Float64Array, seconds: float, n_in: int) -> Verdict:
    """The verdict of a target that bound tightening proved unreachable, with its certificate."""
    return Verdict(np.full(n_in, np.nan), Status.INFEASIBLE, "milp",
                   f"{tight.certificate} ({tight.n_lps} LPs, {seconds:.3g} s): no input in the box brings every "
                   f"output unit within {float(np.min(band)):.3g} of the target")


def _certificate(M: MILPModel, band: Float64Array, seconds: float) -> str:
    live = int(M.integrality.sum())
    return (f"HiGHS proved the big-M MILP infeasible in {seconds:.3g} s ({live} unstable hinge(s) branched on, "
            f"bounds by interval propagation, tightened by LPs with the target): no input in the box brings every "
            f"output unit within {float(np.min(band)):.3g} of the target")
