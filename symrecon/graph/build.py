"""Turn a model into a :class:`~symrecon.graph.Graph`.

Layers build themselves: each has ``add_to_graph(builder, value) -> value``
(see :class:`symrecon.models.Dense` and :mod:`symrecon.recurrent`).  Objects
that only carry ``kernel``, ``bias`` and ``activation`` (the duck-typed models
other code passes around) become an affine op and an activation.

Examples
--------
>>> import symrecon as sr
>>> from symrecon.graph import to_graph
>>> to_graph(sr.Dense([[2.0]], activation="tanh", name="d")).names
('x', 'd/z', 'd/a')
"""

from __future__ import annotations

from typing import Any

from ..errors import ShapeError
from .graph import Graph, GraphBuilder, Value
from .ops import Affine, Elementwise

__all__ = ["add_dense", "to_graph"]


def add_dense(builder: GraphBuilder, prefix: str, name: str, kernel: Any, bias: Any, activation: Any) -> str:
    """Add ``prefix/z = name @ kernel + bias`` and ``prefix/a = f(prefix/z)``; returns ``prefix/a``."""
    op = Affine(kernel, bias)
    z = builder.add(f"{prefix}/z", op, [name])
    return builder.add(f"{prefix}/a", Elementwise(activation, op.n_out), [z])


def _add_layer(builder: GraphBuilder, layer: Any, value: Value) -> Value:
    if hasattr(layer, "add_to_graph"):
        return layer.add_to_graph(builder, value)

    def one(b: GraphBuilder, prefix: str, name: str) -> str:
        return add_dense(b, prefix, name, layer.kernel, layer.bias, layer.activation)

    return builder.map_steps(getattr(layer, "name", None) or "dense", value, one)


def to_graph(model: Any, timesteps: int | None = None) -> Graph:
    """The operation graph of a model, a single layer, or a graph (returned as it is).

    Parameters
    ----------
    model : Sequential, a layer, or any object with ``.layers``
    timesteps : int, optional
        Sequence length ``T``; required when the first layer is recurrent
        (the input is then ``(N, T, n)``), refused otherwise.

    Returns
    -------
    Graph

    Raises
    ------
    ShapeError
        ``timesteps`` missing for a recurrent model or given for one that is not.
    """
    if isinstance(model, Graph):
        return model
    layers = tuple(getattr(model, "layers", None) or (model,))
    first = layers[0]
    n_in = int(first.n_in) if hasattr(first, "n_in") else int(first.kernel.shape[0])
    name = getattr(model, "name", None) or "model"
    if getattr(first, "takes_sequences", False):
        if timesteps is None or int(timesteps) <= 0:
            raise ShapeError(f"{name!r} starts with a recurrent layer: its graph needs the sequence length "
                             f"(timesteps=T, input (N, T, {n_in})); got timesteps={timesteps!r}")
        input_shape: tuple[int, ...] = (int(timesteps), n_in)
    elif timesteps is not None:
        raise ShapeError(f"{name!r} takes rows (N, {n_in}), not sequences; got timesteps={timesteps!r}")
    else:
        input_shape = (n_in,)
    builder = GraphBuilder(input_shape, name)
    value = builder.input_value()
    for layer in layers:
        value = _add_layer(builder, layer, value)
    return builder.finish(value)
