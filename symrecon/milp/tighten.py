"""Bound tightening that uses the target: LPs over the relaxed big-M model with the output band included.

Interval propagation bounds every pre-activation over the whole box; a target
``y`` is met only by inputs whose hidden units lie in a much smaller region.
For each hidden layer in turn, each *unstable* unit (a hinge whose bounds
straddle its breakpoint) gets the minimum and the maximum of its
pre-activation over the LP relaxation of the big-M model (``d`` in ``[0, 1]``:
the triangle relaxation of every hinge) **with** the rows ``|out - y| <= band``.
Every true solution lies in that relaxation, so

* a relaxation LP that is infeasible proves that no input in the box meets the
  target (the certificate says which LP);
* the optimal values, widened by :data:`LP_SLACK`, are sound new bounds; units
  whose bounds become one-signed need no binary, and the MILP that is left is
  smaller and its big-M constants tighter.

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
from scipy.optimize import Bounds, LinearConstraint, milp

from .formulation import MILPModel, build_model
from .network import PLNetwork

__all__ = ["Tightened", "tighten_for_target", "unstable_units", "LP_SLACK"]

Float64Array = NDArray[np.float64]
ZBounds = list[tuple[Float64Array, Float64Array]]

#: new bounds are widened by this (absolute + relative): HiGHS's optimal values are exact to its tolerances only
LP_SLACK = 1e-6
#: scipy.optimize.milp result codes; scipy's, not symrecon's Status
_SOLVED, _INFEASIBLE = 0, 2


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


def _lp(M: MILPModel, c: Float64Array, lo: Float64Array, hi: Float64Array) -> tuple[int, float]:
    """Minimum of ``c @ v`` over the relaxation: (scipy status, value)."""
    res = milp(c, integrality=np.zeros(M.n_vars), bounds=Bounds(M.lb, M.ub), constraints=LinearConstraint(M.A, lo, hi))
    return int(res.status), float(res.fun) if res.status == _SOLVED else np.nan


def _slack(v: float) -> float:
    return LP_SLACK * (1.0 + abs(v))


def _tighten_layer(net: PLNetwork, zb: ZBounds, layer: int, lower: Float64Array, upper: Float64Array,
                   y: Float64Array, band: Float64Array, deadline: float) -> tuple[bool, int]:
    """Min/max of each unstable unit of ``layer`` (updates ``zb`` in place): (infeasible, LPs solved)."""
    M = build_model(net, zb, lower, upper)
    lo_r, hi_r = M.for_target(y, band)
    Ez, ez = M.pre[layer]
    n = 0
    breaks = np.asarray(net.layers[layer].hinges.breaks, dtype=np.float64)
    for i in unstable_units(net, zb, layer):
        if time.perf_counter() > deadline:
            break
        before = (zb[layer][0][i], zb[layer][1][i])
        for sign in (1.0, -1.0):
            if not np.any((zb[layer][0][i] < breaks) & (breaks < zb[layer][1][i])):
                break               # one-signed already: its other bound is no big-M constant any more
            status, value = _lp(M, sign * Ez[i], lo_r, hi_r)
            n += 1
            if status == _INFEASIBLE:
                return True, n
            if status != _SOLVED:
                continue
            bound = sign * value + ez[i]
            lo, hi = zb[layer]
            if sign > 0:
                lo[i] = max(lo[i], bound - _slack(bound))
            else:
                hi[i] = min(hi[i], bound + _slack(bound))
        if zb[layer][0][i] > zb[layer][1][i]:      # only numerical noise crosses them: no proof, keep the old ones
            zb[layer][0][i], zb[layer][1][i] = before
    return False, n


def tighten_for_target(net: PLNetwork, zbounds: ZBounds, lower: Float64Array, upper: Float64Array,
                       y: Float64Array, band: Float64Array, rounds: int = 1,
                       time_limit: float = np.inf) -> Tightened:
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
        Passes over the layers.
    time_limit : float, default inf
        Seconds; units not reached in time keep their bounds.

    Returns
    -------
    Tightened
    """
    deadline = time.perf_counter() + time_limit
    zb = [(lo.copy(), hi.copy()) for lo, hi in zbounds]
    M = build_model(net, zb, lower, upper)
    lo_r, hi_r = M.for_target(y, band)
    status, _ = _lp(M, np.zeros(M.n_vars), lo_r, hi_r)
    n = 1
    if status == _INFEASIBLE:
        return Tightened(zb, True, "the LP relaxation of the big-M model (interval bounds) with the target is "
                                   "infeasible", n)
    hidden = [k for k, layer in enumerate(net.layers) if layer.n_hinges]
    for r in range(rounds):
        for k in hidden:
            infeasible, m = _tighten_layer(net, zb, k, lower, upper, y, band, deadline)
            n += m
            if infeasible:
                return Tightened(zb, True, f"bound tightening with the target (round {r + 1}, layer {k}): the LP "
                                           f"relaxation with the target is infeasible", n)
    return Tightened(zb, False, "", n)
