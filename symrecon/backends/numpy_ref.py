"""The NumPy reference evaluator: forward pass, Jacobian and gradient of any graph.

This is the one place a model is evaluated in NumPy.  It walks the nodes of
a :class:`~symrecon.graph.Graph` and asks each op for its forward value, its
tangent push (JVP) or its cotangent pull (VJP); the ops hold the mathematics.
Every other evaluator (the numba kernels, the SymPy forms) is tested against
it, and :meth:`symrecon.Sequential.forward`, :meth:`symrecon.Dense.forward`,
the recurrent layers and the scipy solvers call it.  Clarity over speed:
vectorised over the batch, one node at a time.

``model`` may be a :class:`~symrecon.graph.Graph`, anything
:func:`~symrecon.graph.to_graph` accepts (a ``Sequential``, a layer, an
object with ``.layers`` of ``kernel``/``bias``/``activation``).  Inputs are
batches ``(N, n_in)``, or ``(N, T, n_in)`` for a model starting with a
recurrent layer (``T`` is read from ``x``).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.backends import numpy_ref
>>> m = sr.Sequential([sr.Dense([[2.0]], [1.0], "linear")])
>>> out, jac = numpy_ref.jacobian(m, np.array([[3.0]]))
>>> float(out[0, 0]), float(jac[0, 0, 0])
(7.0, 2.0)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InvalidValueError
from ..graph import INPUT, Elementwise, Graph, to_graph

__all__ = ["bounds", "evaluate", "forward", "gradient", "graph_of", "jacobian", "layer_values"]

Float64Array = NDArray[np.float64]


def graph_of(model: Any, x: ArrayLike | None = None) -> Graph:
    """The graph of ``model``; for a recurrent model the sequence length comes from ``x`` ``(N, T, n)``."""
    if isinstance(model, Graph):
        return model
    timesteps = None
    first = getattr(model, "layers", (model,))[0]
    if getattr(first, "takes_sequences", False) and x is not None and np.ndim(x) == 3:
        timesteps = int(np.shape(x)[1])
    if hasattr(model, "to_graph"):
        return model.to_graph(timesteps)
    return to_graph(model, timesteps)


def evaluate(graph: Graph, x: ArrayLike) -> dict[str, Float64Array]:
    """Every node's value, ``{name: (N, width)}``, for inputs ``x`` of shape ``(N, *graph.input_shape)``.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> g = sr.Sequential([sr.Dense([[1.0]], [-1.0], "relu", name="d")]).graph
    >>> evaluate(g, np.array([[0.5]]))["d/z"]
    array([[-0.5]])
    """
    values = {INPUT: graph.check_input(x)}
    for node in graph.nodes[1:]:
        values[node.name] = node.op.forward([values[i] for i in node.inputs])  # type: ignore[union-attr]
    return values


def _shaped(graph: Graph, out: Float64Array) -> Float64Array:
    return out.reshape((out.shape[0],) + graph.output_shape)


def forward(model: Any, x: ArrayLike) -> Float64Array:
    """``model(x)``: outputs ``(N, *output_shape)`` for inputs ``(N, *input_shape)``."""
    graph = graph_of(model, x)
    return _shaped(graph, evaluate(graph, x)[graph.output])


def jacobian(model: Any, x: ArrayLike) -> tuple[Float64Array, Float64Array]:
    """Outputs ``(N, n_out)`` and Jacobians ``d out / d x`` ``(N, n_out, n_in)``, by forward mode.

    Sequences are flattened row-major on both sides: column ``t * n + j`` of
    the Jacobian is input feature ``j`` at time ``t``.  The tangents ``(N, d, n_in)``
    start as the identity at the input and are pushed through every node.
    """
    graph = graph_of(model, x)
    values = evaluate(graph, x)
    n, k = values[INPUT].shape
    tangents = {INPUT: np.broadcast_to(np.eye(k), (n, k, k))}
    for node in graph.nodes[1:]:
        tangents[node.name] = node.op.jvp(  # type: ignore[union-attr]
            [values[i] for i in node.inputs], values[node.name], [tangents[i] for i in node.inputs])
    return values[graph.output], tangents[graph.output]


def gradient(model: Any, x: ArrayLike, y: ArrayLike) -> tuple[Float64Array, Float64Array]:
    """Costs ``||model(x) - y||^2`` ``(N,)`` and their gradients with respect to ``x``, by reverse mode.

    ``y`` has the output's shape ``(N, *output_shape)``; the gradient has the
    input's ``(N, *input_shape)``.
    """
    graph = graph_of(model, x)
    values = evaluate(graph, x)
    r = values[graph.output] - np.asarray(y, dtype=np.float64).reshape(values[graph.output].shape)
    cotangents = {graph.output: 2.0 * r}
    for node in reversed(graph.nodes[1:]):
        g = cotangents.pop(node.name, None)
        if g is None:  # a node the output does not depend on
            continue
        pulled = node.op.vjp([values[i] for i in node.inputs], values[node.name], g)  # type: ignore[union-attr]
        for name, gi in zip(node.inputs, pulled):
            cotangents[name] = cotangents[name] + gi if name in cotangents else gi
    grad = cotangents.get(INPUT, np.zeros_like(values[INPUT]))
    return np.sum(r * r, axis=1), grad.reshape((grad.shape[0],) + graph.input_shape)


def bounds(model: Any, lower: ArrayLike, upper: ArrayLike) -> dict[str, tuple[Float64Array, Float64Array]]:
    """Sound interval bounds of every node over the input box ``lower <= x <= upper``.

    Each op's :meth:`~symrecon.graph.Op.bound` is applied in graph order
    (plain interval propagation: sound, not tight where a value is reused).
    ``lower`` and ``upper`` are ``(N, *input_shape)``; infinite entries are allowed.

    Returns
    -------
    dict
        ``{node name: (lower (N, width), upper (N, width))}``

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], name="d", activation="relu")])
    >>> lo, hi = bounds(m, np.array([[-1.0]]), np.array([[2.0]]))["d/a"]
    >>> lo.tolist(), hi.tolist()
    ([[0.0, 0.0]], [[2.0, 1.0]])
    """
    graph = graph_of(model, lower)
    lo, hi = graph.check_input(lower), graph.check_input(upper)
    if lo.shape != hi.shape or np.any(lo > hi):
        raise InvalidValueError(f"bounds need lower <= upper of one shape; got {lo.shape} and {hi.shape}")
    box = {INPUT: (lo, hi)}
    for node in graph.nodes[1:]:
        box[node.name] = node.op.bound([box[i][0] for i in node.inputs],  # type: ignore[union-attr]
                                       [box[i][1] for i in node.inputs])
    return box


def layer_values(model: Any, x: ArrayLike) -> Iterator[tuple[Any, Float64Array, Float64Array]]:
    """For a chain of dense layers: ``(layer, a, d)`` per layer, ``a = f(z)`` and ``d = f'(z)``, both ``(N, width)``.

    Read off the graph's ``{layer}/a`` nodes (what the structured Gauss-Newton
    twins need: every layer's activation and its derivative).

    Raises
    ------
    TypeError
        A model whose graph is not a chain of affine + activation pairs.
    """
    graph = graph_of(model, x)
    values = evaluate(graph, x)
    acts = [node for node in graph.nodes[1:] if isinstance(node.op, Elementwise)]
    layers = tuple(getattr(model, "layers", (model,)))
    if len(acts) != len(layers) or 2 * len(acts) != len(graph.nodes) - 1:
        raise TypeError(f"layer_values needs a chain of dense layers; {graph!r} is not one")
    for layer, node in zip(layers, acts):
        z = values[node.inputs[0]]
        yield layer, values[node.name], node.op.activation.numpy_derivative(z)  # type: ignore[union-attr]
