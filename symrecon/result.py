"""The one result type every solver returns: :class:`Reconstruction`.

``success`` is never taken from a solver's word: :meth:`Reconstruction.build`
re-runs the model forward on the returned ``x`` and compares the output with
the target.  ``status`` and ``message`` derive from the same check, so they can
never disagree with ``success``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
from numpy.typing import NDArray

from .status import Status

__all__ = ["Status", "AffineSet", "Reconstruction", "DEFAULT_TOL"]

#: Default tolerance on the residual ``max_i |model(x)_i - y_i|`` (absolute).
DEFAULT_TOL = 1e-9


@dataclass(frozen=True)
class AffineSet:
    """The set ``{point + null_basis @ t}`` of inputs that all give the same output.

    Attributes
    ----------
    point : ndarray, shape (n_in,) or (N, n_in)
        The minimum-norm member (one per target for a batch).
    null_basis : ndarray, shape (n_in, k)
        Orthonormal basis of the directions that do not change the output.
    """

    point: NDArray[np.float64]
    null_basis: NDArray[np.float64]

    @property
    def dimension(self) -> int:
        return int(self.null_basis.shape[1])

    def sample(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """``point + null_basis @ t`` for ``t`` of shape ``(k,)`` (or ``(N, k)`` for a batch)."""
        return self.point + np.asarray(t, dtype=np.float64) @ self.null_basis.T


def _frozen(a):
    if isinstance(a, np.ndarray):
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

    x: Any
    y_target: Any
    y_pred: Any
    residual: Any
    status: Any
    method: Any
    n_iter: Any
    elapsed: float
    tol: float
    history: Any = None
    affine_set: AffineSet | None = None
    stats: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------
    @classmethod
    def build(cls, model, x: NDArray[np.float64], y_target: NDArray[np.float64], *, tol: float,
              status, method, n_iter, elapsed: float, single: bool, history=None,
              affine_set: AffineSet | None = None, stats: Mapping[str, Any] | None = None) -> "Reconstruction":
        """Assemble a result, re-checking ``x`` by a forward pass.

        Parameters
        ----------
        x, y_target : ndarray, shape (N, n_in) / (N, n_out)
        status : Status or int array (N,)
            The solver's own verdict; a success claim with a residual above
            ``tol`` becomes :attr:`Status.INACCURATE`, and a failure claim with
            a residual within ``tol`` becomes :attr:`Status.CONVERGED`.
        method : str or array of str (N,)
        n_iter : int or int array (N,)
        single : bool
            Squeeze the batch axis (the caller passed one target).
        """
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        with np.errstate(all="ignore"):
            y_pred = model.forward(x) if np.all(np.isfinite(x)) else _forward_finite_rows(model, x)
            residual = np.max(np.abs(y_pred - y_target), axis=1)
        residual = np.where(np.isfinite(residual), residual, np.inf)
        ok = residual <= tol

        codes = (np.full(n, status.code, dtype=np.int8) if isinstance(status, Status)
                 else np.asarray(status, dtype=np.int8).copy())
        claimed = np.isin(codes, [Status.EXACT.code, Status.CONVERGED.code])
        codes[claimed & ~ok] = Status.INACCURATE.code
        codes[~claimed & ok] = Status.CONVERGED.code

        methods = np.asarray(method, dtype=object)
        if methods.ndim == 0:
            methods = np.full(n, str(method), dtype=object)
        iters = np.broadcast_to(np.asarray(n_iter, dtype=np.int64), (n,)).copy()

        if single:
            return cls(
                x=_frozen(x[0]), y_target=_frozen(y_target[0]), y_pred=_frozen(y_pred[0]),
                residual=float(residual[0]), status=Status.from_code(codes[0]), method=str(methods[0]),
                n_iter=int(iters[0]), elapsed=float(elapsed), tol=float(tol), history=_frozen(history),
                affine_set=_squeeze_affine(affine_set), stats=MappingProxyType(dict(stats or {})),
            )
        return cls(
            x=_frozen(x), y_target=_frozen(y_target), y_pred=_frozen(y_pred), residual=_frozen(residual),
            status=_frozen(codes), method=_frozen(methods), n_iter=_frozen(iters), elapsed=float(elapsed),
            tol=float(tol), history=None, affine_set=affine_set, stats=MappingProxyType(dict(stats or {})),
        )

    # ------------------------------------------------------------------
    @property
    def is_batch(self) -> bool:
        return not isinstance(self.status, Status)

    @property
    def success(self):
        """True where the re-checked residual is within ``tol`` (bool, or bool array for a batch)."""
        if self.is_batch:
            return np.asarray(self.residual) <= self.tol
        return bool(self.residual <= self.tol)

    @property
    def statuses(self) -> list[Status]:
        """Per-target :class:`Status` list (one element for a single target)."""
        if self.is_batch:
            return [Status.from_code(c) for c in self.status]
        return [self.status]

    @property
    def message(self) -> str:
        """The status message; for a batch, counts per status."""
        if not self.is_batch:
            return self.status.message
        counts = self.summary()["status_counts"]
        n = len(self.status)
        parts = [f"{int(np.sum(self.success))} of {n} targets within tolerance {self.tol:g}."]
        for name, count in counts.items():
            if not Status[name].success:
                parts.append(f"{count}: {Status[name].message}")
        return " ".join(parts)

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
            "n_success": int(np.sum(res <= self.tol)),
            "max_residual": float(np.max(res)),
            "tol": float(self.tol),
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


def _forward_finite_rows(model, x):
    """Forward pass that leaves rows with non-finite ``x`` as NaN instead of raising."""
    out = np.full((x.shape[0], model.n_out), np.nan)
    good = np.all(np.isfinite(x), axis=1)
    if np.any(good):
        out[good] = model.forward(x[good])
    return out


def _squeeze_affine(aff: AffineSet | None) -> AffineSet | None:
    if aff is None or np.ndim(aff.point) == 1:
        return aff
    return AffineSet(point=_frozen(aff.point[0]), null_basis=aff.null_basis)
