"""Bound tightening that uses the target: LPs over the relaxed big-M model with the output band included.

Interval propagation bounds every pre-activation over the whole box; a target
``y`` is met only by inputs whose hidden units lie in a much smaller region.
For each hidden layer in turn, each *unstable* unit (a hinge whose bounds
straddle its breakpoint) gets the minimum and the maximum of its
pre-activation over the LP relaxation of the big-M model (every unstable
hinge as its triangle, which is its big-M rows with ``d`` in ``[0, 1]``)
**with** the rows ``|out - y| <= band``.
Every true solution lies in that relaxation, so

* a relaxation LP that is infeasible proves that no input in the box meets the
  target (the certificate says which LP);
* the optimal values, widened by :data:`LP_SLACK`, are sound new bounds; units
  whose bounds become one-signed need no binary, and the MILP that is left is
  smaller and its big-M constants tighter;
* each unit's new bounds go into the LP at once (its chord), so the units
  after it are bounded over a tighter relaxation.

Passes repeat (each with the bounds of the last, so a tighter relaxation)
until one makes no unit one-signed and shrinks the unstable units' bounds by
less than :data:`MIN_GAIN`.  The LPs go through :class:`~symrecon.milp.lp.RelaxedLP`
(``highspy`` warm starts when installed).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.milp.network import PLNetwork
>>> from symrecon.milp.formulation import hinge_bounds
>>> from symrecon.milp.tighten import tighten_for_target
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]])])
>>> lo, hi = np.array([-2.0]), np.array([2.0])
>>> t = tighten_for_target(PLNetwork.from_model(m), hinge_bounds(m, lo, hi), lo, hi, np.array([1.5]), np.array([1e-6]))
>>> t.infeasible, [round(float(b), 3) for b in t.zbounds[0][0]]    # y = |x| = 1.5: x = +-1.5, z1 >= -1.5 now
(False, [-1.5, -1.5])
>>> tighten_for_target(PLNetwork.from_model(m), hinge_bounds(m, lo, hi), lo, hi, np.array([-1.0]),
...                    np.array([1e-6])).infeasible                                   # |x| = -1: none
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .formulation import build_model
from .lp import LPOutcome, RelaxedLP
from .network import PLNetwork

__all__ = ["Tightened", "tighten_for_target", "unstable_units", "LP_SLACK", "MIN_GAIN"]

Float64Array = NDArray[np.float64]
ZBounds = list[tuple[Float64Array, Float64Array]]

#: new bounds are widened by this (absolute + relative): HiGHS's optimal values are exact to its tolerances only
LP_SLACK = 1e-6
#: another pass is made while the last one shrank the unstable units' total width by at least this fraction
MIN_GAIN = 0.05


@dataclass(frozen=True)
class Tightened:
    """Pre-activation bounds valid for every input in the box that meets the target, or a proof there is none.

    Attributes
    ----------
    zbounds : list of (lo, hi)
        Per layer, each ``(n_l,)``; never looser than the bounds given.
    infeasible : bool
        True when a relaxation LP with the target rows is infeasible (a proof).
    certificate : str
        What proved it ("" when not infeasible).
    n_lps : int
        LPs solved.
    """

    zbounds: ZBounds
    infeasible: bool
    certificate: str
    n_lps: int


def unstable_units(net: PLNetwork, zbounds: ZBounds, layer: int) -> NDArray[np.int64]:
    """Units of ``layer`` with a hinge breakpoint strictly inside their bounds (they need a binary)."""
    lo, hi = zbounds[layer]
    breaks = np.asarray(net.layers[layer].hinges.breaks, dtype=np.float64)[:, None]
    return np.flatnonzero(np.any((lo[None, :] < breaks) & (hi[None, :] > breaks), axis=0))


def _slack(v: float) -> float:
    return LP_SLACK * (1.0 + abs(v))


def _width(net: PLNetwork, zb: ZBounds) -> float:
    """Total width of the unstable units' bounds (what the big-M constants grow with)."""
    return float(sum(np.sum(zb[k][1][u] - zb[k][0][u]) for k in range(len(zb))
                     for u in [unstable_units(net, zb, k)]))


def _obbt(lp: RelaxedLP, Ez: Float64Array, ez: Float64Array, zb: ZBounds, layer: int, r_cols: slice,
          breaks: Float64Array, deadline: float) -> bool:
    """Min and max of each unit's pre-activation over the relaxation (updates ``zb``); True when infeasible.

    Each unit's new bounds go into the LP at once (its chord), so the units
    after it are bounded over a tighter relaxation.
    """
    lo, hi = zb[layer]
    n = len(lo)
    live = [(lo < t) & (t < hi) for t in breaks]      # the hinges with a chord row in the LP
    for i in np.flatnonzero(np.any(live, axis=0)):
        if time.perf_counter() > deadline:
            break
        before = (lo[i], hi[i])
        for sign in (1.0, -1.0):
            if not np.any((lo[i] < breaks) & (breaks < hi[i])):
                break               # one-signed already: its other bound is no big-M constant any more
            outcome, value = lp.minimize(sign * Ez[i])
            if outcome is LPOutcome.INFEASIBLE:
                return True
            if outcome is not LPOutcome.OPTIMAL:
                continue
            bound = sign * value + ez[i]
            if sign > 0:
                lo[i] = max(lo[i], bound - _slack(bound))
            else:
                hi[i] = min(hi[i], bound + _slack(bound))
        if lo[i] > hi[i]:      # only numerical noise crosses them: no proof, keep the old ones
            lo[i], hi[i] = before
        if (lo[i], hi[i]) != before:
            for j, t in enumerate(breaks):
                if live[j][i]:
                    lp.tighten_hinge(r_cols.start + j * n + int(i), Ez[i], float(ez[i] - t), float(lo[i] - t),
                                     float(hi[i] - t))
    return False


def _tighten_layer(net: PLNetwork, zb: ZBounds, layer: int, box: tuple[Float64Array, Float64Array],
                   target: tuple[Float64Array, Float64Array], deadline: float, backend: str | None) -> tuple[bool, int]:
    """OBBT of the unstable units of ``layer`` (updates ``zb`` in place): (infeasible, LPs solved)."""
    M = build_model(net, zb, *box, relaxed=True)
    lp = RelaxedLP(M, *M.for_target(*target), backend=backend)
    Ez, ez = M.pre[layer]
    breaks = np.asarray(net.layers[layer].hinges.breaks, dtype=np.float64)
    where, _, _ = M.binaries[sum(1 for k in range(layer) if net.layers[k].n_hinges)]
    r_cols = slice(where.start - len(breaks) * len(ez), where.start)
    infeasible = _obbt(lp, Ez, ez, zb, layer, r_cols, breaks, deadline)
    return infeasible, lp.n_solved


def tighten_for_target(net: PLNetwork, zbounds: ZBounds, lower: Float64Array, upper: Float64Array,
                       y: Float64Array, band: Float64Array, rounds: int = 1,
                       time_limit: float = np.inf, backend: str | None = None) -> Tightened:
    """Bounds of every hidden pre-activation under the LP relaxation with the target rows (OBBT), layer by layer.

    Parameters
    ----------
    net : PLNetwork
    zbounds : list of (lo, hi)
        Sound bounds of every layer's pre-activation over the box (e.g.
        :func:`~symrecon.milp.formulation.hinge_bounds`); not modified.
    lower, upper : ndarray, shape (n_in,)
        The input box.
    y : ndarray, shape (n_out,)
        The target.
    band : ndarray, shape (n_out,)
        The output band ``|out - y| <= band``: at least the tolerance (never
        tighter), and above HiGHS's feasibility tolerance for a proof.
    rounds : int, default 1
        The most passes over the layers (fewer when a pass gains little, see :data:`MIN_GAIN`).
    time_limit : float, default inf
        Seconds; units not reached in time keep their bounds.
    backend : {"highspy", "scipy"} or None, default None
        The LP solver (:class:`~symrecon.milp.lp.RelaxedLP`; None: ``highspy`` when installed).

    Returns
    -------
    Tightened
    """
    deadline = time.perf_counter() + time_limit
    zb = [(lo.copy(), hi.copy()) for lo, hi in zbounds]
    M = build_model(net, zb, lower, upper, relaxed=True)
    lp = RelaxedLP(M, *M.for_target(y, band), backend=backend)
    n = 1
    if lp.minimize(np.zeros(M.n_vars))[0] is LPOutcome.INFEASIBLE:
        return Tightened(zb, True, "the LP relaxation of the big-M model (interval bounds) with the target is "
                                   "infeasible", n)
    hidden = [k for k, layer in enumerate(net.layers) if layer.n_hinges]
    for r in range(rounds):
        width, n_open = _width(net, zb), sum(len(unstable_units(net, zb, k)) for k in hidden)
        for k in hidden:
            infeasible, m = _tighten_layer(net, zb, k, (lower, upper), (y, band), deadline, backend)
            n += m
            if infeasible:
                return Tightened(zb, True, f"bound tightening with the target (round {r + 1}, layer {k}): the LP "
                                           f"relaxation with the target is infeasible", n)
        gained = sum(len(unstable_units(net, zb, k)) for k in hidden) < n_open
        if time.perf_counter() > deadline or not (gained or _width(net, zb) < (1.0 - MIN_GAIN) * width):
            break
    return Tightened(zb, False, "", n)
