"""The one result type every solver returns: :class:`Reconstruction`.

``success`` is never taken from a solver's word: :meth:`Reconstruction.build`
re-runs the model forward on the returned ``x`` and compares the output with
the target.  ``status`` and ``message`` derive from the same check, so they can
never disagree with ``success``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .recheck import DeferredOutput, Recheck, forward_rows, max_residual
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
        The requested output and the model's output at ``x`` (re-computed;
        where the closed form's kernel re-checked the rows itself, computed
        when first read: the residual and verdicts are the kernel's, equal to
        ``y_pred``'s to rounding).
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
    _y_pred: "NDArray[np.float64] | DeferredOutput" = field(repr=False)
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
        # a solver that re-checked its answers itself never needs the (N, n_out) tolerances
        unit_tol = None if _recheck_of(block) is not None else problem.unit_tol
        return cls.build(problem.model, block, problem.y, tol=problem.tol, rtol=problem.rtol,
                         unit_tol=unit_tol, elapsed=elapsed, single=problem.single, owned=True)

    @classmethod
    def build(cls, model: Any, block: "BlockResult", y_target: NDArray[np.float64], *, tol: float,
              elapsed: float, single: bool, rtol: float = 0.0, unit_tol: NDArray[np.float64] | None = None,
              owned: bool = False) -> "Reconstruction":
        """Assemble a result from a solver's raw arrays, re-checking ``x`` by a forward pass.

        Parameters
        ----------
        model : Sequential
        block : BlockResult
            ``x`` (N, n_in) and the solver's own verdicts: a success claim
            with a residual above tolerance becomes :attr:`Status.INACCURATE`,
            a failure claim within tolerance becomes :attr:`Status.CONVERGED`
            (``NOT_RUN`` and ``INFEASIBLE`` rows are left as they are).  Its
            ``recheck``, when the solver's kernel ran the forward pass itself
            (for these ``tol``, ``rtol``), is taken instead of a second pass.
        y_target : ndarray, shape (N, n_out)
        tol, rtol : float
            Absolute and relative tolerance (see :mod:`symrecon.tolerance`).
        elapsed : float
            Wall time in seconds.
        single : bool
            Squeeze the batch axis (the caller passed one target).
        unit_tol : ndarray (N, n_out), optional
            The per-unit tolerance ``tol`` and ``rtol`` give (computed here when not given).
        owned : bool
            The arrays were created by symrecon for this result: frozen in
            place instead of copied.
        """
        x = _frozen(np.asarray(block.x, dtype=np.float64), owned)
        n = x.shape[0]
        check = _recheck_of(block)
        y_pred: Any
        if check is not None:
            y_pred, residual, ok = check
            if y_pred is None:  # the kernel judged the rows without keeping their outputs
                y_pred = DeferredOutput(model, x, single)
        else:
            y_pred = forward_rows(model, x)
            residual = max_residual(y_pred, y_target)
            if unit_tol is None:
                unit_tol = unit_tolerance(model, y_target, atol=tol, rtol=rtol)
            ok = within(y_pred, y_target, unit_tol)
        status = block.status
        mine = owned and isinstance(status, np.ndarray) and status.dtype == np.int8 and status.flags.writeable
        codes = _rejudged(status if mine else np.array(status, dtype=np.int8), ok)  # re-judged in place when ours
        methods = np.asarray(block.method, dtype=object)
        if methods.ndim == 0:  # one method for every row: a read-only view, not a million references
            methods = np.broadcast_to(np.array(str(block.method), dtype=object), (n,))
        iters = np.broadcast_to(np.asarray(block.n_iter, dtype=np.int64), (n,))
        affine = None if block.null_basis is None else AffineSet(point=x, null_basis=block.null_basis)
        common: dict[str, Any] = {"elapsed": float(elapsed), "tol": float(tol), "rtol": float(rtol),
                                  "stats": MappingProxyType(dict(block.stats))}
        if single:
            return cls(x=x[0], y_target=_frozen(y_target[0]), _y_pred=_output(y_pred, 0),
                       residual=float(residual[0]), status=Status(int(codes[0])), method=str(methods[0]),
                       n_iter=int(iters[0]), history=_frozen(block.history, owned),
                       affine_set=_squeeze_affine(affine), within_tol=bool(ok[0]), **common)
        return cls(x=x, y_target=_frozen(y_target), _y_pred=_output(y_pred),
                   residual=_frozen(residual, True), status=_frozen(codes, True), method=_frozen(methods, True),
                   n_iter=_frozen(iters if owned else iters.copy(), owned), history=None, affine_set=affine,
                   within_tol=_frozen(ok, True), **common)

    def __reduce__(self) -> tuple[Any, ...]:
        # stats is a read-only mapping proxy, which does not pickle: sent as a dict, frozen again on load
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["stats"] = dict(self.stats)
        return _unpickled, (values,)

    # ------------------------------------------------------------------
    @property
    def y_pred(self) -> NDArray[np.float64]:
        """``model(x)``: see the class docstring."""
        value = self._y_pred
        return value.value() if isinstance(value, DeferredOutput) else value

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
    def kind(self):
        """What sort of answer each row is (str, or ndarray of str for a batch).

        ``"exact"`` (closed form or a certified exact method), ``"exact-set"``
        (``x`` is one member of the exact solution set in :attr:`affine_set`),
        ``"least-squares"`` (the solver marked the row as a least-squares
        answer), ``"infeasible"`` (proved: no input reaches the target),
        ``"undecided"`` (not decided, or not run) and ``"local"`` (an iterative
        answer: re-checked, but no guarantee it is the only one or that none
        exists when it failed).
        """
        codes = np.atleast_1d(np.asarray(self.status, dtype=np.int64))
        kinds = _KIND_BY_CODE[codes].astype(object)
        methods = np.broadcast_to(np.atleast_1d(np.asarray(self.method, dtype=object)), codes.shape)
        ok = np.atleast_1d(np.asarray(self.within_tol, dtype=bool))
        kinds[ok & np.isin(methods, _CERTIFIED_METHODS)] = "exact"
        if self.affine_set is not None and self.affine_set.dimension > 0:
            kinds[kinds == "exact"] = "exact-set"
        least = self.stats.get("least_squares")
        if least is not None:
            kinds[np.broadcast_to(np.asarray(least, dtype=bool), codes.shape)] = "least-squares"
        return str(kinds[0]) if isinstance(self.status, Status) else kinds

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
            return _sentence(self.status.message, reason,
                             self._advice(self.status, str(self.method), float(np.max(self.residual))))
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

    def _advice(self, status: Status, method: str, residual: float | None = None) -> str:
        return advice(status, method, self.stats.get("max_iter"), self.stats.get("restarts"), residual)

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


#: the kind of answer each status code stands for (indexed by code; see Reconstruction.kind)
_KIND_BY_CODE = np.array([
    "undecided",   # NOT_RUN
    "exact",       # EXACT
    "local",       # CONVERGED
    "local",       # MAX_ITER
    "local",       # STALLED
    "local",       # DIVERGED
    "local",       # INACCURATE
    "infeasible",  # INFEASIBLE
    "undecided",   # UNDECIDED
], dtype=object)

#: methods whose re-checked answers are certified, not local (a MILP witness is exact)
_CERTIFIED_METHODS = ("analytic", "milp")


def _recheck_of(block: "BlockResult") -> Recheck | None:
    """The block's own forward re-check, if it has one for every row."""
    check = block.recheck
    if check is None or check.residual.shape[0] != np.shape(block.x)[0]:
        return None
    return check


def _unpickled(values: dict[str, Any]) -> Reconstruction:
    """A :class:`Reconstruction` from :meth:`Reconstruction.__reduce__`'s values, read-only again."""
    frozen = {name: (_frozen(v, True) if isinstance(v, np.ndarray) else v) for name, v in values.items()}
    frozen["stats"] = MappingProxyType(dict(values["stats"]))
    return Reconstruction(**frozen)


def _output(y_pred: "NDArray[np.float64] | DeferredOutput", row: int | None = None) -> Any:
    """The result's ``y_pred``: the array, frozen in place (one ``row`` of it), or the deferred one as it is."""
    if isinstance(y_pred, DeferredOutput):
        return y_pred
    return _frozen(y_pred if row is None else y_pred[row], True)


def _verdict_table(within_tol: bool) -> NDArray[np.int8]:
    """Code -> re-judged code, for a row whose re-checked residual is (or is not) within tolerance."""
    table = np.arange(256, dtype=np.uint8).astype(np.int8)  # every int8 code, unchanged by default
    if within_tol:
        keep = {int(c) for c in SUCCESS_CODES} | {int(Status.NOT_RUN), int(Status.INFEASIBLE)}
        table[[c for c in range(256) if c not in keep]] = Status.CONVERGED
    else:
        table[SUCCESS_CODES.astype(np.uint8)] = Status.INACCURATE
    return table


# lookup tables, indexed by the code's byte: a pass of table lookups over the batch instead of np.isin's sorts
_IF_WITHIN, _IF_OUTSIDE = _verdict_table(True), _verdict_table(False)


def _rejudged(codes: NDArray[np.int8], ok: NDArray[np.bool_]) -> NDArray[np.int8]:
    """The solver's verdicts, corrected by the re-check (``codes`` is modified and returned).

    A claimed success (``EXACT``, ``CONVERGED``) outside tolerance becomes
    ``INACCURATE``; any other claim within tolerance becomes ``CONVERGED``,
    except ``NOT_RUN`` and ``INFEASIBLE``.
    """
    byte = codes.view(np.uint8)
    codes[...] = _IF_WITHIN[byte] if ok.all() else np.where(ok, _IF_WITHIN[byte], _IF_OUTSIDE[byte])
    return codes


def _sentence(*parts: str | None) -> str:
    return " ".join(p[0].upper() + p[1:] for p in parts if p)


def _squeeze_affine(aff: AffineSet | None) -> AffineSet | None:
    if aff is None or np.ndim(aff.point) == 1:
        return aff
    return AffineSet(point=_frozen(aff.point[0]), null_basis=aff.null_basis)
