"""Numeric evaluators of an analytic inverse: per-row status from the numba kernel or its NumPy twin.

The analytic inverse of a chain of layers is evaluated backwards, one layer
after the other::

    u      = f_l^{-1}(a^{(l)}) - b^{(l)}        (checked: a^{(l)} in image(f_l))
    a^{(l-1)} = u @ B^{(l)}                     (B = W^{-1}, or pinv(W))

Both evaluators take the same :class:`InversePlan` (the layers, and the
model's one :class:`~symrecon.backends.numba.pack.PackedModel`, whose
back-matrices ``B`` the plan's layers view) and give a
:class:`~symrecon.status.Status` per row (:func:`evaluate_rows`): ``EXACT``
for a solved row, ``INFEASIBLE`` (and NaN in ``x``) for a row no input can
produce.  The NumPy twin is the reference: plain, vectorised NumPy using each
activation's own ``numpy_inverse``; the numba kernel
(:mod:`symrecon.backends.numba.inverse`) runs the whole chain in one parallel
loop.  :func:`evaluate_checked` also re-checks every answer by a forward
pass, inside the kernel while the rows are in cache; its twin is
:func:`checked_reference` (the result's own NumPy re-check).  :func:`row_error` explains one row (which layer, unit,
value and interval), and :func:`evaluate_numpy` / :func:`evaluate_numba`
raise that detailed :class:`~symrecon.errors.InfeasibleTargetError` for the
first bad row, naming the row's index in the caller's batch.

Also here (from :mod:`.lambdify`): :func:`lambdify_matrix`, the one place SymPy
expressions are turned into NumPy/mpmath functions (for tests of agreement
between the symbolic and the numeric forms; the numeric paths never evaluate
through SymPy).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[2.0, 0.0], [0.0, 4.0]], [0.0, 1.0], "tanh")])
>>> inv = sr.analytic_inverse(m)
>>> y = np.array([[0.1, -0.2], [1.5, 0.0]])       # tanh cannot output 1.5
>>> x, status = evaluate_rows(inv.plan, y)
>>> [Status(s).name for s in status], bool(np.isnan(x[1]).all())
(['EXACT', 'INFEASIBLE'], True)
>>> row_error(inv.plan, y, 1).unit
0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..activations import Activation
from ..backends.numba.inverse import inverse_rows
from ..backends.numba.pack import PackedModel
from ..errors import InfeasibleTargetError
from ..recheck import Recheck, forward_rows, max_residual
from ..status import Status
from ..tolerance import unit_tolerance, within
from .lambdify import lambdify_matrix

__all__ = [
    "BACKENDS",
    "NUMBA_MIN_ROWS",
    "InversePlan",
    "LayerPlan",
    "back_views",
    "checked_reference",
    "evaluate_checked",
    "evaluate_numba",
    "evaluate_numpy",
    "evaluate_rows",
    "lambdify_matrix",
    "row_error",
]

#: batches at least this large go through the numba kernel under ``backend="auto"``
#: (below it, the kernel's thread start-up costs more than NumPy's whole pass)
NUMBA_MIN_ROWS = 2048

#: the evaluators :func:`evaluate_rows` can use
BACKENDS = ("auto", "numba", "numpy")

_EXACT = np.int8(Status.EXACT)
_INFEASIBLE = np.int8(Status.INFEASIBLE)


@dataclass(frozen=True)
class LayerPlan:
    """What un-doing one Dense layer needs, precomputed.

    Attributes
    ----------
    index : int
        Position of the layer in the model (0 = first).
    name : str
    activation : Activation
    kind : {"square", "tall", "wide"}
    kernel : ndarray, shape (n_in, n_out)
    bias : ndarray, shape (n_out,)
    back : ndarray, shape (n_out, n_in)
        ``W^{-1}`` (square) or the Moore-Penrose pseudo-inverse (tall, wide):
        ``a_prev = (f^{-1}(a) - b) @ back``.
    """

    index: int
    name: str
    activation: Activation
    kind: str
    kernel: NDArray[np.float64]
    bias: NDArray[np.float64]
    back: NDArray[np.float64]

    n_in = property(lambda self: int(self.kernel.shape[0]), doc="Inputs of the layer.")
    n_out = property(lambda self: int(self.kernel.shape[1]), doc="Outputs of the layer.")


@dataclass(frozen=True)
class InversePlan:
    """The layers to un-do, from the output back to the input, and the packed model the kernel reads.

    Attributes
    ----------
    layers : tuple of LayerPlan
        In model order (first layer first); evaluation walks them in reverse.
        Each ``back`` is a read-only view into ``packed.back``.
    consistency_rtol : float
        A tall layer accepts ``u`` when ``max|x W - u| <= rtol * (1 + max|u|)``.
    packed : PackedModel
        The model's one packed form (:func:`~symrecon.backends.numba.pack.pack`
        with ``inverses=True``): the same object the iterative kernels read.
    """

    layers: tuple[LayerPlan, ...]
    consistency_rtol: float
    packed: PackedModel

    @property
    def widths(self) -> tuple[int, int]:
        """``(n_in, n_out)`` of the whole chain."""
        return self.layers[0].n_in, self.layers[-1].n_out

    @property
    def n_in(self) -> int:
        return self.widths[0]

    @property
    def n_out(self) -> int:
        return self.widths[1]


def back_views(pm: PackedModel) -> list[NDArray[np.float64]]:
    """Each layer's back-matrix ``B`` (n_out, n_in) as a read-only view into ``pm.back``."""
    views = []
    for layer in range(len(pm.codes)):
        n_i, n_o = int(pm.sizes[layer]), int(pm.sizes[layer + 1])
        view = pm.back[pm.w_off[layer]: pm.w_off[layer] + n_i * n_o].reshape(n_o, n_i)
        view.setflags(write=False)
        views.append(view)
    return views


# ---------------------------------------------------------------------------
# Per-row evaluation


def evaluate_rows(plan: InversePlan, y: NDArray[np.float64],
                  backend: str = "auto") -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """Evaluate the inverse for every row, with a status per row; never raises for a bad row.

    Parameters
    ----------
    plan : InversePlan
    y : ndarray, shape (N, n_out)
        Validated, finite targets (not modified).
    backend : {"auto", "numba", "numpy"}
        ``"auto"``: the numba kernel for at least :data:`NUMBA_MIN_ROWS` rows.

    Returns
    -------
    x : ndarray, shape (N, n_in)
        The input per row (the minimum-norm one for a wide first layer); NaN
        in the rows that are not ``EXACT``.
    status : ndarray of int8, shape (N,)
        :class:`~symrecon.status.Status` codes: ``EXACT``, or ``INFEASIBLE``
        for a value outside an activation's image (output or intermediate
        layer), an inconsistent tall layer, or an input that overflows
        float64.  :func:`row_error` says which, for one row.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}; got {backend!r}")
    y = np.ascontiguousarray(y, dtype=np.float64)
    if backend == "numpy" or (backend == "auto" and y.shape[0] < NUMBA_MIN_ROWS):
        return _numpy_rows(plan, y)
    x, status, _ = inverse_rows(plan.packed, plan.consistency_rtol, y)
    # The kernel's formulas and the twin's may differ in the last bit at an
    # image edge, and a row the kernel did not reach reads NOT_RUN: the
    # reference decides every row that is not EXACT.
    again = np.flatnonzero(status != _EXACT)
    if again.size:
        x[again], status[again] = _numpy_rows(plan, y[again])
    return x, status


def evaluate_checked(plan: InversePlan, model: Any, y: NDArray[np.float64], atol: float, rtol: float,
                     backend: str = "auto", keep_y_pred: bool = True,
                     ) -> tuple[NDArray[np.float64], NDArray[np.int8], Recheck]:
    """:func:`evaluate_rows` plus the forward re-check of every answer, fused into the kernel.

    Parameters
    ----------
    plan : InversePlan
    model : Sequential
        The model ``plan`` inverts (the NumPy re-check runs it forward).
    y : ndarray, shape (N, n_out)
        Validated, finite targets (not modified).
    atol, rtol : float
        The tolerance rule's parts (:mod:`symrecon.tolerance`).
    backend : {"auto", "numba", "numpy"}
        ``"numpy"``: the reference (:func:`checked_reference`); ``"auto"``:
        the kernel for at least :data:`NUMBA_MIN_ROWS` rows.
    keep_y_pred : bool
        Keep the outputs of the re-check; False: the kernel judges every row
        without writing them (``recheck.y_pred`` is None: one array of the
        targets' size less to write).

    Returns
    -------
    x, status
        As :func:`evaluate_rows`.
    recheck : Recheck
        ``model(x)`` (N, n_out), the max-norm residual (N,) and whether every
        unit is within tolerance (N,), re-computed from the returned ``x``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}; got {backend!r}")
    y = np.ascontiguousarray(y, dtype=np.float64)
    if backend == "numpy" or (backend == "auto" and y.shape[0] < NUMBA_MIN_ROWS):
        return checked_reference(plan, model, y, atol, rtol)
    x, status, check = inverse_rows(plan.packed, plan.consistency_rtol, y, (atol, rtol), keep_y_pred=keep_y_pred)
    assert check is not None
    again = np.flatnonzero(status != _EXACT)  # as in evaluate_rows: the reference decides these rows
    if again.size:
        xs, sts, fix = checked_reference(plan, model, y[again], atol, rtol)
        x[again], status[again] = xs, sts
        check.residual[again], check.within[again] = fix.residual, fix.within
        if check.y_pred is not None:
            check.y_pred[again] = fix.y_pred
    return x, status, check


def checked_reference(plan: InversePlan, model: Any, y: NDArray[np.float64], atol: float,
                      rtol: float) -> tuple[NDArray[np.float64], NDArray[np.int8], Recheck]:
    """The NumPy twin of the fused kernel: :func:`evaluate_rows` (NumPy), then the result's own re-check.

    The re-check is :func:`symrecon.recheck.forward_rows`, :func:`~symrecon.recheck.max_residual`
    and :func:`symrecon.tolerance.within`: what :class:`~symrecon.Reconstruction` runs without a kernel.
    """
    x, status = _numpy_rows(plan, y)
    y_pred = forward_rows(model, x)
    with np.errstate(invalid="ignore"):  # a NaN/inf target (left to the solver to flag) is INFEASIBLE already
        within_tol = within(y_pred, y, unit_tolerance(model, y, atol=atol, rtol=rtol))
    return x, status, Recheck(y_pred, max_residual(y_pred, y), within_tol)


def _numpy_rows(plan: InversePlan, y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """The NumPy twin of the kernel: plain vectorised NumPy, the table's own inverses."""
    a = y
    bad = np.zeros(y.shape[0], dtype=bool)
    with np.errstate(all="ignore"):  # bad rows are computed on and discarded at the end
        for lp in reversed(plan.layers):
            bad |= ~np.all(lp.activation.in_image(a), axis=1)
            u = _inverse_of(lp.activation)(a) - lp.bias
            prev = u @ lp.back
            if lp.kind == "tall":
                bad |= ~_consistent(plan, lp, u, prev)
            a = prev
    bad |= ~np.all(np.isfinite(a), axis=1)
    x = np.array(a, dtype=np.float64)  # a fresh array the caller owns
    x[bad] = np.nan
    return x, np.where(bad, _INFEASIBLE, _EXACT).astype(np.int8)


def _consistent(plan: InversePlan, lp: LayerPlan, u: NDArray, prev: NDArray) -> NDArray[np.bool_]:
    """Rows whose least-squares preimage reproduces ``u`` (relative ``consistency_rtol``)."""
    resid = np.max(np.abs(prev @ lp.kernel - u), axis=1)
    return resid <= plan.consistency_rtol * (1.0 + np.max(np.abs(u), axis=1))


def row_error(plan: InversePlan, y: NDArray[np.float64], row: int) -> InfeasibleTargetError | None:
    """Why row ``row`` of ``y`` has no preimage, as an (unraised) detailed error; None if it has one.

    Parameters
    ----------
    plan : InversePlan
    y : ndarray, shape (N, n_out)
        The batch as the caller passed it (the message names ``row`` in it).
    row : int
        Index of the row in ``y``.

    Returns
    -------
    InfeasibleTargetError or None
        ``.layer``, ``.unit``, ``.value``, ``.interval`` say where: the
        first layer (walking back from the output) whose activation cannot
        produce the value; for an inconsistent tall layer ``.value`` is the
        least-squares residual and ``.unit`` None; for an overflow ``.value``
        is inf.
    """
    n_rows = y.shape[0]
    a = np.asarray(y[row:row + 1], dtype=np.float64)
    with np.errstate(all="ignore"):
        for lp in reversed(plan.layers):
            ok = lp.activation.in_image(a[0])
            if not np.all(ok):
                unit = int(np.argmin(ok))
                return _image_error(lp, plan, row, unit, float(a[0, unit]), n_rows)
            u = _inverse_of(lp.activation)(a) - lp.bias
            prev = u @ lp.back
            if lp.kind == "tall" and not _consistent(plan, lp, u, prev)[0]:
                resid = float(np.max(np.abs(prev @ lp.kernel - u)))
                return _inconsistent_error(lp, plan, row, resid, n_rows)
            a = prev
    if not np.all(np.isfinite(a)):
        return _overflow_error(plan, row, n_rows)
    return None


def evaluate_numpy(plan: InversePlan, y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Evaluate the inverse with the NumPy twin; raise for the first bad row.

    Parameters
    ----------
    plan : InversePlan
    y : ndarray, shape (N, n_out)
        Validated, finite targets (not modified).

    Returns
    -------
    ndarray, shape (N, n_in)
        For a wide first layer, the minimum-norm input.

    Raises
    ------
    InfeasibleTargetError
        For the first row no input can produce (see :func:`row_error`); the
        message names the row's index in ``y``.
    """
    return _raise_first(plan, y, *evaluate_rows(plan, y, "numpy"))


def evaluate_numba(plan: InversePlan, y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Evaluate the inverse with the fused, parallel numba kernel; same contract as :func:`evaluate_numpy`."""
    return _raise_first(plan, y, *evaluate_rows(plan, y, "numba"))


def _raise_first(plan: InversePlan, y: NDArray[np.float64], x: NDArray[np.float64],
                 status: NDArray[np.int8]) -> NDArray[np.float64]:
    bad = np.flatnonzero(status != _EXACT)
    if bad.size:
        err = row_error(plan, y, int(bad[0]))
        if err is None:  # cannot happen: the reference flagged this row
            raise RuntimeError(f"row {int(bad[0])} was flagged but the reference finds no reason")
        raise err
    return x


def _where(row: int, n_rows: int) -> str:
    return f"target {row}: " if n_rows > 1 else ""


def _image_error(lp: LayerPlan, plan: InversePlan, row: int, unit: int, value: float,
                 n_rows: int) -> InfeasibleTargetError:
    act = lp.activation
    if lp.index == len(plan.layers) - 1:
        what = f"output unit {unit} = {value!r}"
    else:
        what = (f"after un-doing the layers above it, unit {unit} of layer {lp.name!r} (layer {lp.index}) "
                f"would have to output {value!r}, which")
    return InfeasibleTargetError(
        f"{_where(row, n_rows)}{what} is outside the image {act.image} of the {act.name!r} activation "
        f"of layer {lp.name!r}: no input can produce it",
        layer=lp.name, unit=unit, value=value, interval=act.image,
    )


def _inconsistent_error(lp: LayerPlan, plan: InversePlan, row: int, resid: float,
                        n_rows: int) -> InfeasibleTargetError:
    return InfeasibleTargetError(
        f"{_where(row, n_rows)}layer {lp.name!r} (layer {lp.index}) is tall ({lp.n_in} inputs -> {lp.n_out} "
        f"outputs) and the pre-activation it would need is not in the range of its kernel: the least-squares "
        f"residual is {resid:.3g} (allowed: {plan.consistency_rtol:g} relative); no input produces this target",
        layer=lp.name, unit=None, value=resid, interval=None,
    )


def _overflow_error(plan: InversePlan, row: int, n_rows: int) -> InfeasibleTargetError:
    first = plan.layers[0]
    return InfeasibleTargetError(
        f"{_where(row, n_rows)}the input that produces this target is too large for float64 "
        f"(it overflows when un-doing layer {first.name!r})",
        layer=first.name, unit=None, value=math.inf, interval=None,
    )


def _inverse_of(act: Activation) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """The activation's stable NumPy inverse (plans are only built for invertible activations)."""
    assert act.numpy_inverse is not None, act.name
    return act.numpy_inverse
