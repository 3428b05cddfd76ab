"""The closed form of a softmax classifier: log-ratios of ``p``, then the inverse of the layers below.

``softmax(body(x)) = p`` holds exactly when ``body(x) Q = log(p) Q`` (see
:mod:`symrecon.softmax`), so the inverse of a classifier is the
:class:`~symrecon.symbolic.AnalyticInverse` of the reduced Dense chain
``x -> body(x) Q`` evaluated at ``r = log(p) Q``.  It exists when that chain
has one by the usual rules: e.g. multinomial logistic regression
(``Dense(..., activation="softmax")`` on the inputs; its affine set then
contains the free direction of the softmax where it reaches the input), or a
square invertible chain whose logit layer maps ``n - 1`` hidden units to
``n`` classes.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])
>>> inv = sr.analytic_inverse(m)
>>> inv.affine_set([0.2, 0.3, 0.5]).null_basis.round(4).ravel().tolist()   # the constant direction
[0.5774, 0.5774, 0.5774]
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike, NDArray

from ..errors import InfeasibleTargetError
from ..models import as_batch
from ..softmax import SoftmaxReduction, check_probabilities
from ..status import Status
from .inverse import AnalyticInverse

__all__ = ["ClassifierInverse"]


class ClassifierInverse(AnalyticInverse):
    """:class:`AnalyticInverse` of a softmax classifier; takes probability vectors ``(n,)`` or ``(N, n)``.

    Attributes
    ----------
    reduction : SoftmaxReduction
    inner : AnalyticInverse
        The inverse of the reduced model (targets ``r = log(p) Q``).
    """

    def __init__(self, reduction: SoftmaxReduction, inner: AnalyticInverse):
        super().__init__(reduction.model, inner.plan, inner.null_basis)
        self.reduction = reduction
        self.inner = inner

    @property
    def n_out(self) -> int:
        return self.reduction.width

    def _coordinates(self, batch: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.reduction.coordinates(check_probabilities(batch, self.n_out)[0])

    def _target_batch(self, y: ArrayLike) -> tuple[NDArray[np.float64], bool]:
        return as_batch(y, self.n_out, "target y")  # probability vectors: checked in full before the log

    def _evaluate(self, batch: NDArray[np.float64], backend: str, y: ArrayLike | None = None) -> NDArray[np.float64]:
        return self.inner._evaluate(self._coordinates(batch), backend)

    def _valid_rows(self, batch: NDArray[np.float64]) -> NDArray[np.bool_]:
        ok = np.zeros(batch.shape[0], dtype=bool)
        for i in range(batch.shape[0]):
            try:
                check_probabilities(batch[i], self.n_out)
                ok[i] = True
            except InfeasibleTargetError:
                pass
        return ok

    def evaluate_rows(self, y: ArrayLike, backend: str = "auto") -> tuple[NDArray[np.float64], NDArray[np.int8]]:
        """As :meth:`AnalyticInverse.evaluate_rows`; rows that are not probability vectors are ``INFEASIBLE``."""
        batch, _ = as_batch(y, self.n_out, "probability target p")
        ok = self._valid_rows(batch)
        safe = np.where(ok[:, None], batch, 1.0 / self.n_out)
        x, status = self.inner.evaluate_rows(self.reduction.coordinates(safe), backend)
        x[~ok] = np.nan
        status[~ok] = Status.INFEASIBLE
        return x, status

    def row_error(self, y: ArrayLike, row: int):
        """Why row ``row`` has no preimage (not a probability vector, or the layers below), or None."""
        batch, _ = as_batch(y, self.n_out, "probability target p")
        try:
            r = self._coordinates(batch[row:row + 1])
        except InfeasibleTargetError as exc:
            return exc
        return self.inner.row_error(r, 0)

    @cached_property
    def expr(self) -> sp.Matrix:
        """``x(p)``: the reduced inverse with ``r_k = sum_j Q_jk log(y_j)`` substituted."""
        q = self.reduction.basis
        logs = [sp.log(s) for s in self.symbols]
        rule = {r: sp.Add(*[sp.Float(float(q[j, k])) * logs[j] for j in range(self.n_out) if q[j, k] != 0.0])
                for k, r in enumerate(self.inner.symbols)}
        return self.inner.expr.xreplace(rule)

    @cached_property
    def derivation(self):
        """The softmax step, then the reduced model's derivation (its output named ``r``)."""
        from .derivation import derive_classifier

        return derive_classifier(self)

    def __repr__(self) -> str:
        return f"ClassifierInverse(softmax over {self.n_out} classes; {self.inner!r})"
