"""Targets as Dask arrays: :func:`symrecon.reconstruct` on a cluster, lazily, one task per chunk of rows.

When ``y`` is a :class:`dask.array.Array`, :func:`symrecon.reconstruct` checks
what it can without running anything (2-D, ``n_out`` columns, a real dtype,
known chunk sizes, the options) and returns a :class:`DaskReconstruction`:
every array field is a dask array, computed chunk by chunk when asked for.

How a chunk is solved: one task per chunk of rows calls the in-memory
:func:`symrecon.reconstruct` on it (validation, the solver's blocks, the
forward re-check), so a row gets the same answer and the same status as in
memory.  The task packs all per-row fields into one float64 block (see
:data:`COLUMNS`); ``x``, ``status``, ... are slices of it, so computing several
fields together solves each chunk once.  The model, the solver and the options
travel as one :func:`dask.delayed` object that every chunk's task depends on:
the scheduler sends it to each worker once, never once per chunk.  numba
kernels come from the on-disk cache (:mod:`symrecon._cache`), so a worker
process loads them instead of compiling.

Nothing here imports Dask until a Dask array is passed in (``pip install
symrecon[dask]``).

Examples
--------
>>> import dask, dask.array as da, numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[2.0]], [1.0], "tanh")])
>>> y = da.from_array(np.full((6, 1), 0.5), chunks=(2, 1))
>>> res = sr.reconstruct(m, y, method="newton")      # nothing has run yet
>>> res.x.chunks
((2, 2, 2), (1,))
>>> with dask.config.set(scheduler="threads"):
...     s = res.summary()
>>> s["n_targets"], s["n_success"], s["status_counts"]
(6, 6, {'CONVERGED': 6})
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidParameterError, InvalidValueError, ShapeError, SymreconError
from .result import Reconstruction
from .solvers import SOLVERS, AbstractSolver
from .status import Status

if TYPE_CHECKING:
    import dask.array as da

    from .models import Dense, Sequential

__all__ = ["is_dask_array", "reconstruct_dask", "DaskReconstruction", "COLUMNS"]

#: the per-row fields packed after ``x`` (n_in) and ``y_pred`` (n_out) in each chunk's float64 block
COLUMNS = ("residual", "status", "n_iter", "success", "method")


def is_dask_array(value: object) -> bool:
    """True for a :class:`dask.array.Array`; never imports Dask (only asks whether it is loaded).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> is_dask_array(da.zeros((4, 2), chunks=2)), is_dask_array(np.zeros((4, 2)))
    (True, False)
    """
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(value, module.Array)


@dataclass(frozen=True)
class _ChunkJob:
    """Everything a chunk's task needs besides its rows: sent to each worker once."""

    model: "Sequential"
    solver: AbstractSolver
    bounds: object
    tol: float | None
    rtol: float | None
    max_iter: int | None
    x0: NDArray[np.float64] | None  # one start for every row, or None
    method_names: tuple[str, ...]  # method code -> name (a row's ``method`` column holds the index)


def _solve_chunk(y: NDArray[np.float64], *rest: Any, block_info: dict | None = None) -> NDArray[np.float64]:
    """Solve one chunk of rows in memory; the packed float64 block (rows, n_in + n_out + len(COLUMNS))."""
    from .reconstruct import reconstruct

    job: _ChunkJob = rest[-1]
    x0 = rest[0] if len(rest) == 2 else job.x0
    try:
        res = reconstruct(job.model, y, method=job.solver, x0=x0, bounds=job.bounds, tol=job.tol, rtol=job.rtol,
                          max_iter=job.max_iter, progress=False)
    except SymreconError as exc:
        first = block_info[0]["array-location"][0][0] if block_info else 0
        # the message counts targets within the chunk; say where the chunk starts
        exc.args = (f"{exc.args[0] if exc.args else exc} (in the chunk of dask targets starting at row {first}: "
                    f"target k of the message is row {first} + k)", *exc.args[1:])
        raise
    return _pack(res, job.method_names)


def _pack(res: Reconstruction, method_names: tuple[str, ...]) -> NDArray[np.float64]:
    x = np.asarray(res.x)
    n = x.shape[0]
    names = np.asarray(res.method, dtype=object)
    uniques, inverse = np.unique(names.astype(str), return_inverse=True)
    codes = np.array([method_names.index(str(u)) for u in uniques], dtype=np.float64)[inverse.reshape(n)]
    # float64 holds every status, method code and iteration count (< 2**53) exactly
    per_row = np.column_stack([res.residual, res.status, res.n_iter, res.success, codes]).astype(np.float64)
    return np.concatenate([x, np.asarray(res.y_pred), per_row], axis=1)


def _check_targets(y: "da.Array", n_out: int) -> tuple["da.Array", tuple[str, ...]]:
    """Shape, dtype and chunk checks that need no computation; ``y`` one chunk wide, and notes."""
    if y.ndim != 2:
        raise ShapeError(f"dask targets y must be 2-D (N, {n_out}), one target per row; got {y.ndim}-D "
                         f"shape {y.shape}")
    if y.dtype.kind not in "biuf":
        raise InvalidValueError(f"dask targets y must hold real numbers; got dtype {y.dtype}")
    if y.shape[1] != n_out:
        raise ShapeError(f"dask targets y must have shape (N, {n_out}) to match the model's n_out = {n_out}; "
                         f"got shape {y.shape}")
    if any(math.isnan(c) for c in y.chunks[0]):
        raise ShapeError("dask targets y have unknown chunk sizes along rows; call y.compute_chunk_sizes() first "
                         "(e.g. after reading Parquet: to_dask_array(lengths=True))")
    if y.shape[0] == 0:
        raise ShapeError(f"dask targets y are an empty batch (shape {y.shape}); expected at least one row")
    notes: tuple[str, ...] = ()
    if len(y.chunks[1]) > 1:
        notes = (f"y was chunked along columns {y.chunks[1]}; rechunked to whole rows (one chunk of {n_out} "
                 "columns), since each target needs all its outputs",)
        y = y.rechunk({1: -1})
    return y, notes


def _aligned_x0(x0: Any, y: "da.Array", n_in: int) -> tuple["da.Array | None", NDArray[np.float64] | None]:
    """``x0`` as one row for all targets, or as a dask array with ``y``'s row chunks."""
    import dask.array as da

    from .validation import as_real_array

    if x0 is None:
        return None, None
    if not is_dask_array(x0) and np.ndim(x0) <= 1:
        row = as_real_array(x0, "starting point x0").reshape(-1)
        if row.shape != (n_in,):
            raise ShapeError(f"x0 must have shape ({n_in},) or (N, {n_in}) to match y; got shape {np.shape(x0)}")
        return None, row
    arr: Any = x0 if is_dask_array(x0) else as_real_array(x0, "starting point x0")
    if np.ndim(arr) != 2 or np.shape(arr) != (y.shape[0], n_in):
        raise ShapeError(f"x0 must have shape ({n_in},) or ({y.shape[0]}, {n_in}) to match y; got shape "
                         f"{np.shape(arr)}")
    return da.asarray(arr).rechunk((y.chunks[0], -1)), None


def reconstruct_dask(model: "Sequential | Dense", y: "da.Array", solver: AbstractSolver, *, x0: object = None,
                     bounds: object = None, tol: float | None = None, rtol: float | None = None,
                     max_iter: int | None = None) -> "DaskReconstruction":
    """The lazy path of :func:`symrecon.reconstruct` for a dask array of targets (called by it).

    Everything that needs no data is checked here, before any task runs: the
    options on a one-row stand-in problem, the shape, dtype and chunks of
    ``y`` and of ``x0``.  Values (finite, inside the output image) are checked
    per chunk when it runs, with the same errors as in memory.

    Examples
    --------
    >>> import dask.array as da, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[2.0, 0.0], [0.0, 1.0]], [0.0, 1.0], "tanh")])
    >>> sr.reconstruct(m, da.zeros((10, 3), chunks=5))
    Traceback (most recent call last):
    ...
    symrecon.errors.ShapeError: dask targets y must have shape (N, 2) to match the model's n_out = 2; got shape (10, 3)
    """
    import dask
    import dask.array as da

    from .reconstruct import _as_model, make_problem

    seq = _as_model(model)
    y, notes = _check_targets(y, seq.n_out)
    x0_blocks, x0_row = _aligned_x0(x0, y, seq.n_in)
    # the options, bounds and capabilities, checked once on a stand-in target inside the image
    stand_in = seq.forward(np.zeros((1, seq.n_in)) if x0_row is None else x0_row.reshape(1, -1))
    solver.check_capabilities(make_problem(seq, stand_in, x0=x0_row, bounds=bounds, tol=tol, rtol=rtol,
                                           max_iter=max_iter))
    names = tuple(sorted({*SOLVERS, solver.name}))
    job = dask.delayed(_ChunkJob(seq, solver, bounds, tol, rtol, max_iter, x0_row, names), pure=True)
    width = seq.n_in + seq.n_out + len(COLUMNS)
    arrays = (y,) if x0_blocks is None else (y, x0_blocks)
    packed = da.map_blocks(_solve_chunk, *arrays, job, dtype=np.float64, chunks=(y.chunks[0], (width,)),
                           token=f"symrecon-{solver.name}", meta=np.empty((0, 0), dtype=np.float64))
    from .tolerance import DEFAULT_ATOL, DEFAULT_RTOL

    return DaskReconstruction(packed=packed, y_target=y, n_in=seq.n_in, n_out=seq.n_out, method_names=names,
                              tol=float(DEFAULT_ATOL if tol is None else tol),
                              rtol=float(DEFAULT_RTOL if rtol is None else rtol),
                              stats=MappingProxyType({"notes": notes, "max_iter": max_iter,
                                                      "n_chunks": len(y.chunks[0])}))


def _names_of(codes: NDArray[np.float64], names: tuple[str, ...]) -> NDArray[np.object_]:
    return np.asarray(names, dtype=object)[codes.astype(np.intp)]


@dataclass(frozen=True)
class DaskReconstruction:
    """A batch reconstruction whose per-row fields are dask arrays, computed per chunk when asked for.

    Built by :func:`symrecon.reconstruct` from a dask array of targets.  The
    fields are slices of one packed array (one task per chunk), so
    ``dask.compute(res.x, res.status)`` solves each chunk once; to use several
    fields one after the other, :meth:`persist` first (or :meth:`compute`).

    Attributes
    ----------
    packed : dask.array.Array, shape (N, n_in + n_out + 5)
        ``x``, ``y_pred`` and the columns of :data:`COLUMNS`, per row.
    y_target : dask.array.Array, shape (N, n_out)
    n_in, n_out : int
    method_names : tuple of str
        Method code (the packed ``method`` column) -> name.
    tol, rtol : float
        The tolerance every row was judged by (see :mod:`symrecon.tolerance`).
    stats : Mapping
        ``notes`` (e.g. a rechunk along columns), ``max_iter``, ``n_chunks``.

    Examples
    --------
    >>> import dask, dask.array as da, numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    >>> res = sr.reconstruct(m, da.from_array(np.array([[100.0], [75.0]]), chunks=1), method="analytic")
    >>> with dask.config.set(scheduler="threads"):
    ...     print(res.x.compute().ravel(), res.status.compute(), res.method.compute())
    [312.5 250. ] [1 1] ['analytic' 'analytic']
    """

    packed: "da.Array"
    y_target: "da.Array"
    n_in: int
    n_out: int
    method_names: tuple[str, ...]
    tol: float
    rtol: float
    stats: Any = dataclasses.field(default_factory=dict)

    def _col(self, name: str) -> "da.Array":
        return self.packed[:, self.n_in + self.n_out + COLUMNS.index(name)]

    @property
    def is_batch(self) -> bool:
        return True

    @property
    def x(self) -> "da.Array":
        """Reconstructed inputs, shape (N, n_in), float64 (NaN where no answer was produced)."""
        return self.packed[:, : self.n_in]

    @property
    def y_pred(self) -> "da.Array":
        """``model(x)`` by the forward re-check, shape (N, n_out)."""
        return self.packed[:, self.n_in: self.n_in + self.n_out]

    @property
    def residual(self) -> "da.Array":
        """``max_j |y_pred_j - y_j|`` per row, shape (N,)."""
        return self._col("residual")

    @property
    def status(self) -> "da.Array":
        """:class:`~symrecon.Status` codes per row, shape (N,), int8."""
        return self._col("status").astype(np.int8)

    @property
    def n_iter(self) -> "da.Array":
        """Iterations per row, shape (N,), int64."""
        return self._col("n_iter").astype(np.int64)

    @property
    def success(self) -> "da.Array":
        """Within tolerance per row (the forward re-check), shape (N,), bool."""
        return self._col("success").astype(bool)

    @property
    def method(self) -> "da.Array":
        """The concrete method per row, shape (N,), object (str)."""
        import dask.array as da

        return da.map_blocks(_names_of, self._col("method"), self.method_names, dtype=object)

    def summary(self, **compute_kwargs: Any) -> dict[str, Any]:
        """Counts per status and method, successes and the worst residual, as plain Python (JSON-safe).

        Computed by reductions over the chunks: ``x`` is never gathered.
        ``compute_kwargs`` go to :func:`dask.compute` (e.g. ``scheduler=``).
        """
        import dask

        return self.summary_from_parts(*dask.compute(*self.summary_parts(), **compute_kwargs))

    def summary_parts(self) -> tuple["da.Array", ...]:
        """The lazy reductions behind :meth:`summary` (to compute together with writes of the fields)."""
        import dask.array as da

        statuses = da.bincount(self._col("status").astype(np.intp), minlength=len(Status))
        methods = da.bincount(self._col("method").astype(np.intp), minlength=len(self.method_names))
        return statuses, methods, self.success.sum(), self.residual.max()

    def summary_from_parts(self, statuses: NDArray[np.int64], methods: NDArray[np.int64], n_success: Any,
                           worst: Any) -> dict[str, Any]:
        """:meth:`summary` from the computed :meth:`summary_parts`."""
        return {
            "n_targets": int(np.sum(statuses)),
            "n_success": int(n_success),
            "max_residual": float(worst),
            "tol": self.tol,
            "rtol": self.rtol,
            "methods": {name: int(c) for name, c in zip(self.method_names, methods) if c},
            "status_counts": {Status(code).name: int(c) for code, c in enumerate(statuses) if c},
        }

    def persist(self, **kwargs: Any) -> "DaskReconstruction":
        """The same result with every chunk computed and kept (in the cluster's memory)."""
        return dataclasses.replace(self, packed=self.packed.persist(**kwargs), y_target=self.y_target.persist(**kwargs))

    def compute(self, **kwargs: Any) -> Reconstruction:
        """Gather everything into an in-memory :class:`~symrecon.Reconstruction` (needs all of ``x`` in memory)."""
        import dask

        t0 = time.perf_counter()
        packed, y = dask.compute(self.packed, self.y_target, **kwargs)
        x, y_pred = packed[:, : self.n_in], packed[:, self.n_in: self.n_in + self.n_out]
        cols = {name: packed[:, self.n_in + self.n_out + k] for k, name in enumerate(COLUMNS)}
        return Reconstruction(x=_frozen(x), y_target=_frozen(np.asarray(y, dtype=np.float64)),
                              _y_pred=_frozen(y_pred), residual=_frozen(cols["residual"]),
                              status=_frozen(cols["status"].astype(np.int8)),
                              method=_frozen(_names_of(cols["method"], self.method_names)),
                              n_iter=_frozen(cols["n_iter"].astype(np.int64)), elapsed=time.perf_counter() - t0,
                              tol=self.tol, rtol=self.rtol, stats=self.stats,
                              within_tol=_frozen(cols["success"].astype(bool)))

    def __repr__(self) -> str:
        return (f"DaskReconstruction(n_targets={self.packed.shape[0]}, n_in={self.n_in}, n_out={self.n_out}, "
                f"chunks={len(self.packed.chunks[0])}, tol={self.tol:g}; lazy: .summary(), .compute(), .persist())")


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a




def check_executor_for_dask(executor: str) -> None:
    """A dask array is scheduled by Dask; the in-memory executors do not apply."""
    if executor != "serial":
        raise InvalidParameterError(f"executor={executor!r} does not apply to dask targets: Dask schedules "
                                    "their chunks (choose the scheduler with dask.config.set or a Client)")
