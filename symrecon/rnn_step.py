"""One recurrent step backwards: the input ``x_t`` that produces a target ``h_t`` (and/or ``c_t``) from a given state.

Closed forms, where the algebra allows (:data:`CLOSED_FORMS`):

* SimpleRNN: ``x_t K = act^{-1}(h_t) - h_{t-1} U - b`` (one point for a
  square invertible ``K``, the minimum-norm one for a wide ``K``);
* an LSTM or GRU whose input kernel feeds only one gate block: the target
  fixes that gate's value (``c_t = f c_{t-1} + i c~``, ``h_t = o act(c_t)``,
  ``h_t = z h_{t-1} + (1 - z) h~``), its activation is inverted, and the
  affine system of that block is solved.

Everything else runs the batched Gauss-Newton of :mod:`symrecon.rnn_newton`
on the step's graph.  Either way the answer is a :class:`~symrecon.Reconstruction`
re-checked by running the step forward.

Examples
--------
>>> import numpy as np
>>> from symrecon.recurrent import SimpleRNN
>>> from symrecon.rnn_step import invert_step
>>> rnn = SimpleRNN([[2.0, 0.0], [0.0, 1.0]], 0.5 * np.eye(2), [0.0, 0.1])
>>> res = invert_step(rnn, h=[0.5, -0.2], h_prev=[0.2, 0.2])
>>> res.method, res.success, np.round(res.x, 6).tolist()
('analytic', True, [0.224653, -0.402733])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .backends import numpy_ref
from .errors import InfeasibleTargetError, InvalidParameterError, NotInvertibleError, ShapeError
from .gates import GATES, check_state, gate_affine, step, step_graph
from .recurrent import GRU, LSTM, AbstractRecurrent, SimpleRNN
from .result import Reconstruction
from .rnn_newton import Problem, gauss_newton_numpy, subset, with_restarts
from .solvers._base import BlockResult
from .status import Status
from .tolerance import DEFAULT_ATOL, DEFAULT_RTOL, unit_tolerance
from .validation import check_max_iter, check_tol

__all__ = ["CLOSED_FORMS", "invert_step"]

Array = NDArray[np.float64]

#: random restarts of a failed step (a step is small: restarts are cheap, local minima common when h and c are
#: both targets, more equations than unknowns)
STEP_RESTARTS = 10
#: default iteration limit of the step's Gauss-Newton (an iteration costs a few microseconds per target)
STEP_MAX_ITER = 500


class _Step:
    """One step with fixed states as a model of ``x_t`` (what the result's re-check runs)."""

    activation = None  # no output image to tighten the tolerance by

    def __init__(self, layer: AbstractRecurrent, h: Array, c: Array | None, targets: tuple[str, ...]):
        self.layer, self.h, self.c, self.targets = layer, h, c, targets
        self.layers = (self,)
        self.n_in, self.n_out = layer.n_in, layer.units * len(targets)

    def forward(self, x: Array, rows: NDArray[np.int64] | None = None) -> Array:
        """Selected outputs ``(N, n_out)``; ``rows`` picks the states (default: all, one per row of ``x``)."""
        rows = np.arange(x.shape[0]) if rows is None else rows
        out = step(self.layer, x, self.h[rows], None if self.c is None else self.c[rows])
        return np.hstack([out[t] for t in self.targets])

    def jacobian(self, x: Array, rows: NDArray[np.int64]) -> tuple[Array, Array]:
        u, n = self.layer.units, self.layer.n_in
        parts = [x, self.h[rows]] + ([self.c[rows]] if self.c is not None else [])
        out, jac = numpy_ref.jacobian(step_graph(self.layer), np.hstack(parts))
        cols = np.concatenate([np.arange(u) + (u if t == "c" else 0) for t in self.targets])
        return out[:, cols], jac[:, cols, :n]


def _inverse(act: Any, value: Array, what: str) -> Array:
    """``act^{-1}(value)``, refusing values outside the image (no input reaches them)."""
    ok = act.in_image(value) & np.isfinite(value)
    if not np.all(ok):
        row, unit = (int(i) for i in np.argwhere(~ok)[0])
        raise InfeasibleTargetError(f"the {what} would have to be {value[row, unit]!r} at target {row}, unit {unit}, "
                                    f"outside the image {act.image} of {act.name!r}: no x_t produces the target",
                                    unit=unit, value=float(value[row, unit]), interval=act.image)
    return act.numpy_inverse(value)


def _affine_solve(W: Array, z: Array) -> Array:
    """``x`` with ``x @ W = z`` per row: exact for square invertible ``W``, else minimum-norm least squares."""
    if W.shape[0] == W.shape[1] and np.linalg.matrix_rank(W) == W.shape[0]:
        return np.linalg.solve(W.T, z.T).T
    return z @ np.linalg.pinv(W)


def _gate_input(layer: AbstractRecurrent, block: int, gate_value: Array, h: Array) -> Array:
    """The ``x_t`` giving gate ``block`` the value ``gate_value``: invert its activation, solve its affine part."""
    spec = GATES[type(layer)][block]
    W, offset = gate_affine(layer, spec, h)
    return _affine_solve(W, _inverse(spec.activation(layer), gate_value, f"{spec.name} gate") - offset)


def _lstm(block: int) -> Callable:
    def solve(layer: LSTM, h: Array, c: Array, target: dict[str, Array]) -> Array:
        g = step(layer, np.zeros((h.shape[0], layer.n_in)), h, c)  # the x-free gates
        i, f, cand, o = g["input"], g["forget"], g["cell"], g["output"]
        if block == 3:
            return _gate_input(layer, 3, target["h"] / layer.activation.numpy(g["c"]), h)
        c_t = target["c"] if "c" in target else _inverse(layer.activation, target["h"] / o, "cell state act(c_t)")
        with np.errstate(divide="ignore", invalid="ignore"):
            value = {0: (c_t - f * c) / cand, 1: (c_t - i * cand) / c, 2: (c_t - f * c) / i}[block]
        return _gate_input(layer, block, value, h)

    return solve


def _gru(block: int) -> Callable:
    def solve(layer: GRU, h: Array, c: Array | None, target: dict[str, Array]) -> Array:
        g = step(layer, np.zeros((h.shape[0], layer.n_in)), h)
        with np.errstate(divide="ignore", invalid="ignore"):
            if block == 0:
                value = (target["h"] - g["candidate"]) / (h - g["candidate"])
            else:
                value = (target["h"] - g["update"] * h) / (1.0 - g["update"])
        return _gate_input(layer, block, value, h)

    return solve


def _simple(layer: SimpleRNN, h: Array, c: Array | None, target: dict[str, Array]) -> Array:
    return _gate_input(layer, 0, target["h"], h)


#: (layer kind, the one gate block the input feeds, targets) -> closed-form solver
CLOSED_FORMS: dict[tuple[type, int, tuple[str, ...]], Callable] = {
    (SimpleRNN, 0, ("h",)): _simple,
    **{(LSTM, k, ("c",)): _lstm(k) for k in (0, 1, 2)},
    **{(LSTM, k, ("h",)): _lstm(k) for k in (0, 1, 2, 3)},
    **{(LSTM, k, ("h", "c")): _lstm(k) for k in (0, 1, 2)},
    (GRU, 0, ("h",)): _gru(0),
    (GRU, 2, ("h",)): _gru(2),
}


def _closed_form(layer: AbstractRecurrent, targets: tuple[str, ...]) -> Callable | str:
    """The closed-form solver for this layer and target, or why there is none."""
    feeds = [k for k in range(len(GATES[type(layer)])) if np.any(layer.kernel[:, k * layer.units:(k + 1) * layer.units])]
    if len(feeds) != 1:
        return (f"the input feeds {len(feeds)} gate blocks of {type(layer).__name__} {layer.name!r}; a closed form "
                "needs exactly one")
    solver = CLOSED_FORMS.get((type(layer), feeds[0], targets))
    if solver is None:
        return (f"no closed form for target {'+'.join(targets)} when the input feeds the "
                f"{GATES[type(layer)][feeds[0]].name} gate of {type(layer).__name__} {layer.name!r}")
    return solver


def _targets(layer: AbstractRecurrent, h: ArrayLike | None, c: ArrayLike | None) -> dict[str, Array]:
    given = {k: v for k, v in (("h", h), ("c", c)) if v is not None}
    if not given:
        raise InvalidParameterError("invert_step needs a target: h=... (and/or c=... for an LSTM)")
    if "c" in given and not isinstance(layer, LSTM):
        raise InvalidParameterError(f"The 'c' target is only defined for an LSTM; {layer.name!r} is a "
                                    f"{type(layer).__name__}")
    return {k: check_state(layer, v, f"target {k}") for k, v in given.items()}  # type: ignore[misc]


def invert_step(layer: AbstractRecurrent, h: ArrayLike | None = None, *, c: ArrayLike | None = None,
                h_prev: ArrayLike, c_prev: ArrayLike | None = None, method: str = "auto",
                tol: float | None = None, max_iter: int | None = None) -> Reconstruction:
    """The input step ``x_t`` for which one step from ``(h_prev, c_prev)`` gives ``h`` (and/or ``c``).

    Parameters
    ----------
    layer : SimpleRNN, LSTM or GRU
    h, c : array_like, shape (units,) or (N, units)
        Targets for the new hidden state and (LSTM) cell state; at least one.
    h_prev, c_prev : array_like, shape (units,) or (N, units)
        The previous state (``c_prev`` required for an LSTM).
    method : {"auto", "analytic", "newton"}
        "auto": the closed form where :data:`CLOSED_FORMS` has one, else Gauss-Newton.
    tol, max_iter
        As for :func:`symrecon.reconstruct`.

    Returns
    -------
    Reconstruction
        ``x`` ``(n_in,)`` or ``(N, n_in)``, re-checked by running the step.

    Raises
    ------
    NotInvertibleError
        ``method="analytic"`` without a closed form (the message says why).
    InfeasibleTargetError
        A closed form that needs a gate value outside its activation's image.
    InvalidParameterError, ShapeError
    """
    t0 = time.perf_counter()
    target = _targets(layer, h, c)
    hp = check_state(layer, h_prev, "h_prev")
    assert hp is not None  # required: check_state raises instead
    cp = check_state(layer, c_prev, "c_prev", required=isinstance(layer, LSTM))
    arrays = [*target.values(), hp] + ([cp] if cp is not None else [])
    N = max(a.shape[0] for a in arrays)
    if any(a.shape[0] not in (1, N) for a in arrays):
        raise ShapeError(f"targets and states must have one row or the same number of rows; got "
                         f"{[a.shape for a in arrays]}")
    full = {k: np.broadcast_to(v, (N, layer.units)) for k, v in target.items()}
    hp = np.broadcast_to(hp, (N, layer.units))
    cp = None if cp is None else np.broadcast_to(cp, (N, layer.units))
    if method not in ("auto", "analytic", "newton"):
        raise InvalidParameterError(f"The 'method' parameter must be 'auto', 'analytic' or 'newton'. Got {method!r}")
    names = tuple(full)
    model = _Step(layer, hp, cp, names)
    y = np.hstack([full[k] for k in names])
    atol = check_tol(DEFAULT_ATOL if tol is None else tol)
    tolu = unit_tolerance(model, y, atol=atol, rtol=DEFAULT_RTOL)
    solver = _closed_form(layer, names) if method != "newton" else "method='newton' was asked for"
    if isinstance(solver, str) and method == "analytic":
        raise NotInvertibleError(f"no closed-form step inverse: {solver}", layer=layer.name, reason="layer")
    if isinstance(solver, str):
        fns, limit = Problem(model.forward, model.jacobian, layer.n_in), check_max_iter(max_iter) or STEP_MAX_ITER
        x, status, iters = with_restarts(
            lambda rows, y_r, x_r: gauss_newton_numpy(subset(fns, rows), y_r, x_r, tolu[rows], limit),
            y, np.zeros((N, layer.n_in)), STEP_RESTARTS)
        block = BlockResult(x=x, status=status, n_iter=iters, method="newton")
    else:
        x = solver(layer, hp, cp, full)
        block = BlockResult(x=x, status=np.full(N, Status.EXACT, dtype=np.int8), n_iter=np.zeros(N, dtype=np.int64),
                            method="analytic")
    single = all(np.ndim(v) == 1 for v in (h, c) if v is not None) and N == 1
    return Reconstruction.build(model, block, y, tol=atol, rtol=DEFAULT_RTOL, unit_tol=tolu,
                                elapsed=time.perf_counter() - t0, single=single, owned=True)
