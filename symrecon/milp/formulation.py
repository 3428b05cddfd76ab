"""The big-M mixed-integer model of a piecewise-linear network over a box.

Variables, in order: the input ``x`` (n_in), then for every layer with
hinges the hinge outputs ``r`` and their on/off binaries ``d`` (one of each
per hinge and unit).  Every pre-activation is an affine expression of these
variables, so no ``z`` variables are needed.  A hinge ``r = relu(s)`` with
``s`` in ``[L, U]`` is

* ``r = 0`` when ``U <= 0`` and ``r = s`` when ``L >= 0`` (stable: no binary),
* otherwise ``r >= 0, r >= s, r <= U d, r <= s - L (1 - d)``, ``d`` binary
  (exact for binary ``d``; big-M constants ``L, U`` from the bounds).

The output rows ``y - eps <= out <= y + eps`` are the last ``n_out`` rows, so
one model serves every target of a block (only their row bounds change).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.milp.network import PLNetwork
>>> from symrecon.milp.formulation import build_model, hinge_bounds
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]])])
>>> net = PLNetwork.from_model(m)
>>> model = build_model(net, hinge_bounds(m, np.array([-1.0]), np.array([2.0])), np.array([-1.0]), np.array([2.0]))
>>> model.n_vars, int(model.integrality.sum()), model.A.shape
(5, 2, (7, 5))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..bounds import interval_bounds
from ..graph.ops import Affine
from ..models import Sequential
from .network import PLNetwork

if TYPE_CHECKING:
    import scipy.sparse as sps

__all__ = ["MILPModel", "build_model", "hinge_bounds", "Rows"]

Float64Array = NDArray[np.float64]


def hinge_bounds(model: Sequential, lower: Float64Array, upper: Float64Array) -> list[tuple[Float64Array,
                                                                                             Float64Array]]:
    """Bounds ``(lo, hi)`` of every layer's pre-activation ``z`` (each ``(n_l,)``), by interval propagation."""
    found = interval_bounds(model, lower, upper)
    return [found[node.name] for node in model.graph.nodes if isinstance(node.op, Affine)]


class Rows:
    """Constraint rows collected as dense blocks: ``lo <= A v <= hi``."""

    def __init__(self, n_vars: int):
        self.n_vars = n_vars
        self.blocks: list[Float64Array] = []
        self.lo: list[Float64Array] = []
        self.hi: list[Float64Array] = []

    @property
    def count(self) -> int:
        """Rows added so far (the index the next row gets)."""
        return sum(block.shape[0] for block in self.blocks)

    def add(self, A: Float64Array, lo: Float64Array, hi: Float64Array) -> None:
        if A.shape[0]:
            self.blocks.append(A)
            self.lo.append(lo)
            self.hi.append(hi)

    def finish(self) -> tuple[sps.csr_matrix, Float64Array, Float64Array]:
        # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
        import scipy.sparse as sps

        if not self.blocks:
            return sps.csr_matrix((0, self.n_vars)), np.zeros(0), np.zeros(0)
        return (sps.csr_matrix(np.vstack(self.blocks)), np.concatenate(self.lo), np.concatenate(self.hi))


@dataclass(frozen=True)
class MILPModel:
    """``lo <= A v <= hi``, ``lb <= v <= ub``, ``v[integrality == 1]`` integer; the output rows last.

    Attributes
    ----------
    A : scipy.sparse.csr_matrix, shape (m, n_vars)
    lo, hi : ndarray, shape (m,)
        Row bounds; the last ``n_out`` rows (the output) are ``[0, 0]`` here:
        :meth:`for_target` sets them.
    lb, ub : ndarray, shape (n_vars,)
    integrality : ndarray of int, shape (n_vars,)
    binaries : list of (slice, int, int)
        Per layer with hinges: where its ``d`` variables are, and ``(n_hinges, n_l)``.
    n_in, n_out : int
    out_offset : ndarray, shape (n_out,)
        The output is ``A[-n_out:] @ v + out_offset``.
    pre : list of (ndarray (n_l, n_vars), ndarray (n_l,))
        Every layer's pre-activation as ``z = pre[l][0] @ v + pre[l][1]``
        (what bound tightening optimises).
    chord_rows : ndarray of int, shape (n_vars,)
        Relaxed models only: for the ``r`` of an unstable hinge, the row of
        its chord ``r <= U (s - L) / (U - L)``; -1 elsewhere.
    """

    A: sps.csr_matrix
    lo: Float64Array
    hi: Float64Array
    lb: Float64Array
    ub: Float64Array
    integrality: NDArray[np.int64]
    binaries: list[tuple[slice, int, int]]
    n_in: int
    n_out: int
    out_offset: Float64Array
    pre: list[tuple[Float64Array, Float64Array]] = field(default_factory=list)
    chord_rows: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_vars(self) -> int:
        return int(self.lb.shape[0])

    def for_target(self, y: Float64Array, eps: Float64Array) -> tuple[Float64Array, Float64Array]:
        """Row bounds with the output band ``|out - y| <= eps``."""
        lo, hi = self.lo.copy(), self.hi.copy()
        lo[-self.n_out:] = y - eps - self.out_offset
        hi[-self.n_out:] = y + eps - self.out_offset
        return lo, hi


def _layer_slots(net: PLNetwork, n_in: int) -> tuple[list[tuple[int, int]], int]:
    """Offsets of each layer's ``r`` and ``d`` blocks, and the number of variables."""
    slots, k = [], n_in
    for layer in net.layers:
        size = layer.n_hinges * layer.n_out
        slots.append((k, k + size))
        k += 2 * size
    return slots, k


def build_model(net: PLNetwork, zbounds: list[tuple[Float64Array, Float64Array]], lower: Float64Array,
                upper: Float64Array, relaxed: bool = False) -> MILPModel:
    """The big-M model of ``net`` over the box ``[lower, upper]`` with pre-activation bounds ``zbounds``.

    Parameters
    ----------
    net : PLNetwork
    zbounds : list of (lo, hi)
        Sound bounds of every layer's pre-activation (:func:`hinge_bounds`, possibly tightened).
    lower, upper : ndarray, shape (n_in,)
        A finite input box.
    relaxed : bool, default False
        The LP relaxation instead: each unstable hinge as its triangle
        (``r >= 0, r >= s`` and the chord), which is the big-M rows with
        ``d`` in ``[0, 1]`` projected onto ``(x, r)``: the same LP with fewer
        rows, and no binaries (the ``d`` columns stay, in no row, fixed at 0).
    """
    n_in = net.n_in
    slots, n_vars = _layer_slots(net, n_in)
    lb, ub = np.zeros(n_vars), np.zeros(n_vars)
    lb[:n_in], ub[:n_in] = lower, upper
    integrality = np.zeros(n_vars, dtype=np.int64)
    rows = Rows(n_vars)
    E = np.zeros((n_in, n_vars))                 # a = v @ E.T + e, the current layer's input
    E[:, :n_in] = np.eye(n_in)
    e = np.zeros(n_in)
    binaries = []
    pre = []
    chords = np.full(n_vars if relaxed else 0, -1, dtype=np.int64)
    for layer, (r0, d0), (zlo, zhi) in zip(net.layers, slots, zbounds):
        Ez, ez = layer.W.T @ E, e @ layer.W + layer.b
        pre.append((Ez, ez))
        h, n = layer.hinges, layer.n_out
        E_next, e_next = h.alpha * Ez, h.alpha * ez + h.beta
        for j, (w, t) in enumerate(zip(h.weights, h.breaks)):
            r = slice(r0 + j * n, r0 + (j + 1) * n)
            d = slice(d0 + j * n, d0 + (j + 1) * n)
            _hinge_rows(rows, Ez, ez - t, zlo - t, zhi - t, r, d, lb, ub, integrality, chords if relaxed else None)
            E_next[np.arange(n), np.arange(r.start, r.stop)] += w
        if h.breaks:
            binaries.append((slice(d0, d0 + len(h.breaks) * n), len(h.breaks), n))
        E, e = E_next, e_next
    rows.add(E, np.zeros(len(e)), np.zeros(len(e)))
    A, lo, hi = rows.finish()
    return MILPModel(A, lo, hi, lb, ub, integrality, binaries, n_in, len(e), e, pre, chords)


def _hinge_rows(rows: Rows, Es: Float64Array, es: Float64Array, L: Float64Array, U: Float64Array, r: slice,
                d: slice, lb: Float64Array, ub: Float64Array, integrality: NDArray[np.int64],
                chords: NDArray[np.int64] | None = None) -> None:
    """Rows and variable bounds of ``r = relu(s)``, ``s = v @ Es.T + es`` in ``[L, U]`` (one block of units).

    With ``chords`` (a relaxed model) each live hinge gets its chord row
    instead of the binary's two rows, and ``chords[r]`` its row index.
    """
    n, n_vars = Es.shape
    idx = np.arange(n)
    rcol, dcol = np.arange(r.start, r.stop), np.arange(d.start, d.stop)
    on, off = L >= 0, U <= 0
    live = ~(on | off)
    ub[rcol] = np.maximum(U, 0.0)
    ub[dcol] = np.where(off, 0.0, 1.0)
    lb[dcol] = np.where(on, 1.0, 0.0)
    ub[rcol[off]] = 0.0
    integrality[dcol[live]] = 1
    # r - s: = 0 when stably on, >= 0 when live
    base = -Es.copy()
    base[idx, rcol] += 1.0
    rows.add(base[on], es[on], es[on])
    rows.add(base[live], es[live], np.full(int(live.sum()), np.inf))
    if chords is not None:
        # r - k s <= -k L with k = U / (U - L) in (0, 1): the chord, well scaled however small U is
        k = np.where(live, U / np.where(live, U - L, 1.0), 0.0)
        chord = -k[:, None] * Es
        chord[idx, rcol] += 1.0
        chords[rcol[live]] = rows.count + np.arange(int(live.sum()))
        rows.add(chord[live], np.full(int(live.sum()), -np.inf), (k * (es - L))[live])
        lb[dcol] = ub[dcol] = 0.0
        integrality[dcol] = 0
        return
    # r - s - L d <= -L   (r <= s - L (1 - d))
    upper_cut = base.copy()
    upper_cut[idx, dcol] -= L
    rows.add(upper_cut[live], np.full(int(live.sum()), -np.inf), (es - L)[live])
    # r - U d <= 0
    gate = np.zeros((n, n_vars))
    gate[idx, rcol] = 1.0
    gate[idx, dcol] = -U
    rows.add(gate[live], np.full(int(live.sum()), -np.inf), np.zeros(int(live.sum())))
