"""Piecewise-linear activations as tables of linear pieces, and the exact preimage of such networks.

Every activation below is, on each interval ``lo <= z <= hi`` of a finite
partition of the reals, the line ``slope * z + intercept``.  A network of
Dense layers with these activations is affine on every *activation pattern*
(one piece per unit); the preimage of a target is the union, over the patterns
that an LP finds feasible, of the polyhedra those patterns and the target cut
out (:func:`pwl_preimage`).  Patterns are enumerated depth first, unit by
unit; a branch is closed as soon as its constraints are infeasible (HiGHS LP),
and a unit whose interval bound lies inside one piece is not branched on.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.pwl import pwl_preimage
>>> m = sr.Sequential([sr.Dense([[1.0], [1.0]], [0.0], "relu")])   # y = relu(x1 + x2)
>>> s = pwl_preimage(m, np.array([0.0]), np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
>>> len(s.pieces), s.contains([[-0.5, 0.2], [0.5, 0.2]]).tolist()
(2, [True, False])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .errors import CapabilityError
from .sets import EmptySet, Polyhedron, Union

__all__ = ["PIECES", "pieces_of", "not_piecewise_linear", "pwl_preimage", "pwl_region", "unit_intervals", "DEFAULT_MAX_PIECES"]

#: the preimage refuses (never truncates) beyond this many polyhedra unless asked for more
DEFAULT_MAX_PIECES = 4096

_INF = np.inf


def _hard_sigmoid(k: float) -> NDArray[np.float64]:
    edge = 0.5 / k
    return np.array([[-_INF, -edge, 0.0, 0.0], [-edge, edge, k, 0.5], [edge, _INF, 0.0, 1.0]])


#: activation name -> (param -> rows ``(lo, hi, slope, intercept)``), the pieces in increasing ``z``
PIECES: dict[str, Callable[[float], NDArray[np.float64]]] = {
    "linear": lambda _: np.array([[-_INF, _INF, 1.0, 0.0]]),
    "relu": lambda _: np.array([[-_INF, 0.0, 0.0, 0.0], [0.0, _INF, 1.0, 0.0]]),
    "leaky_relu": lambda a: np.array([[-_INF, 0.0, a, 0.0], [0.0, _INF, 1.0, 0.0]]),
    "relu6": lambda _: np.array([[-_INF, 0.0, 0.0, 0.0], [0.0, 6.0, 1.0, 0.0], [6.0, _INF, 0.0, 6.0]]),
    "hard_sigmoid": _hard_sigmoid,
    "hard_sigmoid_keras2": _hard_sigmoid,
}


def pieces_of(activation) -> NDArray[np.float64] | None:
    """The ``(P, 4)`` piece table of an :class:`~symrecon.activations.Activation`, or None if not piecewise linear."""
    maker = PIECES.get(activation.name)
    return None if maker is None else maker(float(activation.param))


def not_piecewise_linear(model) -> str | None:
    """Why ``model`` is not a chain of Dense layers with piecewise-linear activations (None when it is)."""
    from .models import Dense

    for i, layer in enumerate(getattr(model, "layers", ())):
        if not isinstance(layer, Dense):
            return f"layer {i} ({layer.name!r}) is a {type(layer).__name__}, not a Dense layer"
        if pieces_of(layer.activation) is None:
            return (f"layer {i} ({layer.name!r}) has the activation {layer.activation.name!r}, which is not "
                    f"piecewise linear (supported: {', '.join(sorted(PIECES))})")
    return None


def _activation_interval(pieces, lo, hi):
    """Interval of ``f(z)`` over ``[lo, hi]`` per unit (endpoints and breakpoints inside)."""
    f_lo, f_hi = [], []
    for a, b in zip(lo, hi):
        zs = [a, b] + [p for p in pieces[1:, 0] if a < p < b]
        vals = [_apply(pieces, z) for z in zs]
        f_lo.append(min(vals))
        f_hi.append(max(vals))
    return np.array(f_lo), np.array(f_hi)


def _apply(pieces, z: float) -> float:
    if not np.isfinite(z):
        row = pieces[0] if z < 0 else pieces[-1]
        return float(row[2] * z) if row[2] != 0 else float(row[3])
    row = pieces[int(np.searchsorted(pieces[1:, 0], z, side="right"))]
    return float(row[2] * z + row[3])


def unit_intervals(model, lower, upper) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Interval bounds of every layer's pre-activation ``z`` over the box (infinite when the box is open)."""
    out = []
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    for layer in model.layers:
        W, b = layer.kernel, layer.bias
        if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            centre, radius = (lo + hi) / 2, (hi - lo) / 2
            z_lo, z_hi = centre @ W + b - radius @ np.abs(W), centre @ W + b + radius @ np.abs(W)
        else:
            z_lo, z_hi = np.full(layer.n_out, -_INF), np.full(layer.n_out, _INF)
        out.append((z_lo, z_hi))
        lo, hi = _activation_interval(pieces_of(layer.activation), z_lo, z_hi)
    return out


@dataclass
class _Branch:
    """Constraints so far (rows of ``A x <= c``, ``E x = d``) and the current layer's output map ``M x + v``."""

    A: list = field(default_factory=list)
    c: list = field(default_factory=list)
    E: list = field(default_factory=list)
    d: list = field(default_factory=list)
    pattern: tuple = ()
    #: a member of the branch's polyhedron when one is known (None: not yet)
    point: NDArray[np.float64] | None = None

    def with_rows(self, A=(), c=(), E=(), d=(), piece: int = 0) -> "_Branch":
        # the parent's member stays one if it satisfies the new rows: that child needs no LP
        keeps = self.point is not None and all(float(a @ self.point) <= b + 1e-12 for a, b in zip(A, c)) and all(
            abs(float(e @ self.point) - b) <= 1e-12 for e, b in zip(E, d))
        return _Branch(self.A + list(A), self.c + list(c), self.E + list(E), self.d + list(d),
                       self.pattern + (piece,), self.point if keeps else None)

    def polyhedron(self, n: int, description: str = "") -> Polyhedron:
        return Polyhedron(np.array(self.A).reshape(-1, n), np.array(self.c), np.array(self.E).reshape(-1, n),
                          np.array(self.d), n=n, description=description)


class _Enumeration:
    """Depth-first search over activation patterns for one target (state: counters for the certificate)."""

    def __init__(self, model, y, lower, upper, max_pieces, tol, leaf=None, max_lps=None):
        # y None: every layer is hidden and ``leaf(M, v)`` gives the rows that close a pattern
        self.model, self.y, self.tol, self.max_pieces, self.leaf = model, y, tol, max_pieces, leaf
        self.n = model.n_in
        self.box = Polyhedron(n=self.n).intersect(_box(lower, upper)) if lower is not None else Polyhedron(n=self.n)
        self.intervals = unit_intervals(model, lower if lower is not None else np.full(self.n, -_INF),
                                        upper if upper is not None else np.full(self.n, _INF))
        self.tables = [pieces_of(layer.activation) for layer in model.layers]
        self.found: list[Polyhedron] = []
        self.n_lp = self.n_closed = 0
        self.max_lps = max_lps

    def feasible(self, branch: _Branch) -> bool:
        """Whether the branch has a member (sets ``branch.point``); an LP only when no member is known."""
        if branch.point is not None:
            return True
        self.n_lp += 1
        if self.max_lps is not None and self.n_lp > self.max_lps:
            raise CapabilityError(f"the pattern search needs more than max_lps={self.max_lps} LPs "
                                  f"({len(self.found)} polyhedra so far); it stops rather than truncate")
        poly = self.box.intersect(branch.polyhedron(self.n))
        ok = not poly.is_empty
        self.n_closed += not ok
        if ok and poly._phase1.violation <= 0.0:
            branch.point = poly._phase1.x
        return ok

    def run(self):
        root = _Branch()
        self.feasible(root)
        self._layer(0, root, np.eye(self.n), np.zeros(self.n))
        return self.found

    def _layer(self, index, branch, M, v):
        layer = self.model.layers[index]
        P, q = layer.kernel.T @ M, layer.kernel.T @ v + layer.bias   # z = P x + q
        self._unit(index, 0, branch, P, q, np.zeros((layer.n_out, self.n)), np.zeros(layer.n_out))

    def _unit(self, index, unit, branch, P, q, M_next, v_next):
        if unit == P.shape[0]:
            if index + 1 < len(self.model.layers):
                return self._layer(index + 1, branch, M_next, v_next)
            return self._leaf(branch, M_next, v_next)
        last = self.y is not None and index + 1 == len(self.model.layers)
        for piece, rows in self._choices(index, unit, P[unit], q[unit], last):
            child = branch.with_rows(*rows, piece=piece)
            if any(len(r) for r in rows) and not self.feasible(child):
                continue
            lo, hi, slope, icpt = self.tables[index][piece]
            M_next[unit], v_next[unit] = slope * P[unit], slope * q[unit] + icpt
            self._unit(index, unit + 1, child, P, q, M_next.copy(), v_next.copy())

    def _choices(self, index, unit, p, q, last):
        """``(piece, (A rows, c, E rows, d))`` for each piece this unit may be on."""
        z_lo, z_hi = self.intervals[index][0][unit], self.intervals[index][1][unit]
        for piece, (lo, hi, slope, icpt) in enumerate(self.tables[index]):
            if hi < z_lo - self.tol or lo > z_hi + self.tol:
                continue
            A, c = [], []
            if lo > z_lo:
                A.append(-p)
                c.append(q - lo)
            if hi < z_hi:
                A.append(p)
                c.append(hi - q)
            if not last:
                yield piece, (A, c, (), ())
                continue
            target = self.y[unit]
            if slope == 0:
                if abs(target - icpt) <= self.tol * (1 + abs(target)):
                    yield piece, (A, c, (), ())
            else:
                z_star = (target - icpt) / slope
                if lo - self.tol <= z_star <= hi + self.tol:
                    yield piece, ((), (), [p], [z_star - q])

    def _leaf(self, branch, M, v):
        if self.leaf is not None:
            branch = branch.with_rows(*self.leaf(M, v))
            if not self.feasible(branch):
                return
        if len(self.found) >= self.max_pieces:
            raise CapabilityError(f"the preimage has more than max_pieces={self.max_pieces} polyhedra (after "
                                  f"{self.n_lp} LPs); raise max_pieces, tighten bounds, or ask "
                                  f"reconstruct(...) for one input instead")
        text = "pattern " + "".join(map(str, branch.pattern))
        self.found.append(self.box.intersect(branch.polyhedron(self.n, text)))


def pwl_region(model, leaf, lower=None, upper=None, *, max_pieces: int = DEFAULT_MAX_PIECES,
               tol: float = 1e-9, max_lps: int | None = None) -> Union:
    """The inputs whose last-layer output ``M x + v`` satisfies ``leaf(M, v) -> (A rows, c, E rows, d)``.

    The patterns of every layer of ``model`` are enumerated; each pattern's
    polyhedron gets the rows ``leaf`` returns (in ``x``).  Used for the
    shut-down regions of deeper units.
    """
    search = _Enumeration(model, None, lower, upper, max_pieces, tol, leaf=leaf, max_lps=max_lps)
    pieces = search.run()
    return Union(pieces, n=model.n_in, description=f"{len(pieces)} activation patterns, {search.n_lp} LPs")


def _box(lower, upper):
    from .sets import Box

    return Box(lower, upper)


def pwl_preimage(model, y, lower=None, upper=None, *, max_pieces: int = DEFAULT_MAX_PIECES,
                 tol: float = 1e-9) -> Union | EmptySet:
    """All inputs (within the box) that ``model`` maps to ``y``: a Union of polyhedra, or an EmptySet with the proof.

    Parameters
    ----------
    model : Sequential
        Dense layers with piecewise-linear activations (see :data:`PIECES`).
    y : ndarray, shape (n_out,)
    lower, upper : ndarray, shape (n_in,), optional
        The input box (None: all of ``R^n``).
    max_pieces : int
        More polyhedra than this raise :class:`~symrecon.errors.CapabilityError` (never a silent truncation).
    tol : float
        Tolerance on the target for flat pieces and on piece boundaries.

    Returns
    -------
    Union or EmptySet
    """
    search = _Enumeration(model, y, lower, upper, max_pieces, tol)
    out_lo, out_hi = _activation_interval(search.tables[-1], *search.intervals[-1])
    outside = np.flatnonzero((y < out_lo - tol) | (y > out_hi + tol))
    if outside.size:
        i = int(outside[0])
        return EmptySet(model.n_in, f"output unit {i} of layer {model.layers[-1].name!r} can only take values in "
                        f"[{out_lo[i]:.6g}, {out_hi[i]:.6g}] over the box (interval bounds); the target asks "
                        f"for {y[i]:.6g}", data={"layer": model.layers[-1].name, "unit": i,
                                                 "interval": (float(out_lo[i]), float(out_hi[i]))})
    pieces = search.run()
    if not pieces:
        return EmptySet(model.n_in, f"no activation pattern of the network reaches the target within the box: "
                        f"every one of the {search.n_closed} branches of the pattern search is infeasible "
                        f"(LP, HiGHS)", data={"n_lp": search.n_lp, "n_closed": search.n_closed})
    return Union(pieces, n=model.n_in, description=f"{len(pieces)} activation patterns, {search.n_lp} LPs")
