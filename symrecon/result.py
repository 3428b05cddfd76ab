"""The one result type every solver returns: :class:`Reconstruction`.

``success`` is never taken from a solver's word: :meth:`Reconstruction.build`
re-runs the model forward on the returned ``x`` and compares the output with
the target.  ``status`` and ``message`` derive from the same check, so they can
never disagree with ``success``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .recheck import forward_rows, max_residual
from .tolerance import DEFAULT_ATOL, unit_tolerance, within
from .sets import AffineSet
from .status import SUCCESS_CODES, Status, advice

if TYPE_CHECKING:
    from .solvers._base import BlockResult, Problem

__all__ = ["Status", "AffineSet", "Reconstruction", "DEFAULT_TOL"]

#: Default absolute tolerance (see :mod:`symrecon.tolerance` for the whole rule).
DEFAULT_TOL = DEFAULT_ATOL


def _frozen(a: Any, owned: bool = False) -> Any:
    """A read-only array: ``a`` itself when symrecon created it (``owned``), else a copy."""
    if isinstance(a, np.ndarray):
        if not owned and a.flags.writeable:
            a = a.copy()
        a.setflags(write=False)
    return a


@dataclass(frozen=True, slots=True)
class Reconstruction:
    """The answer to ``y -> x``, from any method.

    Attributes
    ----------
    x : ndarray, shape (n_in,) or (N, n_in)
        The reconstructed input(s).
    y_target, y_pred : ndarray, shape (n_out,) or (N, n_out)
        The requested output and the model's output at ``x`` (re-computed).
    residual : float or ndarray (N,)
        ``max_i |y_pred_i - y_target_i|`` per target.
    status : Status or ndarray of int (N,)
        Why the solver stopped, re-judged against the residual; a batch holds
        :attr:`Status.code` values.
    method : str or ndarray of str (N,)
        The concrete method that produced each answer (never ``"auto"``).
    n_iter : int or ndarray of int (N,)
    elapsed : float
        Wall time in seconds.
    tol : float
        Tolerance the residual was judged by.
    history : ndarray (n_iter + 1, n_in) or None
        ``x`` per iteration, single target only.
    affine_set : AffineSet or None
        For a wide first layer solved in closed form: every input giving ``y``.
    stats : Mapping
        Solver extras (``nfev``, step sizes, ...).
    """

    x: NDArray[np.float64]
    y_target: NDArray[np.float64]
    y_pred: NDArray[np.float64]
    residual: float | NDArray[np.float64]
    status: Status | NDArray[np.int8]
    method: str | NDArray[np.object_]
    n_iter: int | NDArray[np.int64]
    elapsed: float
    tol: float
    history: NDArray[np.float64] | None = None
    affine_set: AffineSet | None = None
    stats: Mapping[str, Any] = field(default_factory=dict)
    rtol: float = 0.0
    within_tol: bool | NDArray[np.bool_] = False

    # ------------------------------------------------------------------
    @classmethod
    def from_block(cls, problem: "Problem", block: "BlockResult", *, elapsed: float) -> "Reconstruction":
        """Assemble the result of a solver's :class:`~symrecon.solvers.BlockResult` (arrays it owns, not copied)."""
        affine = None if block.null_basis is None else AffineSet(point=block.x, null_basis=block.null_basis)
        return cls.build(problem.model, block.x, problem.y, tol=problem.tol, rtol=problem.rtol,
                         unit_tol=problem.unit_tol, status=block.status, method=block.method,
                         n_iter=block.n_iter, elapsed=elapsed, single=problem.single, history=block.history,
                         affine_set=affine, stats=block.stats, owned=True)

    @classmethod
    def build(cls, model: Any, x: NDArray[np.float64], y_target: NDArray[np.float64], *, tol: float,
              status: Status | NDArray[np.int8], method: str | NDArray[np.object_],
              n_iter: int | NDArray[np.int64], elapsed: float, single: bool,
              history: NDArray[np.float64] | None = None, affine_set: AffineSet | None = None,
              stats: Mapping[str, Any] | None = None, owned: bool = False, rtol: float = 0.0,
              unit_tol: NDArray[np.float64] | None = None) -> "Reconstruction":
        """Assemble a result, re-checking ``x`` by a forward pass.

        Parameters
        ----------
        x, y_target : ndarray, shape (N, n_in) / (N, n_out)
        status : Status or int array (N,)
            The solver's own verdict; a success claim with a residual above
            ``tol`` becomes :attr:`Status.INACCURATE`, and a failure claim with
            a residual within ``tol`` becomes :attr:`Status.CONVERGED`
            (``NOT_RUN`` and ``INFEASIBLE`` rows are left as they are).
        method : str or array of str (N,)
        n_iter : int or int array (N,)
        single : bool
            Squeeze the batch axis (the caller passed one target).
        owned : bool
            The arrays were created by symrecon for this result: frozen in
            place instead of copied.
        rtol, unit_tol : float, ndarray (N, n_out)
            The relative tolerance and the per-unit tolerance it gives with
            ``tol`` (computed here when not given; see :mod:`symrecon.tolerance`).
        """
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        y_pred = forward_rows(model, x)
        residual = max_residual(y_pred, y_target)
        if unit_tol is None:
            unit_tol = unit_tolerance(model, y_target, atol=tol, rtol=rtol)
        ok = within(y_pred, y_target, unit_tol)

        codes = np.full(n, status, dtype=np.int8) if isinstance(status, Status) else np.array(status, dtype=np.int8)
        claimed = np.isin(codes, SUCCESS_CODES)
        codes[claimed & ~ok] = Status.INACCURATE
        rejudge = ~claimed & ok & ~np.isin(codes, [Status.NOT_RUN, Status.INFEASIBLE])
        codes[rejudge] = Status.CONVERGED

        methods = np.asarray(method, dtype=object)
        if methods.ndim == 0:
            methods = np.full(n, str(method), dtype=object)
        iters = np.broadcast_to(np.asarray(n_iter, dtype=np.int64), (n,))
        stats_view = MappingProxyType(dict(stats or {}))

        if single:
            return cls(
                x=_frozen(x[0], owned), y_target=_frozen(y_target[0]), y_pred=_frozen(y_pred[0], True),
                residual=float(residual[0]), status=Status(int(codes[0])), method=str(methods[0]),
                n_iter=int(iters[0]), elapsed=float(elapsed), tol=float(tol), history=_frozen(history, owned),
                affine_set=_squeeze_affine(affine_set), stats=stats_view, rtol=float(rtol), within_tol=bool(ok[0]),
            )
        return cls(
            x=_frozen(x, owned), y_target=_frozen(y_target), y_pred=_frozen(y_pred, True),
            residual=_frozen(residual, True), status=_frozen(codes, True), method=_frozen(methods, True),
            n_iter=_frozen(iters if owned else iters.copy(), owned), elapsed=float(elapsed), tol=float(tol),
            history=None, affine_set=affine_set, stats=stats_view, rtol=float(rtol), within_tol=_frozen(ok, True),
        )

    # ------------------------------------------------------------------
    @property
    def is_batch(self) -> bool:
        return not isinstance(self.status, Status)

    @property
    def success(self):
        """True where every output unit is within tolerance (bool, or bool array for a batch).

        The rule (``tol``, ``rtol`` and the image ends) is in :mod:`symrecon.tolerance`.
        """
        return self.within_tol

    @property
    def statuses(self) -> list[Status]:
        """Per-target :class:`Status` list (one element for a single target)."""
        if isinstance(self.status, Status):
            return [self.status]
        return [Status.from_code(c) for c in self.status]

    @property
    def message(self) -> str:
        """The status message; for a batch, counts per status."""
        if isinstance(self.status, Status):
            reason = self.stats.get("reason") if self.status is Status.INFEASIBLE else None
            return _sentence(self.status.message, reason, self._advice(self.status, str(self.method)))
        counts = self.summary()["status_counts"]
        n = len(self.status)
        parts = [f"{int(np.sum(self.success))} of {n} targets within tolerance {self.tol:g}."]
        methods = np.asarray(self.method, dtype=object)
        for name, count in counts.items():
            status = Status[name]
            if not status.success:
                first = str(methods[np.flatnonzero(np.asarray(self.status) == status)[0]])
                parts.append(f"{count}: {_sentence(status.message, None, self._advice(status, first))}")
        return " ".join(parts)

    def _advice(self, status: Status, method: str) -> str:
        return advice(status, method, self.stats.get("max_iter"))

    def summary(self) -> dict[str, Any]:
        """Plain-Python (JSON-safe) summary of the result."""
        codes = [s.name for s in self.statuses]
        counts: dict[str, int] = {}
        for name in codes:
            counts[name] = counts.get(name, 0) + 1
        res = np.atleast_1d(np.asarray(self.residual, dtype=np.float64))
        methods = np.atleast_1d(np.asarray(self.method, dtype=object))
        method_counts: dict[str, int] = {}
        for m in methods:
            method_counts[str(m)] = method_counts.get(str(m), 0) + 1
        return {
            "n_targets": int(res.size),
            "n_success": int(np.sum(self.within_tol)),
            "max_residual": float(np.max(res)),
            "tol": float(self.tol),
            "rtol": float(self.rtol),
            "methods": method_counts,
            "status_counts": counts,
            "elapsed": float(self.elapsed),
        }

    def __repr__(self) -> str:
        if self.is_batch:
            s = self.summary()
            return (f"Reconstruction(message={self.message!r}, n_targets={s['n_targets']}, "
                    f"max_residual={s['max_residual']:.3g}, methods={s['methods']}, elapsed={self.elapsed:.3g}s)")
        return (f"Reconstruction(message={self.message!r}, success={self.success}, method={self.method!r}, "
                f"x={np.array2string(np.asarray(self.x), precision=10)}, residual={self.residual:.3g}, "
                f"n_iter={self.n_iter}, elapsed={self.elapsed:.3g}s)")

    def report(self) -> str:
        """Fixed-width text block describing the result."""
        from .report import reconstruction_report

        return reconstruction_report(self)


def _sentence(*parts: str | None) -> str:
    return " ".join(p[0].upper() + p[1:] for p in parts if p)


def _squeeze_affine(aff: AffineSet | None) -> AffineSet | None:
    if aff is None or np.ndim(aff.point) == 1:
        return aff
    return AffineSet(point=_frozen(aff.point[0]), null_basis=aff.null_basis)
