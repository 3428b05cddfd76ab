"""What every solver shares: the validated :class:`Problem`, the :class:`BlockResult` and :class:`AbstractSolver`.

A solver is a pure function of a block of rows: ``solve_block(problem)``
receives a :class:`Problem` (model, targets, starting points, bounds,
tolerance) and returns raw arrays with a per-row :class:`~symrecon.Status`.
It never builds a :class:`~symrecon.Reconstruction`, never validates (that is
:func:`symrecon.reconstruct`'s job) and never decides how blocks are
scheduled (that is the executor's, :mod:`symrecon.executor`).  Problems and
solvers are frozen dataclasses of arrays and plain values, so a block can be
pickled and sent to another process.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..errors import CapabilityError
from ..models import Sequential
from ..recheck import Recheck

__all__ = ["Problem", "BlockResult", "AbstractSolver"]

Float64Array = NDArray[np.float64]


class _LazyUnitTol:
    """The ``unit_tol`` field of :class:`Problem`, computed from the problem on first read when not given.

    It is (N, n_out) floats, and the closed form never reads it (its kernel
    applies the tolerance rule row by row), so it is not built up front.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = "_" + name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return None  # the field's default: "compute it"
        value = obj.__dict__.get(self._slot)
        if value is None:
            from ..tolerance import unit_tolerance

            value = unit_tolerance(obj.model, obj.y, atol=obj.tol, rtol=obj.rtol)
            value.setflags(write=False)
            obj.__dict__[self._slot] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self._slot] = value


@dataclass(frozen=True)
class Problem:
    """One validated, immutable reconstruction problem (or one block of its rows).

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
    tol, rtol : float
        Absolute and relative parts of the tolerance (see :mod:`symrecon.tolerance`).
    unit_tol : ndarray, shape (N, n_out), read-only
        The allowed ``|model(x)_j - y_j|`` per target and unit (computed on
        first read when not given).
    max_iter : int or None
        Iteration limit (None: the solver's default).
    single : bool
        The caller passed one target; the solver records ``history``.
    progress : bool or None
        Show a progress bar (None: only for long batch runs).
    """

    model: Sequential
    y: Float64Array
    x0: Float64Array | None
    lower: Float64Array | None
    upper: Float64Array | None
    tol: float
    max_iter: int | None
    single: bool
    progress: bool | None = None
    rtol: float = 0.0
    unit_tol: Any = _LazyUnitTol()

    @property
    def row_tol(self) -> Float64Array:
        """The allowed max-norm residual per target (N,): the strictest unit's tolerance."""
        assert self.unit_tol is not None
        return np.min(self.unit_tol, axis=1)

    @property
    def kernel_tol(self) -> float:
        """One tolerance for a whole block (the strictest row's), for kernels that take a scalar."""
        return float(np.min(self.row_tol))

    @property
    def n_targets(self) -> int:
        return int(self.y.shape[0])

    @property
    def has_bounds(self) -> bool:
        return self.lower is not None

    def rows(self, rows: slice | NDArray[np.intp], x0: Float64Array | None = None) -> "Problem":
        """The same problem restricted to some targets.

        A slice gives views (no copy); an index array copies.  ``x0`` replaces
        the starting points of the selected rows when given.
        """
        start = self.x0[rows] if (x0 is None and self.x0 is not None) else x0
        assert self.unit_tol is not None
        return dataclasses.replace(self, y=_read_only(self.y[rows]), unit_tol=_read_only(self.unit_tol[rows]),
                                   x0=None if start is None else _read_only(start))


def _read_only(a: Float64Array) -> Float64Array:
    if a.flags.writeable:
        a = a.view()
        a.setflags(write=False)
    return a


@dataclass(frozen=True)
class BlockResult:
    """What a solver returns for a block of ``n`` rows: raw arrays, nothing re-checked yet.

    Attributes
    ----------
    x : ndarray, shape (n, n_in)
        The answers (NaN where no answer was produced).
    status : ndarray of int8, shape (n,)
        :class:`~symrecon.Status` codes; 0 (``NOT_RUN``) where the solver did not reach the row.
    n_iter : ndarray of int64, shape (n,)
    method : str or ndarray of object, shape (n,)
        The concrete method per row (``auto`` gives one per row).
    history : ndarray, shape (k, n_in), or None
        ``x`` per iteration (single target only).
    null_basis : ndarray, shape (n_in, k), or None
        Directions that do not change the output (closed form, wide first layer).
    stats : Mapping
        Solver extras (``nfev``, ...); counts are summed over blocks by the executor.
    recheck : Recheck or None
        The forward re-check of ``x``, when the solver's kernel ran it (the
        closed form); the result then takes it instead of its own pass.
    """

    x: Float64Array
    status: NDArray[np.int8]
    n_iter: NDArray[np.int64]
    method: str | NDArray[np.object_]
    history: Float64Array | None = None
    null_basis: Float64Array | None = None
    stats: Mapping[str, Any] = field(default_factory=dict)
    recheck: Recheck | None = None


class AbstractSolver(ABC):
    """A reconstruction method.  Subclasses are frozen dataclasses whose fields are options.

    Class attributes declare what the solver can do; :func:`symrecon.reconstruct`
    calls :meth:`check_capabilities` before any work, so ``solve_block``
    never has to check.
    """

    #: registry key, e.g. ``"gd"``
    name: ClassVar[str]
    #: honours box bounds
    supports_bounds: ClassVar[bool] = False
    #: closed form (no iteration, no starting point)
    exact: ClassVar[bool] = False
    #: the solver leaves every NaN, inf or out-of-image target short of ``EXACT`` (so that
    #: ``reconstruct`` may skip its scans of the targets and redo them only then)
    flags_bad_targets: ClassVar[bool] = False
    #: decides targets exactly within finite bounds, for piecewise-linear networks only (``milp``)
    requires_bounds: ClassVar[bool] = False
    #: used when ``max_iter`` is None
    default_max_iter: ClassVar[int | None] = None
    #: rows per block handed to :meth:`solve_block` by the executor (the progress bar's step)
    block_size: ClassVar[int] = 16384
    #: keys of ``stats`` that are counts, summed over blocks (others are taken from the first block)
    additive_stats: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def solve_block(self, problem: Problem) -> BlockResult:
        """Reconstruct ``x`` for every target of one block of rows."""

    def prepare(self, problem: Problem) -> None:
        """Compile (or load from numba's cache) every kernel a solve of ``problem`` may need.

        Called once by the executor before the first block, so that no block
        pauses to compile in the middle of a batch.  The default does nothing.
        """

    def check_capabilities(self, problem: Problem) -> None:
        """Raise :class:`~symrecon.errors.CapabilityError` for a request beyond this solver."""
        from . import SOLVERS

        if problem.has_bounds and not self.supports_bounds:
            takers = ", ".join(sorted(n for n, c in SOLVERS.items() if c.supports_bounds))
            raise CapabilityError(f"method {self.name!r} does not support bounds; methods that do: {takers}")
        if problem.x0 is not None and self.exact:
            raise CapabilityError(f"method {self.name!r} is a closed form and takes no starting point x0")

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
