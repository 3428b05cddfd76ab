"""The forward pass as SymPy expressions, layer by layer.

Each layer ``l = 1..L`` (1-based in the mathematics, like the superscripts)
has a pre-activation ``z^{(l)} = a^{(l-1)} W^{(l)} + b^{(l)}`` and an
activation ``a^{(l)} = f_l(z^{(l)})``, with ``a^{(0)} = x`` (row vectors, the
Keras layout).  The graph keeps these *per-layer* equations, each in terms of
the previous layer's variables, so a deep or wide network never turns into one
giant expression; :meth:`ForwardGraph.pre_activation` and
:meth:`ForwardGraph.activation` compose them into expressions of the inputs
``x_0 .. x_{n-1}`` on request.

With ``numeric=True`` the trained numbers are substituted (a ``1 x n`` SymPy
``Matrix`` per layer, built on first use); with ``numeric=False`` the weights
stay matrix symbols ``W^{(l)}`` and ``b^{(l)}``.

Examples
--------
>>> import symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.5]], [-1.0], "sigmoid")])
>>> g = sr.forward_graph(m)
>>> g.activation(1)
Matrix([[1/(exp(1 - 0.5*x_0) + 1)]])
>>> z = sr.forward_graph(m, numeric=False).layers[0].z   # x W1 + b1, matrix symbols
>>> z.shape, sorted(str(s) for s in z.free_symbols)
((1, 1), ['W1', 'b1', 'x'])
"""

from __future__ import annotations

from functools import cached_property

import sympy as sp
from sympy.core.relational import Relational
from sympy.functions.elementary.piecewise import ExprCondPair

from ..errors import InvalidValueError, UnsupportedLayerError
from ..graph import Affine, Elementwise, Node
from ..models import Dense, Sequential
from .latex import activation_latex, latex, named_matrix, named_symbol

__all__ = ["MAX_EXPLICIT_WIDTH", "ForwardGraph", "LayerGraph", "forward_graph", "graph_expressions", "input_symbols",
           "substitute"]

#: a layer wider than this (inputs or outputs) is typeset in matrix form
MAX_EXPLICIT_WIDTH = 4


def input_symbols(n: int) -> tuple[sp.Symbol, ...]:
    """The input symbols ``x_0 .. x_{n-1}`` (real)."""
    return tuple(named_symbol(f"x_{i}", f"x_{{{i}}}", real=True) for i in range(n))


def substitute(expr, rule: dict):
    """``expr.xreplace(rule)`` that never re-evaluates Piecewise conditions.

    Composing layers re-creates every Piecewise (leaky ReLU, ELU, ...) and its
    condition ``z >= 0`` around whole sub-networks.  SymPy would fold and
    evaluate those conditions, asking its assumption system for the sign of
    a sum of nested functions, which can take forever.  The per-layer
    expressions are already simplified, so Piecewise nodes, their pairs and
    their relations are rebuilt as they are; everything else as usual.
    """
    memo: dict = {}

    def walk(e):
        if e in rule:
            return rule[e]
        if not e.args:
            return e
        if e in memo:
            return memo[e]
        args = tuple(walk(a) for a in e.args)
        if args == e.args:
            out = e
        elif isinstance(e, _AS_IS):
            out = sp.Basic.__new__(type(e), *args)
        else:
            out = e.func(*args)
        memo[e] = out
        return out

    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(walk)
    return walk(expr)


_AS_IS = (sp.Piecewise, ExprCondPair, Relational)


class LayerGraph:
    """One layer's equations ``z = a_prev W + b`` and ``a = f(z)``, from its graph nodes' ops.

    The SymPy forms come from the ops themselves
    (:meth:`symrecon.graph.Affine.sympy`, :meth:`symrecon.graph.Elementwise.sympy`),
    so the forward pass has one SymPy builder.

    Attributes
    ----------
    number : int
        1-based layer number ``l`` (the superscript).
    layer : Dense
    numeric : bool
    inputs : sympy.Matrix (1 x n_in) or MatrixSymbol
        ``a^{(l-1)}`` (the model inputs ``x`` for ``l = 1``).
    outputs : sympy.Matrix (1 x n_out) or MatrixSymbol
        Variables naming ``a^{(l)}``, the inputs of the next layer.
    W, b : MatrixSymbol
        The weight symbols ``W^{(l)}`` and ``b^{(l)}``.
    z, a : sympy.Matrix or MatrixExpr
        Pre-activation and activation in terms of :attr:`inputs`.
    z_node, a_node : Node
        The layer's nodes ``{name}/z`` and ``{name}/a`` in the model's graph.
    """

    def __init__(self, number: int, layer: Dense, numeric: bool, inputs, outputs,
                 nodes: tuple[Node, Node] | None = None):
        self.number = number
        self.layer = layer
        self.z_node, self.a_node = nodes if nodes is not None else layer.graph.nodes[1:3]
        affine, elementwise = self.z_node.op, self.a_node.op
        # a dense layer's nodes are always its affine map and its activation
        assert isinstance(affine, Affine) and isinstance(elementwise, Elementwise)
        self.affine, self.elementwise = affine, elementwise
        self.numeric = numeric
        self.inputs = inputs
        self.outputs = outputs
        l = number
        self.W = named_matrix(f"W{l}", f"W^{{({l})}}", layer.n_in, layer.n_out)
        self.b = named_matrix(f"b{l}", f"b^{{({l})}}", 1, layer.n_out)
        self.z_symbol = named_matrix(f"z{l}", f"z^{{({l})}}", 1, layer.n_out)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def activation_fn(self):
        return self.layer.activation

    @property
    def is_explicit(self) -> bool:
        """Small enough to typeset entry by entry."""
        return max(self.layer.n_in, self.layer.n_out) <= MAX_EXPLICIT_WIDTH

    @cached_property
    def z(self):
        # Numbers substituted, or the compact matrix-symbol form x W + b.
        return self.affine.sympy([self.inputs], symbols=None if self.numeric else (self.W, self.b))

    @cached_property
    def a(self):
        return self.elementwise.sympy([self.z])

    def equations(self, n_layers: int | None = None) -> tuple[sp.Eq, sp.Eq]:
        """``(z^{(l)} = a^{(l-1)} W^{(l)} + b^{(l)}, a^{(l)} = f(z^{(l)}))``.

        Numbers appear entry by entry only for small numeric layers
        (:attr:`is_explicit`); otherwise the matrix form is returned.
        ``n_layers`` names the last layer's output ``y``.
        """
        l, n_in, n_out = self.number, self.layer.n_in, self.layer.n_out
        inputs = _row_symbol("a", l - 1, n_in)
        outputs = _row_symbol("y" if l == n_layers else "a", l, n_out)
        z_rhs = self.z if (self.numeric and self.is_explicit) else self.affine.sympy([inputs], symbols=(self.W, self.b))
        return (sp.Eq(self.z_symbol, z_rhs, evaluate=False),
                sp.Eq(outputs, self.elementwise.sympy([self.z_symbol]), evaluate=False))

    def __repr__(self) -> str:
        return (f"LayerGraph(l={self.number}, {self.layer.n_in}->{self.layer.n_out}, "
                f"{self.layer.activation.name}, numeric={self.numeric})")


def _row_symbol(stem: str, l: int, n: int) -> sp.MatrixSymbol:
    """Row-vector symbol ``a^{(l)}`` (``x`` for ``l = 0``, plain ``y`` for stem "y")."""
    if l == 0:
        return named_matrix("x", "x", 1, n)
    if stem == "y":
        return named_matrix("y", "y", 1, n)
    return named_matrix(f"{stem}{l}", f"{stem}^{{({l})}}", 1, n)


def _row_scalars(l: int, n: int) -> sp.Matrix:
    return sp.Matrix([[named_symbol(f"a{l}_{j}", f"a^{{({l})}}_{{{j}}}", real=True) for j in range(n)]])


class ForwardGraph:
    """SymPy form of a model's forward pass; build it with :func:`forward_graph`.

    Attributes
    ----------
    model : Sequential
    numeric : bool
        Trained numbers substituted (True) or kept as matrix symbols.
    inputs : tuple of sympy.Symbol
        ``x_0 .. x_{n-1}``.
    layers : tuple of LayerGraph
        Per-layer equations, each in terms of the previous layer's variables.
    """

    def __init__(self, model: Sequential, numeric: bool):
        self.model = model
        self.numeric = numeric
        self.inputs = input_symbols(model.n_in)
        layers = []
        prev = sp.Matrix([list(self.inputs)]) if numeric else _row_symbol("a", 0, model.n_in)
        # The model's graph is x, then (z, a) per dense layer, in order.
        nodes = model.graph.nodes[1:]
        for i, layer in enumerate(model.layers):
            assert isinstance(layer, Dense)  # checked by forward_graph
            l = i + 1
            outputs = _row_scalars(l, layer.n_out) if numeric else _row_symbol("a", l, layer.n_out)
            layers.append(LayerGraph(l, layer, numeric, prev, outputs, (nodes[2 * i], nodes[2 * i + 1])))
            prev = outputs
        self.layers: tuple[LayerGraph, ...] = tuple(layers)
        self._composed: dict[int, tuple] = {}

    def _compose(self, l: int):
        """``(z^{(l)}, a^{(l)})`` in terms of the inputs, by substituting layer after layer."""
        if not 1 <= l <= len(self.layers):
            raise InvalidValueError(f"layer number must be in 1..{len(self.layers)}; got {l!r}")
        if l not in self._composed:
            lg = self.layers[l - 1]
            if l == 1:
                self._composed[l] = (lg.z, lg.a)
            else:
                _, prev_a = self._compose(l - 1)
                subs = dict(zip(lg.inputs, prev_a)) if self.numeric else {lg.inputs: prev_a}
                self._composed[l] = (substitute(lg.z, subs), substitute(lg.a, subs))
        return self._composed[l]

    def pre_activation(self, l: int):
        """``z^{(l)}`` as a function of the inputs (``l`` is 1-based)."""
        return self._compose(l)[0]

    def activation(self, l: int):
        """``a^{(l)}`` as a function of the inputs (``l`` is 1-based)."""
        return self._compose(l)[1]

    @property
    def output(self):
        """The model output ``y = a^{(L)}`` as a function of the inputs."""
        return self.activation(len(self.layers))

    def equations(self) -> list[sp.Eq]:
        """All per-layer equations, in order."""
        return [eq for lg in self.layers for eq in lg.equations(len(self.layers))]

    def latex(self, **settings) -> str:
        """An ``align*`` block with one line per equation (matrix form for large layers).

        Parameters
        ----------
        **settings
            Passed to :class:`~symrecon.symbolic.latex.SymreconLatexPrinter`
            (e.g. ``float_digits=4``).
        """
        rows = []
        for lg in self.layers:
            z_eq, a_eq = lg.equations(len(self.layers))
            rows.append(rf"{latex(z_eq.lhs, **settings)} &= {latex(z_eq.rhs, **settings)}")
            rows.append(rf"{latex(a_eq.lhs, **settings)} &= {latex(a_eq.rhs, **settings)}")
            if not (self.numeric and lg.is_explicit):
                act = activation_latex(lg.layer.activation)
                rows[-1] += (rf" && W^{{({lg.number})}} \in \mathbb{{R}}^{{{lg.layer.n_in} \times "
                             rf"{lg.layer.n_out}}},\ {act} \text{{ elementwise}}")
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"

    def _repr_latex_(self) -> str:
        body = self.latex().replace("\\begin{align*}", "\\begin{aligned}").replace("\\end{align*}", "\\end{aligned}")
        return f"$${body}$$"

    def __repr__(self) -> str:
        return f"ForwardGraph({len(self.layers)} layers, n_in={self.model.n_in}, numeric={self.numeric})"


def forward_graph(model, numeric: bool = True) -> ForwardGraph:
    """SymPy expressions for every layer's pre-activation and activation.

    Parameters
    ----------
    model : Sequential or Dense
    numeric : bool, default True
        Substitute the trained numbers; False keeps ``W^{(l)}``, ``b^{(l)}``
        as matrix symbols.

    Returns
    -------
    ForwardGraph

    Raises
    ------
    UnsupportedLayerError
        A layer that is not Dense.

    Examples
    --------
    >>> import symrecon as sr
    >>> g = sr.forward_graph(sr.Sequential([sr.Dense([[0.4]], [-25.0])]))
    >>> g.output
    Matrix([[0.4*x_0 - 25]])
    """
    if isinstance(model, Dense):
        model = Sequential([model])
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a symrecon Sequential or Dense; got {type(model).__name__}")
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, Dense):
            raise UnsupportedLayerError(
                f"forward_graph needs Dense layers; layer {i} ({layer.name!r}) is a {type(layer).__name__}"
            )
    return ForwardGraph(model, bool(numeric))


def graph_expressions(graph: object) -> dict[str, sp.Matrix]:
    """Every node of an operation graph as SymPy row matrices of the inputs ``x_0 ..``.

    The same per-op SymPy forms :class:`ForwardGraph` uses, applied to any
    graph (recurrent ones included, with sequences flattened row-major:
    ``x_{t n + j}`` is feature ``j`` at step ``t``).  Expressions grow with
    depth and length: meant for small graphs and for tests.

    Parameters
    ----------
    graph : symrecon.graph.Graph, or a model (see :func:`symrecon.graph.to_graph`)

    Returns
    -------
    dict
        ``{node name: sympy.Matrix (1 x width)}``

    Examples
    --------
    >>> import symrecon as sr
    >>> graph_expressions(sr.Dense([[2.0]], [1.0], name="d").graph)["d/a"]
    Matrix([[2*x_0 + 1]])
    """
    from ..graph import INPUT, to_graph

    graph = to_graph(graph)
    values = {INPUT: sp.Matrix([list(input_symbols(graph.n_in))])}
    for node in graph.nodes[1:]:
        assert node.op is not None  # only the input node has no op
        values[node.name] = node.op.sympy([values[i] for i in node.inputs])
    return values
