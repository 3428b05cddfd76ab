"""The operation graph: named nodes, one declared input shape, one output.

A :class:`Graph` is built once from a model (:func:`symrecon.graph.to_graph`)
and read by every backend.  Node names say where a value comes from::

    x                     the input, one row per target (sequences flattened)
    x/t3                  time step 3 of a sequence input
    dense_1/z, dense_1/a  a dense layer's pre-activation and activation
    dense_1/t3/z          the same layer applied to step 3 of a sequence
    lstm/t3/i, f, g, o    LSTM gates at processing step 3 (g is the candidate c~)
    lstm/t3/c, lstm/t3/h  its cell and hidden state
    gru/t3/z, r, cand, h  GRU update and reset gates, candidate h~, state
    output                the steps of a returned sequence side by side

Shapes are never guessed: the graph declares its input as ``(N, n)`` or
``(N, T, n)`` and :meth:`Graph.check_input` refuses anything else.

Examples
--------
>>> import symrecon as sr
>>> g = sr.Sequential([sr.Dense([[1.0, 2.0]], name="d1"), sr.Dense([[1.0], [1.0]], name="d2")]).graph
>>> g.names
('x', 'd1/z', 'd1/a', 'd2/z', 'd2/a')
>>> g.input_shape, g.output
((1,), 'd2/a')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidValueError, ShapeError
from ._base import Array, Op
from .structural import Concat, Slice

__all__ = ["INPUT", "Graph", "GraphBuilder", "Node", "Value"]

#: name of the input node
INPUT = "x"


@dataclass(frozen=True)
class Node:
    """One value of the graph: ``op(*inputs)`` of width ``width`` (``op`` None for the input)."""

    name: str
    op: Op | None
    inputs: tuple[str, ...]
    width: int


@dataclass(frozen=True)
class Value:
    """What a layer hands to the next while building: one node, or one node per time step."""

    names: tuple[str, ...]
    sequence: bool


class Graph:
    """A model as named nodes in evaluation order.

    Attributes
    ----------
    nodes : tuple of Node
        Topological order; ``nodes[0]`` is the input ``"x"`` (width ``prod(input_shape)``).
    input_shape : tuple of int
        Per row: ``(n,)`` or ``(T, n)``; inputs are ``(N, n)`` / ``(N, T, n)``.
    output : str
        Name of the output node.
    output_shape : tuple of int
        Per row: ``(d,)`` or ``(T, d)`` (a returned sequence).
    name : str
    """

    def __init__(self, nodes: Sequence[Node], input_shape: tuple[int, ...], output: str,
                 output_shape: tuple[int, ...], name: str = "graph"):
        self.nodes = tuple(nodes)
        self._by_name = {node.name: node for node in self.nodes}
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output = output
        self.output_shape = tuple(int(s) for s in output_shape)
        self.name = name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(node.name for node in self.nodes)

    @property
    def is_sequence(self) -> bool:
        """True when the input is a batch of sequences ``(N, T, n)``."""
        return len(self.input_shape) == 2

    @property
    def n_in(self) -> int:
        """Width of one flattened input row."""
        return math.prod(self.input_shape)

    @property
    def n_out(self) -> int:
        """Width of one flattened output row."""
        return math.prod(self.output_shape)

    def __getitem__(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"graph {self.name!r} has no node {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def check_input(self, x: ArrayLike) -> Array:
        """Validate a batch ``(N, *input_shape)`` and return it flattened to ``(N, n_in)`` float64.

        Raises
        ------
        ShapeError
            Any other shape; a single sequence ``(T, n)`` is told to add the batch axis.
        """
        arr = np.asarray(x, dtype=np.float64)
        want = "(N, " + ", ".join(str(s) for s in self.input_shape) + ")"
        if arr.ndim == 0 or arr.shape[1:] != self.input_shape:
            hint = ""
            if self.is_sequence and arr.shape == self.input_shape:
                hint = "; a single sequence needs the batch axis: pass x[None]"
            raise ShapeError(f"graph {self.name!r} expects input of shape {want}; got shape {arr.shape}{hint}")
        return arr.reshape(arr.shape[0], self.n_in)

    def __repr__(self) -> str:
        return (f"Graph({self.name!r}, {len(self.nodes)} nodes, input (N, {', '.join(map(str, self.input_shape))}), "
                f"output {self.output!r})")


class GraphBuilder:
    """Adds nodes in order and checks every op's input widths as it goes.

    Parameters
    ----------
    input_shape : tuple of int
        ``(n,)`` or ``(T, n)``, without the batch axis.
    name : str

    Examples
    --------
    >>> from symrecon.graph import Affine, GraphBuilder
    >>> b = GraphBuilder((2,))
    >>> out = b.add("lin/z", Affine([[1.0], [1.0]]), ["x"])
    >>> b.finish(b.single(out)).output
    'lin/z'
    """

    def __init__(self, input_shape: tuple[int, ...], name: str = "graph"):
        if len(input_shape) not in (1, 2) or min(input_shape) <= 0:
            raise ShapeError(f"graph input shape must be (n,) or (T, n) with positive sizes; got {input_shape}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.name = name
        self._nodes: dict[str, Node] = {}
        self._nodes[INPUT] = Node(INPUT, None, (), math.prod(self.input_shape))
        self._scopes: set[str] = set()

    def width(self, name: str) -> int:
        return self._nodes[name].width

    def add(self, name: str, op: Op, inputs: Sequence[str]) -> str:
        """Add ``name = op(*inputs)``; returns ``name``."""
        if name in self._nodes:
            raise InvalidValueError(f"graph node {name!r} is defined twice")
        missing = [i for i in inputs if i not in self._nodes]
        if missing:
            raise InvalidValueError(f"graph node {name!r} reads undefined nodes {missing}")
        try:
            width = op.out_width([self._nodes[i].width for i in inputs])
        except ShapeError as exc:
            raise ShapeError(f"node {name!r}: {exc}") from None
        self._nodes[name] = Node(name, op, tuple(inputs), width)
        return name

    def scope(self, base: str) -> str:
        """A node-name prefix for a layer: ``base``, or ``base_2``, ... when taken."""
        name, k = base, 1
        while name in self._scopes or name == INPUT:
            k += 1
            name = f"{base}_{k}"
        self._scopes.add(name)
        return name

    @staticmethod
    def single(name: str) -> Value:
        return Value((name,), False)

    def input_value(self) -> Value:
        """The model input: the node ``x``, or one ``x/t{t}`` slice per time step."""
        if len(self.input_shape) == 1:
            return self.single(INPUT)
        T, n = self.input_shape
        return Value(tuple(self.add(f"{INPUT}/t{t}", Slice(t * n, (t + 1) * n), [INPUT]) for t in range(T)), True)

    def map_steps(self, base: str, value: Value, add_one: Callable[[GraphBuilder, str, str], str]) -> Value:
        """Apply a per-row layer to a value: once, or to every time step (prefix ``base/t{t}``)."""
        prefix = self.scope(base)
        if not value.sequence:
            return self.single(add_one(self, prefix, value.names[0]))
        return Value(tuple(add_one(self, f"{prefix}/t{t}", n) for t, n in enumerate(value.names)), True)

    def finish(self, value: Value) -> Graph:
        """The graph whose output is ``value`` (steps of a sequence side by side in ``output``)."""
        if value.sequence:
            out = self.add("output", Concat(), list(value.names))
            shape: tuple[int, ...] = (len(value.names), self.width(value.names[0]))
        else:
            out = value.names[0]
            shape = (self.width(out),)
        return Graph(list(self._nodes.values()), self.input_shape, out, shape, self.name)
