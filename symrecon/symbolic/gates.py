"""One recurrent step in SymPy: every gate in ``x_t``, ``h_{t-1}``, ``c_{t-1}``, and gate-region derivations.

:func:`step_expressions` evaluates the layer's one-step graph
(:func:`symrecon.gates.step_graph`) with the graph ops' own SymPy forms, so the
expressions are the ones the numeric code computes (a test lambdifies them).
:func:`step_derivation` writes the same step in matrix form (per gate block
``W_g``, ``U_g``, ``b_g``), and :func:`region_derivation` explains each
inequality of :func:`symrecon.gate_region`.

Examples
--------
>>> import numpy as np
>>> from symrecon.recurrent import SimpleRNN
>>> from symrecon.symbolic.gates import step_expressions
>>> step_expressions(SimpleRNN([[2.0]], [[0.5]], [1.0]))["hidden"]
Matrix([[tanh(0.5*h_{t-1,0} + 2*x_{t,0} + 1)]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..graph import INPUT
from .derivation import Derivation, Step
from .graph import graph_expressions
from .latex import Activated, named_matrix, named_symbol

__all__ = ["Condition", "region_derivation", "step_derivation", "step_expressions", "step_symbols"]


def step_symbols(layer: Any) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    """Scalar symbols ``x_{t,j}``, ``h_{t-1,k}`` and ``c_{t-1,k}`` (the last empty unless LSTM)."""
    x = tuple(named_symbol(f"x_{{t,{j}}}", f"x_{{t,{j}}}", real=True) for j in range(layer.n_in))
    h = tuple(named_symbol(f"h_{{t-1,{k}}}", f"h_{{t-1,{k}}}", real=True) for k in range(layer.units))
    c = tuple(named_symbol(f"c_{{t-1,{k}}}", f"c_{{t-1,{k}}}", real=True) for k in range(layer.units))
    return x, h, (c if type(layer).__name__ == "LSTM" else ())


def step_expressions(layer: Any) -> dict[str, sp.Matrix]:
    """Every gate (by full name) and the new state ``h`` (and ``c``), as ``1 x units`` SymPy matrices.

    Trained numbers are substituted; symbols are those of :func:`step_symbols`.
    """
    from ..gates import GATES, step_graph  # gates imports this module's Condition: import late

    graph = step_graph(layer)
    values = graph_expressions(graph)
    x, h, c = step_symbols(layer)
    rule = dict(zip(values[INPUT], x + h + c))
    out = {spec.name: values[f"step/{spec.node}"].xreplace(rule) for spec in GATES[type(layer)]}
    out["h"] = values["step/h"].xreplace(rule)
    if c:
        out["c"] = values["step/c"].xreplace(rule)
    return out


#: candidates print with a tilde (``c`` and ``h`` also name the states)
_GATE_LATEX = {"c": r"\tilde{c}", "h": r"\tilde{h}"}


def _block_symbols(layer: Any, g: str, n: int, u: int):
    W = named_matrix(f"W_{g}", f"W_{{{g}}}", n, u)
    U = named_matrix(f"U_{g}", f"U_{{{g}}}", u, u)
    b = named_matrix(f"b_{g}", f"b_{{{g}}}", 1, u)
    return W, U, b


def step_derivation(layer: Any) -> Derivation:
    """One step in matrix form: each gate, then the state update (Keras's conventions)."""
    from ..gates import GATES

    n, u = layer.n_in, layer.units
    x = named_matrix("x_t", "x_{t}", 1, n)
    h = named_matrix("h_prev", "h_{t-1}", 1, u)
    steps, gates = [], {}
    for spec in GATES[type(layer)]:
        W, U, b = _block_symbols(layer, spec.alias, n, u)
        gates[spec.alias] = G = named_matrix(f"gate_{spec.alias}", _GATE_LATEX.get(spec.alias, spec.alias), 1, u)
        inner = sp.MatAdd(sp.MatMul(x, W), sp.MatMul(h, U), b)
        if type(layer).__name__ == "GRU" and spec.alias == "h":
            r = gates["r"]
            rec = sp.HadamardProduct(r, sp.MatAdd(sp.MatMul(h, U), named_matrix("b_h_rec", r"b'_{h}", 1, u))) \
                if layer.reset_after else sp.MatMul(sp.HadamardProduct(r, h), U)
            inner = sp.MatAdd(sp.MatMul(x, W), b, rec)
        steps.append(Step(sp.Eq(G, Activated(spec.activation(layer), inner), evaluate=False),
                          f"the {spec.name} gate ({spec.activation(layer).name})", "model"))
    steps.extend(_state_update(layer, gates, h, u))
    return Derivation(tuple(steps), title=f"One step of {type(layer).__name__} {layer.name}")


def _state_update(layer: Any, gates: dict, h: sp.MatrixSymbol, u: int) -> list[Step]:
    h_new = named_matrix("h_t", "h_{t}", 1, u)
    kind = type(layer).__name__
    if kind == "LSTM":
        c_prev, c_new = named_matrix("c_prev", "c_{t-1}", 1, u), named_matrix("c_t", "c_{t}", 1, u)
        c_rhs = sp.MatAdd(sp.HadamardProduct(gates["f"], c_prev), sp.HadamardProduct(gates["i"], gates["c"]))
        return [Step(sp.Eq(c_new, c_rhs, evaluate=False), "the cell state keeps f of the old and adds i times c~",
                     "model"),
                Step(sp.Eq(h_new, sp.HadamardProduct(gates["o"], Activated(layer.activation, c_new)),
                           evaluate=False), "the new hidden state", "model")]
    if kind == "GRU":
        rhs = sp.MatAdd(sp.HadamardProduct(gates["z"], h),
                        sp.HadamardProduct(sp.MatAdd(sp.OneMatrix(1, u), -gates["z"]), gates["h"]))
        return [Step(sp.Eq(h_new, rhs, evaluate=False), "the update gate mixes the old state and the candidate",
                     "model")]
    return [Step(sp.Eq(h_new, gates["h"], evaluate=False), "the hidden state is the activation", "model")]


@dataclass(frozen=True)
class Condition:
    """One inequality ``x_t . a <= rhs`` of a gate region, and where it comes from.

    ``spec`` is the :class:`~symrecon.gates.GateSpec`; the gate unit ``unit`` is
    ``act(x_t . w + offset)`` and must be ``<= threshold`` (``side="below"``)
    or ``>= threshold`` (``"above"``); ``z_star = act^{-1}(threshold)``.
    """

    spec: Any
    unit: int
    side: str
    threshold: float
    z_star: float
    offset: float
    a: np.ndarray
    rhs: float

    def text(self) -> str:
        rel = "<=" if self.side == "below" else ">="
        return f"{self.spec.name}[{self.unit}] {rel} {self.threshold:g}"


def region_derivation(layer: Any, conditions: list[Condition]) -> Derivation:
    """Why each :class:`Condition` is exactly a halfspace in ``x_t``."""
    n = layer.n_in
    x = sp.Matrix([list(step_symbols(layer)[0])])
    steps = []
    for c in conditions:
        act = c.spec.activation(layer)
        g = named_symbol(f"{c.spec.alias}_{c.unit}", f"{c.spec.alias}_{{t,{c.unit}}}")
        z = named_symbol(f"z{c.spec.alias}_{c.unit}", f"z^{{{c.spec.alias}}}_{{t,{c.unit}}}")
        s = named_symbol(f"s{c.spec.alias}_{c.unit}_{c.side}", f"s^{{{c.spec.alias}}}_{{{c.unit}}}")
        w = c.a if c.side == "below" else -c.a
        affine = (x * sp.Matrix(n, 1, [sp.Float(float(v)) for v in w]))[0, 0] + sp.Float(c.offset)
        rel = "<=" if c.side == "below" else ">="
        steps += [
            Step(sp.Eq(g, act.sympy(z), evaluate=False),
                 f"unit {c.unit} of the {c.spec.name} gate; its pre-activation, with the given state:", "model"),
            Step(sp.Eq(z, affine, evaluate=False), "x_t W[:, j] + h_{t-1} U[:, j] + b_j", "model"),
            Step(sp.Eq(z, sp.Float(c.z_star), evaluate=False),
                 f"{act.name} is non-decreasing, so the gate is {'at most' if c.side == 'below' else 'at least'} "
                 f"{c.threshold:g} exactly when z is {'at most' if c.side == 'below' else 'at least'} this value",
                 "symbolic"),
            Step(sp.Eq(s, (x * sp.Matrix(n, 1, [sp.Float(float(v)) for v in c.a]))[0, 0] - sp.Float(c.rhs),
                       evaluate=False),
                 f"so the condition {c.spec.alias} {rel} {c.threshold:g} is the halfspace s <= 0",
                 "numeric"),
        ]
    return Derivation(tuple(steps), title=f"Gate region of {type(layer).__name__} {layer.name}")
