"""Which input steps shut (or open) a gate: exact halfspaces in ``x_t``.

Given the previous state, a gate unit is ``g = act(x_t . w + s)`` with ``w``
one column of the input kernel and ``s = h_{t-1} . u + b`` fixed by the state.
The gate activations are non-decreasing, so ``g <= eps`` holds exactly when
``x_t . w <= act^{-1}(eps) - s``: a halfspace.  Several gates or units give
the intersection (a polyhedron); a zero column ``w`` leaves the state alone
to decide: the whole space, or no input at all (with the reason).

Examples
--------
>>> import numpy as np
>>> from symrecon.recurrent import LSTM
>>> from symrecon.gate_region import gate_region
>>> lstm = LSTM(np.array([[0.0, 2.0, 0.0, 0.0]]), np.zeros((1, 4)))
>>> region = gate_region(lstm, "forget", 0, below=0.1, h_prev=[0.0])
>>> region.contains([-1.5]), region.contains([0.0]), np.round(region.nearest([0.0]), 6).tolist()
(True, False, [-1.098612])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .activations import Activation
from .errors import InfeasibleTargetError, InvalidParameterError, InvalidValueError, ShapeError
from .gates import check_state, gate_affine, gate_spec
from .recurrent import AbstractRecurrent
from .sets import EmptySet, Polyhedron
from .symbolic.derivation import Derivation
from .symbolic.gates import Condition, region_derivation

__all__ = ["GateRegion", "gate_region", "threshold_preactivation"]

Array = NDArray[np.float64]


def threshold_preactivation(act: Activation, value: float, what: str) -> float:
    """``z*`` with ``act(z*) = value`` for a non-decreasing activation; ``value`` inside the image's interior."""
    low, high, _, _ = act.image_bounds
    if not (np.isfinite(value) and low < value < high):
        raise InvalidValueError(f"The {what!r} threshold must lie strictly inside the image {act.image} of the "
                                f"{act.name!r} gate activation. Got {value!r} instead.")
    if act.numpy_inverse is not None:
        return float(act.numpy_inverse(np.array([value]))[0])
    lo, hi = -1.0, 1.0  # no closed inverse (hard_sigmoid): bracket, then bisect to the last bit
    while act.numpy(np.array([lo]))[0] >= value:
        lo *= 2.0
    while act.numpy(np.array([hi]))[0] <= value:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if act.numpy(np.array([mid]))[0] <= value else (lo, mid)
    return hi if act.numpy(np.array([lo]))[0] < value else lo


@dataclass(frozen=True)
class GateRegion:
    """The input steps ``x_t`` for which the chosen gate units meet their thresholds.

    Attributes
    ----------
    set : Polyhedron, EmptySet, or None
        The exact set (``None``: every ``x_t``, the state alone decides).
    conditions : tuple of Condition
        One per (gate, unit, side): ``x_t . a <= rhs``.
    derivation : Derivation
        How each inequality follows from the gate's equation (LaTeX via ``to_latex``).
    n : int
        Input width.
    """

    set: Polyhedron | EmptySet | None
    conditions: tuple[Condition, ...]
    derivation: Derivation
    n: int

    @property
    def is_empty(self) -> bool:
        """True when no input step meets the conditions (:attr:`reason` says why)."""
        return isinstance(self.set, EmptySet) or (self.set is not None and bool(self.set.is_empty))

    @property
    def always(self) -> bool:
        """True when every input step meets the conditions (the state alone decides)."""
        return self.set is None

    @property
    def reason(self) -> str:
        """Why the region is empty or everything ("" otherwise)."""
        if isinstance(self.set, EmptySet):
            return self.set.certificate
        if self.set is None:
            return "every condition holds whatever x_t is: the state alone decides these gate units"
        return "no x_t meets all conditions at once (the inequalities are inconsistent)" if self.is_empty else ""

    def contains(self, x: ArrayLike, tol: float = 1e-9):
        """``x`` (n,) -> bool; (N, n) -> bool array (N,)."""
        arr = np.asarray(x, dtype=np.float64)
        if self.set is None:
            return True if arr.ndim == 1 else np.ones(arr.shape[0], dtype=bool)
        return self.set.contains(arr, tol)

    def nearest(self, x_ref: ArrayLike) -> Array:
        """The member nearest to ``x_ref`` in L2: the smallest change to an input step that meets the conditions."""
        arr = np.asarray(x_ref, dtype=np.float64)
        if arr.shape[-1:] != (self.n,) or arr.ndim not in (1, 2):
            raise ShapeError(f"x_ref must have shape ({self.n},) or (N, {self.n}); got shape {arr.shape}")
        if self.set is None:
            return arr.copy()
        if self.is_empty:
            raise InfeasibleTargetError(f"no input step meets these gate conditions: {self.reason}")
        return self.set.nearest(arr)

    def latex(self) -> str:
        """One inequality per row, ``a . x_t <= rhs`` (``\\emptyset`` / ``\\mathbb{R}^n`` for the trivial answers)."""
        if isinstance(self.set, EmptySet):
            return r"\emptyset"
        rows = [_inequality(c.a, c.rhs) for c in self.conditions if np.any(c.a != 0)]
        return r" \\ ".join(rows) if rows else r"\mathbb{R}^{%d}" % self.n


def _inequality(a: Array, rhs: float) -> str:
    terms = "".join(f" {'-' if w < 0 else '+'} {abs(w):.6g} x_{{t,{j}}}" for j, w in enumerate(a) if w != 0)
    return f"{terms.strip().lstrip('+ ')} \\le {rhs:.6g}"


def _as_list(value: object, what: str) -> list:
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]


def _units(layer: AbstractRecurrent, unit: object) -> list[int]:
    units = _as_list(unit, "unit")
    for u in units:
        if isinstance(u, bool) or not isinstance(u, (int, np.integer)) or not 0 <= int(u) < layer.units:
            raise InvalidParameterError(f"The 'unit' parameter must be an int in [0, {layer.units}) (or a list "
                                        f"of them) for {layer.name!r}. Got {u!r} instead.")
    return [int(u) for u in units]


def _conditions(layer: AbstractRecurrent, gates: list, units: list[int], sides: dict[str, float],
                h: Array) -> list[Condition]:
    out = []
    for gate in gates:
        spec = gate_spec(layer, gate)
        act = spec.activation(layer)
        W, offset = gate_affine(layer, spec, h, units)
        for side, value in sides.items():
            z_star = threshold_preactivation(act, value, side)
            sign = 1.0 if side == "below" else -1.0
            for j in units:
                out.append(Condition(spec, j, side, float(value), z_star, float(offset[0, j]),
                                     sign * W[:, j], sign * (z_star - float(offset[0, j]))))
    return out


def gate_region(layer: AbstractRecurrent, gate: str | Sequence[str], unit: int | Sequence[int], *,
                below: float | None = None, above: float | None = None, h_prev: ArrayLike,
                c_prev: ArrayLike | None = None) -> GateRegion:
    """The input steps ``x_t`` that put gate units below (shut) or above (open) a threshold.

    Parameters
    ----------
    layer : LSTM, GRU or SimpleRNN
    gate : str or list of str
        LSTM: ``"input"``, ``"forget"``, ``"cell"``, ``"output"`` (aliases
        ``i f c o``); GRU: ``"update"``, ``"reset"``, ``"candidate"`` (``z r h``);
        SimpleRNN: ``"hidden"`` (``h``).  Several gates: the intersection.
    unit : int or list of int
        Unit(s) of the gate, in ``[0, units)``; several: the intersection.
    below, above : float, optional
        ``gate <= below`` and/or ``gate >= above`` (at least one); strictly
        inside the activation's image, e.g. ``(0, 1)`` for a sigmoid gate.
    h_prev : array_like, shape (units,)
        The previous hidden state.
    c_prev : array_like, shape (units,), optional
        The previous LSTM cell state (the gates do not depend on it; checked if given).

    Returns
    -------
    GateRegion
        ``.contains``, ``.nearest``, ``.latex()``, ``.derivation``, ``.is_empty``
        and ``.always`` (with ``.reason``).

    Raises
    ------
    InvalidParameterError
        Unknown gate, unit out of range, no threshold, missing ``h_prev``.
    InvalidValueError, ShapeError
        A threshold outside the image; a state of the wrong size.
    CapabilityError
        A GRU candidate that depends on ``x_t`` through the reset gate (not affine).

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.recurrent import LSTM
    >>> lstm = LSTM(np.array([[0.0, 0.0, 0.0, 0.0]]), np.zeros((1, 4)), [0.0, 5.0, 0.0, 0.0])
    >>> r = gate_region(lstm, "f", 0, below=0.1, h_prev=[0.0])
    >>> r.is_empty, r.reason[:41]
    (True, 'unit 0 of the forget gate does not depend')
    """
    if below is None and above is None:
        raise InvalidParameterError("gate_region needs a threshold: pass below=eps (gate <= eps) and/or "
                                    "above=value (gate >= value)")
    h = check_state(layer, h_prev, "h_prev")
    if c_prev is not None:
        check_state(layer, c_prev, "c_prev")
    if h is None or h.shape[0] != 1:
        raise ShapeError(f"h_prev must be one state of shape ({layer.units},); got {np.shape(h_prev)}")
    sides = {k: float(v) for k, v in (("below", below), ("above", above)) if v is not None}
    conds = _conditions(layer, _as_list(gate, "gate"), _units(layer, unit), sides, h)
    derivation = region_derivation(layer, conds)
    live = [c for c in conds if np.any(c.a != 0)]
    broken = [c for c in conds if not np.any(c.a != 0) and c.rhs < 0]
    if broken:
        c = broken[0]
        reason = (f"unit {c.unit} of the {c.spec.name} gate does not depend on x_t (its input-kernel column is "
                  f"zero): the state fixes its pre-activation at {c.offset:.6g}, and "
                  f"{'above' if c.side == 'below' else 'below'} {c.threshold:.6g} it stays for any input")
        return GateRegion(EmptySet(layer.n_in, reason, data={"unit": c.unit, "gate": c.spec.name}), tuple(conds),
                          derivation, layer.n_in)
    if not live:
        return GateRegion(None, tuple(conds), derivation, layer.n_in)
    poly = Polyhedron(np.array([c.a for c in live]), np.array([c.rhs for c in live]),
                      description="; ".join(c.text() for c in live))
    return GateRegion(poly, tuple(conds), derivation, layer.n_in)
