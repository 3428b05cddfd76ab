"""Gates of recurrent layers: names, per-step values, one step from a given state.

Every gate of a recurrent cell is ``act(x_t @ W + h_{t-1} @ U + b)`` for one
column block of the layer's kernels (Keras order: LSTM ``i f c o``, GRU
``z r h``).  :data:`GATES` is the one table of gate names per layer kind;
:func:`gate_values` reads every gate at every step off the layer's unrolled
graph (:mod:`symrecon.recurrent`), so the values are the ones the model computes;
:func:`step` runs one step from any state through the graph of
:func:`step_graph`, whose input is ``[x_t, h_{t-1}, c_{t-1}]`` side by side.

Examples
--------
>>> import numpy as np
>>> from symrecon.recurrent import LSTM
>>> from symrecon.gates import gate_values
>>> lstm = LSTM(np.zeros((1, 4)), np.zeros((1, 4)), [0.0, 0.0, 1.0, 0.0])
>>> trace = gate_values(lstm, np.ones((1, 3, 1)))
>>> trace.gates["forget"].shape, float(trace.gates["forget"][0, 0, 0])
((1, 3, 1), 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .activations import Activation
from .backends import numpy_ref
from .errors import CapabilityError, InvalidParameterError, ShapeError
from .graph import Concat, Graph, GraphBuilder, Slice
from .recurrent import GRU, LSTM, AbstractRecurrent, SimpleRNN
from .validation import as_real_array

__all__ = ["GATES", "GateSpec", "GateTrace", "check_state", "gate_affine", "gate_spec", "gate_values", "step",
           "step_graph"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class GateSpec:
    """One gate of a cell: public ``name``, one-letter ``alias``, graph ``node``, kernel ``block``, activation."""

    name: str
    alias: str
    node: str
    block: int
    activation_attr: str

    def activation(self, layer: AbstractRecurrent) -> Activation:
        return getattr(layer, self.activation_attr)


_RA, _ACT = "recurrent_activation", "activation"

#: the gates of each layer kind, in Keras's column-block order
GATES: dict[type, tuple[GateSpec, ...]] = {
    LSTM: (GateSpec("input", "i", "i", 0, _RA), GateSpec("forget", "f", "f", 1, _RA),
           GateSpec("cell", "c", "g", 2, _ACT), GateSpec("output", "o", "o", 3, _RA)),
    GRU: (GateSpec("update", "z", "z", 0, _RA), GateSpec("reset", "r", "r", 1, _RA),
          GateSpec("candidate", "h", "cand", 2, _ACT)),
    SimpleRNN: (GateSpec("hidden", "h", "h", 0, _ACT),),
}


def _specs(layer: object) -> tuple[GateSpec, ...]:
    specs = GATES.get(type(layer))
    if specs is None:
        raise InvalidParameterError(f"layer must be a SimpleRNN, LSTM or GRU; got {type(layer).__name__}")
    return specs


def gate_spec(layer: AbstractRecurrent, gate: str) -> GateSpec:
    """The :class:`GateSpec` named ``gate`` (full name or one-letter alias) of ``layer``.

    Raises
    ------
    InvalidParameterError
        An unknown gate name; the message lists the valid ones.
    """
    for spec in _specs(layer):
        if gate in (spec.name, spec.alias):
            return spec
    valid = ", ".join(f"{s.name!r} ({s.alias!r})" for s in _specs(layer))
    raise InvalidParameterError(f"The 'gate' parameter must be one of {valid} for a {type(layer).__name__}. "
                                f"Got {gate!r} instead.")


def check_state(layer: AbstractRecurrent, value: ArrayLike | None, what: str, required: bool = True) -> Array | None:
    """A state ``(units,)`` or ``(N, units)`` as a read-only float64 ``(N, units)`` array (None if absent)."""
    if value is None:
        if required:
            raise InvalidParameterError(f"The {what!r} parameter is required for {type(layer).__name__} "
                                        f"{layer.name!r}: a state of shape ({layer.units},) or (N, {layer.units})")
        return None
    arr = as_real_array(value, what)
    if arr.ndim not in (1, 2) or arr.shape[-1] != layer.units:
        raise ShapeError(f"{what} must have shape ({layer.units},) or (N, {layer.units}) for "
                         f"{type(layer).__name__} {layer.name!r} with {layer.units} units; got shape {arr.shape}")
    return arr.reshape(-1, layer.units)


def _block(layer: AbstractRecurrent, M: Array, k: int) -> Array:
    return M[..., k * layer.units:(k + 1) * layer.units]


def gate_affine(layer: AbstractRecurrent, spec: GateSpec, h_prev: Array,
                units: ArrayLike | None = None) -> tuple[Array, Array]:
    """``(W, offset)`` with the gate's pre-activation ``x_t @ W + offset`` at state ``h_prev`` ``(N, u)``.

    ``W`` is ``(n_in, u)``, ``offset`` ``(N, u)``.  Raises :class:`CapabilityError`
    when one of ``units`` (default: all) is a GRU candidate whose pre-activation
    also depends on ``x_t`` through the reset gate (then it is not affine in ``x_t``).
    """
    k, W = spec.block, _block(layer, layer.kernel, spec.block)
    R = _block(layer, layer.recurrent_kernel, k)
    if not isinstance(layer, GRU):
        return W, h_prev @ R + _block(layer, layer.bias, k)
    b_in = _block(layer, layer.bias[0] if layer.reset_after else layer.bias, k)
    rec = h_prev @ R + (_block(layer, layer.bias[1], k) if layer.reset_after else 0.0)
    if spec.node != "cand":
        return W, b_in + rec
    reset = gate_spec(layer, "reset")
    _, r_pre = gate_affine(layer, reset, h_prev)
    r = reset.activation(layer).numpy(r_pre)
    moves = np.any(_block(layer, layer.kernel, reset.block) != 0, axis=0)  # r_k depends on x_t
    if layer.reset_after:
        term, coupled = r * rec, (rec != 0) & moves
    else:
        term, coupled = (r * h_prev) @ R, ((h_prev * moves) != 0) @ (R != 0)
    chosen = np.arange(layer.units) if units is None else np.asarray(units)
    if np.any(coupled[:, chosen]):
        raise CapabilityError(
            f"the candidate of GRU {layer.name!r} depends on x_t through the reset gate at this state "
            "(r(x_t) * (h U + b) is not affine in x_t), so its region is not a halfspace; use a state "
            "h_prev for which that term vanishes (e.g. h_prev = 0 with reset_after=False) or another gate")
    return W, b_in + term


def step_graph(layer: AbstractRecurrent) -> Graph:
    """One step of ``layer`` as a graph: input ``[x_t, h_{t-1}(, c_{t-1})]``, output ``h_t`` (LSTM: ``[h_t, c_t]``).

    Gate nodes are ``step/{node}`` (e.g. ``step/f``); built once per layer.
    """
    cached = layer.__dict__.get("_step_graph")
    if cached is not None:
        return cached
    _specs(layer)
    n, u = layer.n_in, layer.units
    lstm = isinstance(layer, LSTM)
    b = GraphBuilder((n + (2 if lstm else 1) * u,), f"{layer.name}_step")
    x_t = b.add("x_t", Slice(0, n), ["x"])
    h = b.add("h_prev", Slice(n, n + u), ["x"])
    state = (h, b.add("c_prev", Slice(n + u, n + 2 * u), ["x"])) if lstm else h
    h_out, state = layer._add_step(b, "step", x_t, state)
    out = b.add("out", Concat(), [h_out, state[1]]) if lstm else h_out
    graph = b.finish(b.single(out))
    layer.__dict__["_step_graph"] = graph
    return graph


def _step_input(layer: AbstractRecurrent, x_t: ArrayLike, h_prev: ArrayLike, c_prev: ArrayLike | None) -> Array:
    x = as_real_array(x_t, "x_t")
    if x.ndim not in (1, 2) or x.shape[-1] != layer.n_in:
        raise ShapeError(f"x_t must have shape ({layer.n_in},) or (N, {layer.n_in}); got shape {x.shape}")
    states = [(h_prev, "h_prev")] + ([(c_prev, "c_prev")] if isinstance(layer, LSTM) else [])
    parts: list[Array] = [x.reshape(-1, layer.n_in)]
    for value, what in states:
        arr = check_state(layer, value, what)
        assert arr is not None  # required=True raises instead
        parts.append(arr)
    n = max(p.shape[0] for p in parts)
    try:
        return np.hstack([np.broadcast_to(p, (n, p.shape[1])) for p in parts])
    except ValueError:
        raise ShapeError(f"x_t, h_prev and c_prev must have the same number of rows (or one); got "
                         f"{[p.shape for p in parts]}") from None


def step(layer: AbstractRecurrent, x_t: ArrayLike, h_prev: ArrayLike, c_prev: ArrayLike | None = None
         ) -> dict[str, Array]:
    """Every gate and the new state after one step, ``{name: (N, units)}`` (keys: gate names, ``h``, ``c``).

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.recurrent import SimpleRNN
    >>> out = step(SimpleRNN([[2.0]], [[1.0]], activation="linear"), [1.0], h_prev=[0.5])
    >>> out["h"].tolist()
    [[2.5]]
    """
    values = numpy_ref.evaluate(step_graph(layer), _step_input(layer, x_t, h_prev, c_prev))
    out = {spec.name: values[f"step/{spec.node}"] for spec in _specs(layer)}
    out["h"] = values["step/h"]
    if isinstance(layer, LSTM):
        out["c"] = values["step/c"]
    return out


@dataclass(frozen=True)
class GateTrace:
    """Per-step values of a recurrent layer over a batch of sequences, in processing order.

    Attributes
    ----------
    gates : Mapping[str, ndarray (N, T, units)]
        Every gate by its full name (LSTM: input, forget, cell, output; GRU:
        update, reset, candidate; SimpleRNN: hidden).
    h : ndarray (N, T, units)
        The hidden state after each step.
    c : ndarray (N, T, units) or None
        The LSTM cell state after each step.
    """

    gates: Mapping[str, Array]
    h: Array
    c: Array | None


def gate_values(layer: AbstractRecurrent, x: ArrayLike, *, mask: object = None) -> GateTrace:
    """Every gate's value at every step of ``layer`` on ``x`` ``(N, T, n_in)``, from a zero state.

    Keras semantics: with ``go_backwards`` the steps are processed (and
    returned) from the last input step to the first, as Keras returns them.

    Parameters
    ----------
    layer : SimpleRNN, LSTM or GRU
    x : array_like, shape (N, T, n_in)
    mask : None
        Masking is not supported (it changes which steps run); anything but
        None raises :class:`CapabilityError`.

    Returns
    -------
    GateTrace

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.recurrent import GRU
    >>> t = gate_values(GRU(np.zeros((1, 3)), np.zeros((1, 3))), np.zeros((2, 5, 1)))
    >>> sorted(t.gates), t.h.shape
    (['candidate', 'reset', 'update'], (2, 5, 1))
    """
    specs = _specs(layer)
    if mask is not None:
        raise CapabilityError("The 'mask' parameter is not supported: masking changes which time steps run; "
                              "pass only the unmasked steps of each sequence instead")
    arr = as_real_array(x, "x")
    if arr.ndim != 3 or arr.shape[2] != layer.n_in or arr.shape[1] == 0:
        raise ShapeError(f"x must have shape (N, T, {layer.n_in}) with T >= 1; got shape {arr.shape}")
    T = arr.shape[1]
    values = numpy_ref.evaluate(layer.to_graph(T), arr)

    def stacked(node: str) -> Array:
        out = np.stack([values[f"{layer.name}/t{t}/{node}"] for t in range(T)], axis=1)
        out.setflags(write=False)
        return out

    gates = MappingProxyType({spec.name: stacked(spec.node) for spec in specs})
    return GateTrace(gates=gates, h=stacked("h"), c=stacked("c") if isinstance(layer, LSTM) else None)
