"""Sets with closed-form answers: :class:`Point`, :class:`AffineSet`, :class:`Box`, :class:`EmptySet`."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InfeasibleTargetError, InvalidValueError, ShapeError
from ..validation import as_real_array, check_bounds
from ._base import DEFAULT_RADIUS, SolutionSet, as_rng, check_count, frozen, latex_number

__all__ = ["Point", "AffineSet", "Box", "EmptySet"]


def _vector_latex(v: NDArray[np.float64]) -> str:
    return r"\begin{pmatrix}" + r" \\ ".join(latex_number(float(a)) for a in v) + r"\end{pmatrix}"


class Point(SolutionSet):
    """The single input ``x``.

    Examples
    --------
    >>> from symrecon.sets import Point
    >>> p = Point([1.0, 2.0])
    >>> p.contains([1.0, 2.0]), p.nearest([0.0, 0.0]).tolist(), p.latex()
    (True, [1.0, 2.0], 'x_{1} = 1,\\\\; x_{2} = 2')
    """

    def __init__(self, x: ArrayLike):
        self.x = as_real_array(x, "x", ndim=1)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    def latex(self) -> str:
        return r",\; ".join(f"x_{{{i + 1}}} = {latex_number(float(v))}" for i, v in enumerate(self.x))

    def _contains_rows(self, rows, tol):
        return np.linalg.norm(rows - self.x, axis=1) <= tol

    def _nearest_rows(self, rows):
        return np.broadcast_to(self.x, rows.shape)

    def _sample_rows(self, k, rng):
        return np.broadcast_to(self.x, (k, self.n))

    def __repr__(self) -> str:
        return f"Point({self.x.tolist()!r})"


@dataclass(frozen=True)
class AffineSet(SolutionSet):
    """The set ``{point + null_basis @ t}`` of inputs that all give the same output.

    A batched ``point`` of shape ``(N, n)`` stands for ``N`` parallel sets; then
    ``contains``/``nearest`` pair row ``i`` of their argument with set ``i``.

    Attributes
    ----------
    point : ndarray, shape (n,) or (N, n)
        The minimum-norm member (one per target for a batch).
    null_basis : ndarray, shape (n, k)
        Orthonormal basis of the directions that do not change the output.

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.sets import AffineSet
    >>> s = AffineSet(point=np.array([1.0, 0.0]), null_basis=np.array([[0.0], [1.0]]))
    >>> s.dimension, s.sample(np.array([2.0])).tolist()
    (1, [1.0, 2.0])
    >>> s.nearest([3.0, 5.0]).tolist(), s.contains([1.0, -7.0]), s.sample(3, rng=0).shape
    ([1.0, 5.0], True, (3, 2))
    """

    point: NDArray[np.float64]
    null_basis: NDArray[np.float64]

    @property
    def n(self) -> int:
        return int(np.shape(self.point)[-1])

    @property
    def dimension(self) -> int:
        """``k``, the number of free directions."""
        return int(self.null_basis.shape[1])

    def sample(self, t: Any, rng: Any = None) -> NDArray[np.float64]:
        """Members: ``point + null_basis @ t`` for coefficients ``t``, or ``t`` random members for an int.

        Parameters
        ----------
        t : int or array_like, shape (k,) or (N, k)
            An int asks for that many members with coefficients uniform in
            ``[-DEFAULT_RADIUS, DEFAULT_RADIUS]`` around the member nearest the origin;
            an array gives the coefficients.
        rng : None, int or numpy.random.Generator
            Used for an int ``t`` only.

        Returns
        -------
        ndarray, shape (k, n) for an int; else the shape of ``point + t @ null_basis.T``
        """
        if isinstance(t, numbers.Integral) and not isinstance(t, (bool, np.bool_)):
            return frozen(self._sample_rows(check_count(t, "t"), as_rng(rng)))
        return self.point + np.asarray(t, dtype=np.float64) @ self.null_basis.T

    def latex(self) -> str:
        if np.ndim(self.point) != 1:
            raise InvalidValueError("latex() of a batched AffineSet: take one row, AffineSet(point[i], null_basis)")
        terms = "".join(f" + t_{{{j + 1}}} {_vector_latex(self.null_basis[:, j])}" for j in range(self.dimension))
        free = rf",\quad t \in \mathbb{{R}}^{{{self.dimension}}}" if self.dimension else ""
        return f"x = {_vector_latex(np.asarray(self.point))}{terms}{free}"

    def _paired(self, rows):
        point = np.asarray(self.point, dtype=np.float64)
        if point.ndim == 2 and point.shape[0] != rows.shape[0]:
            raise ShapeError(f"x must have {point.shape[0]} rows, one per set of this batched AffineSet; "
                             f"got shape {rows.shape}")
        return point

    def _contains_rows(self, rows, tol):
        diff = rows - self._paired(rows)
        return np.linalg.norm(diff - diff @ self.null_basis @ self.null_basis.T, axis=1) <= tol

    def _nearest_rows(self, rows):
        point = self._paired(rows)
        return point + (rows - point) @ self.null_basis @ self.null_basis.T

    def _sample_rows(self, k, rng):
        if np.ndim(self.point) != 1:
            raise InvalidValueError("sample(k) of a batched AffineSet: take one row, AffineSet(point[i], null_basis)")
        base = self._nearest_rows(np.zeros((1, self.n)))[0]
        t = rng.uniform(-DEFAULT_RADIUS, DEFAULT_RADIUS, size=(k, self.dimension))
        return base + t @ self.null_basis.T


class Box(SolutionSet):
    """``{x : lower <= x <= upper}`` (a side may be ``-inf``/``inf``).

    Examples
    --------
    >>> from symrecon.sets import Box
    >>> b = Box([-1.0, 0.0], [1.0, 2.0])
    >>> b.nearest([5.0, 1.0]).tolist(), b.contains([[0.0, 3.0], [0.5, 0.5]]).tolist()
    ([1.0, 1.0], [False, True])
    >>> b.latex()
    '-1 \\\\le x_{1} \\\\le 1,\\\\; 0 \\\\le x_{2} \\\\le 2'
    """

    def __init__(self, lower: ArrayLike, upper: ArrayLike):
        width = int(np.size(lower)) if np.ndim(lower) else int(np.size(upper))
        lo, hi = check_bounds((lower, upper), width)
        if lo is None or hi is None:  # pragma: no cover - check_bounds returns None only for bounds=None
            raise InvalidValueError("Box needs lower and upper")
        self.lower, self.upper = lo, hi

    @property
    def n(self) -> int:
        return int(self.lower.shape[0])

    def latex(self) -> str:
        parts = []
        for i, (lo, hi) in enumerate(zip(self.lower, self.upper)):
            left = "" if lo == -np.inf else f"{latex_number(float(lo))} \\le "
            right = "" if hi == np.inf else f" \\le {latex_number(float(hi))}"
            parts.append(f"{left}x_{{{i + 1}}}{right}" if left or right else rf"x_{{{i + 1}}} \in \mathbb{{R}}")
        return r",\; ".join(parts)

    def to_polyhedron(self):
        """The same set as a :class:`~symrecon.sets.Polyhedron` (finite sides only)."""
        from ._polyhedron import Polyhedron

        eye = np.eye(self.n)
        up, lo = np.isfinite(self.upper), np.isfinite(self.lower)
        return Polyhedron(np.vstack([eye[up], -eye[lo]]), np.concatenate([self.upper[up], -self.lower[lo]]),
                          n=self.n, description="box")

    def _contains_rows(self, rows, tol):
        return np.all((rows >= self.lower - tol) & (rows <= self.upper + tol), axis=1)

    def _nearest_rows(self, rows):
        return np.clip(rows, self.lower, self.upper)

    def _sample_rows(self, k, rng):
        centre = np.clip(np.zeros(self.n), self.lower, self.upper)
        lo = np.maximum(self.lower, centre - DEFAULT_RADIUS)
        hi = np.minimum(self.upper, centre + DEFAULT_RADIUS)
        return rng.uniform(lo, hi, size=(k, self.n))

    def __repr__(self) -> str:
        return f"Box({self.lower.tolist()!r}, {self.upper.tolist()!r})"


class EmptySet(SolutionSet):
    """No input at all, with the reason: ``certificate`` (words) and ``data`` (the numbers behind them).

    Examples
    --------
    >>> from symrecon.sets import EmptySet
    >>> e = EmptySet(2, "unit 0 of layer 'out' is a sigmoid: 1.5 is outside (0, 1)", data={"unit": 0})
    >>> e.is_empty, e.contains([0.0, 0.0]), e.data["unit"]
    (True, False, 0)
    """

    def __init__(self, n: int, certificate: str, *, data: Mapping[str, Any] | None = None):
        self._n = check_count(n, "n")
        if not isinstance(certificate, str) or not certificate:
            raise InvalidValueError(f"certificate must be a non-empty str saying why the set is empty; "
                                    f"got {certificate!r}")
        self.certificate = certificate
        self.data: Mapping[str, Any] = MappingProxyType(dict(data or {}))

    @property
    def n(self) -> int:
        return self._n

    @property
    def is_empty(self) -> bool:
        return True

    def latex(self) -> str:
        return rf"\emptyset \quad \text{{({_latex_text(self.certificate)})}}"

    def error(self) -> InfeasibleTargetError:
        """The :class:`~symrecon.errors.InfeasibleTargetError` this set stands for."""
        return InfeasibleTargetError(f"the set is empty: {self.certificate}",
                                     layer=self.data.get("layer"), unit=self.data.get("unit"))

    def _contains_rows(self, rows, tol):
        return np.zeros(rows.shape[0], dtype=bool)

    def _nearest_rows(self, rows):
        raise self.error()

    def _sample_rows(self, k, rng):
        raise self.error()

    def __repr__(self) -> str:
        return f"EmptySet({self.n}, {self.certificate!r})"


def _latex_text(text: str) -> str:
    for char in "\\{}_^#&%$~":
        text = text.replace(char, " " if char in "\\~" else "\\" + char)
    return text
