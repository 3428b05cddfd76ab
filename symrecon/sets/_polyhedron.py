"""Polyhedra ``{x : A x <= c, E x = d}`` and unions of them."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InvalidParameterError, InvalidValueError
from ._base import DEFAULT_RADIUS, SolutionSet, check_count, latex_linear, latex_number, matrix, vector
from ._lp import EMPTY_TOL, Constraints, hit_and_run, interior_point, min_violation, project
from ._simple import AffineSet, Box, EmptySet, Point

__all__ = ["Polyhedron", "Union"]


class Polyhedron(SolutionSet):
    """``{x : A x <= c, E x = d}``.

    Parameters
    ----------
    A : array_like, shape (m, n), optional
    c : array_like, shape (m,), optional
    E : array_like, shape (p, n), optional
    d : array_like, shape (p,), optional
    description : str
        What the set is (shown by ``repr``).
    n : int, optional
        The dimension, needed only when neither ``A`` nor ``E`` is given.
    derivation : tuple of str
        How the set was found (LaTeX lines), e.g. for a shut-down region.

    Examples
    --------
    >>> from symrecon.sets import Polyhedron
    >>> tri = Polyhedron([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [0.0, 0.0, 1.0])
    >>> tri.contains([0.2, 0.2]), tri.nearest([1.0, 1.0]).round(12).tolist(), tri.is_empty
    (True, [0.5, 0.5], False)
    >>> print(tri.latex())
    \\begin{aligned} -x_{1} &\\le 0 \\\\ -x_{2} &\\le 0 \\\\ x_{1} + x_{2} &\\le 1 \\end{aligned}
    >>> tri.intersect(Polyhedron.halfspace([1.0, 1.0], -1.0)).is_empty
    True
    """

    def __init__(self, A: ArrayLike | None = None, c: ArrayLike | None = None, E: ArrayLike | None = None,
                 d: ArrayLike | None = None, *, description: str = "", n: int | None = None,
                 derivation: tuple[str, ...] = ()):
        if (A is None) != (c is None) or (E is None) != (d is None):
            raise InvalidParameterError("Polyhedron needs A with c and E with d (each pair both or neither)")
        A_ = matrix(A, "A", None)
        width = n if n is not None else (A_.shape[1] if A_ is not None else None)
        E_ = matrix(E, "E", width)
        width = width if width is not None else (E_.shape[1] if E_ is not None else None)
        if width is None:
            raise InvalidParameterError("Polyhedron without A or E needs the dimension: Polyhedron(n=...)")
        self._n = check_count(width, "n")
        A_ = matrix(A, "A", self._n)
        self.A: NDArray[np.float64] = A_ if A_ is not None else np.zeros((0, self._n))
        self.E: NDArray[np.float64] = E_ if E_ is not None else np.zeros((0, self._n))
        self.c = vector(c, "c", self.A.shape[0]) if c is not None else np.zeros(0)
        self.d = vector(d, "d", self.E.shape[0]) if d is not None else np.zeros(0)
        self.description = str(description)
        self.derivation = tuple(derivation)

    @classmethod
    def halfspace(cls, a: ArrayLike, c: float, description: str = "") -> "Polyhedron":
        """``{x : a . x <= c}``.

        Examples
        --------
        >>> from symrecon.sets import Polyhedron
        >>> h = Polyhedron.halfspace([1.0, 0.0], 2.0)
        >>> h.nearest([5.0, 1.0]).tolist()
        [2.0, 1.0]
        """
        row = np.atleast_2d(np.asarray(a, dtype=np.float64))
        return cls(row, np.atleast_1d(np.asarray(c, dtype=np.float64)), description=description)

    @property
    def n(self) -> int:
        return self._n

    def intersect(self, other: Any) -> "Polyhedron":
        """This set ∩ ``other`` (a Polyhedron, Box, AffineSet or Point) as a Polyhedron."""
        poly = as_polyhedron(other, self.n)
        label = " and ".join(t for t in (self.description, poly.description) if t)
        return Polyhedron(np.vstack([self.A, poly.A]), np.concatenate([self.c, poly.c]),
                          np.vstack([self.E, poly.E]), np.concatenate([self.d, poly.d]),
                          description=label, n=self.n)

    @cached_property
    def _cons(self) -> Constraints:
        return Constraints.scaled(self.A, self.c, self.E, self.d)

    @cached_property
    def _phase1(self):
        return min_violation(self._cons)

    @property
    def is_empty(self) -> bool:
        """Decided by an LP (HiGHS): the least violation of the constraints is above :data:`EMPTY_TOL`."""
        return self._phase1.violation > EMPTY_TOL

    def emptiness_certificate(self) -> EmptySet:
        """The proof of emptiness as an :class:`EmptySet` (Farkas multipliers in ``data``); raises if not empty."""
        p1 = self._phase1
        if not self.is_empty:
            raise InvalidValueError("this polyhedron is not empty: it has no emptiness certificate")
        rows = np.flatnonzero(p1.multipliers_A > 1e-12)
        text = (f"no x satisfies the {self.A.shape[0]} inequalities and {self.E.shape[0]} equations"
                f"{' of ' + self.description if self.description else ''}: the LP (HiGHS) finds every x "
                f"violates one of them by at least {p1.violation:.3g}; inequalities {rows.tolist()} combine "
                f"(Farkas multipliers in data) into 0 <= negative")
        return EmptySet(self.n, text, data={"min_violation": p1.violation, "multipliers_A": p1.multipliers_A,
                                             "multipliers_E": p1.multipliers_E, "rows": rows})

    def latex(self) -> str:
        lines = [f"{latex_linear(a)} &\\le {latex_number(float(b))}" for a, b in zip(self.A, self.c)]
        lines += [f"{latex_linear(e)} &= {latex_number(float(b))}" for e, b in zip(self.E, self.d)]
        if not lines:
            return rf"x \in \mathbb{{R}}^{{{self.n}}}"
        return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"

    def _contains_rows(self, rows, tol):
        return self._cons.violation(rows) <= tol

    def _nearest_rows(self, rows):
        if self.is_empty:
            raise self.emptiness_certificate().error()
        return np.stack([project(self._cons, r, self._phase1.x) for r in rows])

    def _sample_rows(self, k, rng):
        if self.is_empty:
            raise self.emptiness_certificate().error()
        centre = self._nearest_rows(np.zeros((1, self.n)))[0]
        start, _ = interior_point(self._cons, centre, DEFAULT_RADIUS)
        start = centre if start is None else start
        return hit_and_run(self._cons, start, centre, DEFAULT_RADIUS, k, rng)

    def __repr__(self) -> str:
        what = f" {self.description!r}" if self.description else ""
        return f"<Polyhedron{what}: n={self.n}, {self.A.shape[0]} inequalities, {self.E.shape[0]} equations>"


def as_polyhedron(other: Any, n: int) -> Polyhedron:
    """``other`` (Polyhedron, Box, AffineSet, Point) as a Polyhedron of dimension ``n``."""
    if isinstance(other, Polyhedron):
        poly = other
    elif isinstance(other, Box):
        poly = other.to_polyhedron()
    elif isinstance(other, AffineSet) and np.ndim(other.point) == 1:
        _, s, vt = np.linalg.svd(other.null_basis.T) if other.dimension else (None, np.zeros(0), None)
        rank = int(np.sum(s > 1e-10))
        normals = vt[rank:] if vt is not None else np.eye(other.n)
        poly = Polyhedron(E=normals, d=normals @ other.point, n=other.n, description="affine set")
    elif isinstance(other, Point):
        poly = Polyhedron(E=np.eye(other.n), d=other.x, description="point")
    else:
        raise InvalidParameterError(f"can only intersect with a Polyhedron, Box, single AffineSet or Point; "
                                    f"got {type(other).__name__}")
    if poly.n != n:
        raise InvalidValueError(f"cannot intersect sets of dimensions {n} and {poly.n}")
    return poly


class Union(SolutionSet):
    """The union of polyhedra (empty pieces are dropped; an empty union needs ``n``).

    Examples
    --------
    >>> from symrecon.sets import Box, Union
    >>> u = Union([Box([0.0], [1.0]).to_polyhedron(), Box([2.0], [3.0]).to_polyhedron()])
    >>> u.contains([[0.5], [1.5], [2.5]]).tolist(), u.nearest([1.8]).tolist(), len(u.pieces)
    ([True, False, True], [2.0], 2)
    """

    def __init__(self, pieces, *, n: int | None = None, description: str = "", derivation: tuple[str, ...] = ()):
        pieces = [as_polyhedron(p, p.n) if not isinstance(p, Polyhedron) else p for p in pieces]
        widths = {p.n for p in pieces} | ({n} if n is not None else set())
        if len(widths) != 1:
            raise InvalidValueError(f"Union pieces must share one dimension; got {sorted(widths)}"
                                    if widths else "an empty Union needs its dimension: Union([], n=...)")
        self._n = check_count(widths.pop(), "n")
        self.pieces: tuple[Polyhedron, ...] = tuple(p for p in pieces if not p.is_empty)
        self.description = description
        self.derivation = tuple(derivation)

    @property
    def n(self) -> int:
        return self._n

    @property
    def is_empty(self) -> bool:
        return not self.pieces

    def latex(self) -> str:
        if not self.pieces:
            return r"\emptyset"
        return r" \;\cup\; ".join(r"\left\{ " + p.latex() + r" \right\}" for p in self.pieces)

    def _contains_rows(self, rows, tol):
        inside = np.zeros(rows.shape[0], dtype=bool)
        for p in self.pieces:
            inside |= p._contains_rows(rows, tol)
        return inside

    def _nearest_rows(self, rows):
        if not self.pieces:
            raise EmptySet(self.n, "the union has no non-empty piece").error()
        candidates = np.stack([p._nearest_rows(rows) for p in self.pieces])  # (P, N, n)
        best = np.argmin(np.linalg.norm(candidates - rows[None], axis=2), axis=0)
        return candidates[best, np.arange(rows.shape[0])]

    def _sample_rows(self, k, rng):
        if not self.pieces:
            raise EmptySet(self.n, "the union has no non-empty piece").error()
        which = rng.integers(len(self.pieces), size=k)
        out = np.empty((k, self.n))
        for i, p in enumerate(self.pieces):
            if np.any(which == i):
                out[which == i] = p._sample_rows(int(np.sum(which == i)), rng)
        return out

    def __repr__(self) -> str:
        return f"<Union of {len(self.pieces)} polyhedra, n={self.n}>"
