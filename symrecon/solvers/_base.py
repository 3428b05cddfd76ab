"""What every solver shares: the validated :class:`Problem` and :class:`AbstractSolver`."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from ..models import Sequential
from ..result import Reconstruction

__all__ = ["Problem", "AbstractSolver"]


@dataclass(frozen=True)
class Problem:
    """One validated, immutable reconstruction problem.

    Built only by :func:`symrecon.reconstruct`, which has already checked
    everything; solvers trust it.

    Attributes
    ----------
    model : Sequential
        A chain of :class:`~symrecon.Dense` layers.
    y : ndarray, shape (N, n_out), read-only
        Targets, finite and inside the output activation's image.
    x0 : ndarray, shape (N, n_in), read-only, or None
        Starting points (None: the solver picks).
    lower, upper : ndarray, shape (n_in,), read-only, or None
        Box bounds (``-inf``/``inf`` where a side is open); None when unbounded.
    tol : float
        Residual tolerance (``max_i |model(x)_i - y_i|``).
    max_iter : int or None
        Iteration limit (None: the solver's default).
    single : bool
        The caller passed one target; results are squeezed.
    progress : bool or None
        Show a progress bar (None: only for long batch runs).
    """

    model: Sequential
    y: NDArray[np.float64]
    x0: NDArray[np.float64] | None
    lower: NDArray[np.float64] | None
    upper: NDArray[np.float64] | None
    tol: float
    max_iter: int | None
    single: bool
    progress: bool | None = None

    @property
    def n_targets(self) -> int:
        return int(self.y.shape[0])

    @property
    def has_bounds(self) -> bool:
        return self.lower is not None

    def subset(self, rows: NDArray[np.intp]) -> "Problem":
        """The same problem restricted to some targets (always a batch)."""
        x0 = None if self.x0 is None else _ro(self.x0[rows])
        return dataclasses.replace(self, y=_ro(self.y[rows]), x0=x0, single=False)


def _ro(a: NDArray) -> NDArray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


class AbstractSolver(ABC):
    """A reconstruction method.  Subclasses are frozen dataclasses whose fields are options.

    Class attributes declare what the solver can do; :func:`symrecon.reconstruct`
    refuses requests beyond them, so ``solve`` never has to.
    """

    #: registry key, e.g. ``"gd"``
    name: ClassVar[str]
    #: honours box bounds
    supports_bounds: ClassVar[bool] = False
    #: closed form (no iteration, no starting point)
    exact: ClassVar[bool] = False
    #: used when ``max_iter`` is None
    default_max_iter: ClassVar[int | None] = None

    @abstractmethod
    def solve(self, problem: Problem) -> Reconstruction:
        """Reconstruct ``x`` for every target in ``problem``."""

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
