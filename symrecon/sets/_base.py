"""The protocol every set of inputs follows, and the small helpers the set types share.

A set validates its arguments once here (:class:`SolutionSet`) and answers for
rows: subclasses implement ``_contains_rows``, ``_nearest_rows`` and
``_sample_rows`` on ``(N, n)`` float64 arrays, never on user objects.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InvalidParameterError
from ..validation import as_batch, as_real_array, check_tol

__all__ = ["SolutionSet", "DEFAULT_RADIUS", "as_rng", "check_count", "frozen", "latex_number", "latex_linear"]

#: Unbounded sets are sampled within this distance of their member nearest to the origin.
DEFAULT_RADIUS = 1.0


class SolutionSet(ABC):
    """A set of inputs of dimension ``n``: membership, samples, nearest member and LaTeX.

    ``exact`` is True when the set is the true answer (a proof), False for
    sets found by a local solver.
    """

    exact: bool = True
    #: how the set was found, as LaTeX lines (empty when there is nothing to say)
    derivation: tuple[str, ...] = ()

    @property
    @abstractmethod
    def n(self) -> int:
        """The input dimension."""

    @property
    def is_empty(self) -> bool:
        """True only when the set is proved to have no member."""
        return False

    def contains(self, x: ArrayLike, tol: float = 1e-9) -> Any:
        """Whether ``x`` lies in the set, within distance ``tol`` of every constraint.

        Parameters
        ----------
        x : array_like, shape (n,) or (N, n)
        tol : float
            Absolute tolerance (a distance in input units).

        Returns
        -------
        bool, or ndarray of bool, shape (N,)
        """
        rows, single = as_batch(x, self.n, "x")
        inside = np.asarray(self._contains_rows(rows, check_tol(tol, "tol", allow_zero=True)), dtype=bool)
        return bool(inside[0]) if single else inside

    def nearest(self, x_ref: ArrayLike) -> NDArray[np.float64]:
        """The member nearest to ``x_ref`` in the Euclidean norm.

        Parameters
        ----------
        x_ref : array_like, shape (n,) or (N, n)

        Returns
        -------
        ndarray, shape (n,) or (N, n)
        """
        rows, single = as_batch(x_ref, self.n, "x_ref")
        out = frozen(self._nearest_rows(rows))
        return frozen(out[0]) if single else out

    def sample(self, k: int, rng: Any = None) -> NDArray[np.float64]:
        """``k`` members of the set.

        Unbounded sets are sampled within :data:`DEFAULT_RADIUS` of their member
        nearest to the origin.

        Parameters
        ----------
        k : int
            How many (at least 1).
        rng : None, int or numpy.random.Generator
            Seed or generator.

        Returns
        -------
        ndarray, shape (k, n)
        """
        return frozen(self._sample_rows(check_count(k), as_rng(rng)))

    @abstractmethod
    def latex(self) -> str:
        """The set as LaTeX equations/inequalities."""

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    @abstractmethod
    def _contains_rows(self, rows: NDArray[np.float64], tol: float) -> NDArray[np.bool_]:
        """Membership of each row of ``rows`` (N, n)."""

    @abstractmethod
    def _nearest_rows(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """Nearest member to each row of ``rows`` (N, n)."""

    @abstractmethod
    def _sample_rows(self, k: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``k`` members, shape (k, n)."""


def check_count(k: Any, what: str = "k") -> int:
    """A positive Python int (NumPy integers accepted)."""
    if isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_)) and int(k) >= 1:
        return int(k)
    raise InvalidParameterError(f"The {what!r} parameter must be a positive int. Got {k!r} instead.")


def as_rng(rng: Any) -> np.random.Generator:
    """A NumPy Generator from None, a seed or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(None if rng is None else int(rng))
    raise InvalidParameterError(f"The 'rng' parameter must be None, an int seed or a numpy Generator. "
                                f"Got {rng!r} instead.")


def frozen(arr: ArrayLike) -> NDArray[np.float64]:
    """A read-only float64 copy."""
    out = np.array(arr, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def matrix(value: ArrayLike | None, what: str, width: int | None) -> NDArray[np.float64] | None:
    """A finite read-only (m, width) float64 copy, or None."""
    if value is None:
        return None
    arr = as_real_array(value, what)
    if arr.ndim == 1 and arr.size == 0 and width is not None:
        arr = arr.reshape(0, width)
    if arr.ndim != 2 or (width is not None and arr.shape[1] != width):
        raise _shape_error(what, f"(m, {width if width is not None else 'n'})", arr.shape)
    return arr


def vector(value: ArrayLike, what: str, length: int) -> NDArray[np.float64]:
    """A finite read-only (length,) float64 copy (a scalar is accepted for length 1)."""
    arr = as_real_array(value, what)
    arr = arr.reshape(1) if arr.ndim == 0 and length == 1 else arr
    if arr.shape != (length,):
        raise _shape_error(what, f"({length},)", arr.shape)
    return arr


def _shape_error(what: str, expected: str, got: tuple[int, ...]) -> Exception:
    from ..errors import ShapeError

    return ShapeError(f"{what} must have shape {expected}; got shape {got}")


def latex_number(value: float) -> str:
    """A compact LaTeX number (4 significant digits, scientific as ``\\cdot 10^{k}``)."""
    text = f"{value:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
    return text


def latex_linear(row: NDArray[np.float64], offset: float = 0.0) -> str:
    """``a_1 x_1 + ... + a_n x_n (+ offset)`` with zero terms left out."""
    terms = []
    for i, a in enumerate(row):
        if a == 0:
            continue
        sign = "-" if a < 0 else "+"
        size = "" if abs(a) == 1 else latex_number(abs(a)) + " "
        terms.append((sign, f"{size}x_{{{i + 1}}}"))
    if offset != 0:
        terms.append(("-" if offset < 0 else "+", latex_number(abs(offset))))
    if not terms:
        return "0"
    first_sign, first = terms[0]
    text = ("-" if first_sign == "-" else "") + first
    return text + "".join(f" {s} {t}" for s, t in terms[1:])
