"""Numeric models: :class:`Dense` layers chained in a :class:`Sequential`.

Keras conventions throughout: a dense layer computes ``a = f(x @ W + b)`` with
``W`` of shape ``(n_in, n_out)``; batches are rows.  Weights are copied to
float64 and frozen (read-only), so nothing the caller passed in is kept or
modified.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> float(m(np.array([312.5]))[0])
100.0
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import activations as _activations
from .activations import Activation
from .backends import numpy_ref
from .errors import InfeasibleTargetError, ShapeError
from .graph import Graph, GraphBuilder, Value, add_dense, to_graph
from .validation import as_batch, as_real_array

__all__ = ["AbstractLayer", "Dense", "Sequential", "as_frozen_array", "as_batch"]


#: kept for callers of the old names: the checks live in :mod:`symrecon.validation`
as_frozen_array = as_real_array


class AbstractLayer(ABC):
    """What :class:`Sequential` needs of a layer: widths, and how to add itself to a graph.

    A layer only *builds*: :meth:`add_to_graph` adds its nodes, and the
    numeric forward pass is the NumPy reference evaluating them.
    """

    name: str
    #: True for layers that read a sequence (N, T, n) (the recurrent ones)
    takes_sequences: bool = False

    @property
    @abstractmethod
    def n_in(self) -> int: ...

    @property
    @abstractmethod
    def n_out(self) -> int: ...

    @abstractmethod
    def add_to_graph(self, builder: GraphBuilder, value: Value) -> Value:
        """Add this layer's nodes reading ``value``; return the layer's output value."""

    @property
    def graph(self) -> Graph:
        """This layer alone as a graph (built once; layers are immutable)."""
        cached = self.__dict__.get("_graph")
        if cached is None:
            cached = self.__dict__["_graph"] = to_graph(self)
        return cached

    def __getstate__(self) -> dict:
        # The graph cache is rebuilt on demand: pickles (sent to worker processes) carry the weights once.
        return {k: v for k, v in self.__dict__.items() if k not in ("_graph", "_graphs", "_ops")}

    def forward(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Apply the layer to ``x`` of shape ``(..., n_in)`` (already validated float64), via the NumPy reference."""
        x = np.asarray(x, dtype=np.float64)
        rows = x.reshape(-1, self.n_in)
        return numpy_ref.forward(self.graph, rows).reshape(x.shape[:-1] + (self.n_out,))


class Dense(AbstractLayer):
    """A fully connected layer ``a = f(x @ kernel + bias)``.

    Parameters
    ----------
    kernel : array_like, shape (n_in, n_out)
        Weights, Keras layout.
    bias : array_like, shape (n_out,), optional
        Defaults to zeros.
    activation : str or Activation, optional
        Registry name or object; default ``"linear"``.
    name : str, optional

    Examples
    --------
    >>> import symrecon as sr
    >>> d = sr.Dense([[1.0, 0.0], [0.0, 2.0]], [0.0, 1.0], "tanh")
    >>> d.n_in, d.n_out
    (2, 2)
    >>> d.graph.names
    ('x', 'dense/z', 'dense/a')
    """

    def __init__(self, kernel: ArrayLike, bias: ArrayLike | None = None,
                 activation: str | Activation | None = "linear", name: str | None = None):
        self.kernel = as_frozen_array(kernel, "Dense kernel", ndim=2)
        n_out = self.kernel.shape[1]
        if self.kernel.shape[0] == 0 or n_out == 0:
            raise ShapeError(f"Dense kernel must have non-zero shape (n_in, n_out); got {self.kernel.shape}")
        if bias is None:
            b = np.zeros(n_out)
            b.setflags(write=False)
            self.bias = b
        else:
            self.bias = as_frozen_array(bias, "Dense bias", ndim=1)
            if self.bias.shape != (n_out,):
                raise ShapeError(
                    f"Dense bias must have shape ({n_out},) to match kernel {self.kernel.shape}; got {self.bias.shape}"
                )
        self.activation = _activations.get(activation)
        self.name = name or "dense"

    @property
    def n_in(self) -> int:
        return int(self.kernel.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.kernel.shape[1])

    def pre_activation(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``x @ kernel + bias`` for ``x`` of shape ``(..., n_in)`` (the graph's affine op)."""
        return self.graph.nodes[1].op.forward([x])  # type: ignore[union-attr]

    def add_to_graph(self, builder: GraphBuilder, value: Value) -> Value:
        """Nodes ``{name}/z`` (:class:`~symrecon.graph.Affine`) and ``{name}/a`` (:class:`~symrecon.graph.Elementwise`).

        On a sequence (after a recurrent layer returning sequences) the layer
        applies to every step, as Keras does: ``{name}/t{t}/z``, ``{name}/t{t}/a``.
        """
        def one(b: GraphBuilder, prefix: str, name: str) -> str:
            return add_dense(b, prefix, name, self.kernel, self.bias, self.activation)

        return builder.map_steps(self.name, value, one)

    def __repr__(self) -> str:
        return f"Dense({self.n_in}->{self.n_out}, activation={self.activation.name!r}, name={self.name!r})"


class Sequential:
    """A chain of layers; the output of one is the input of the next.

    Parameters
    ----------
    layers : sequence of AbstractLayer
        At least one layer; consecutive widths must match.
    name : str, optional

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense(np.eye(2), activation="tanh"), sr.Dense([[1.0], [1.0]])])
    >>> m.n_in, m.n_out
    (2, 1)
    >>> m(np.zeros((5, 2))).shape
    (5, 1)
    """

    def __init__(self, layers: Iterable[AbstractLayer], name: str | None = None):
        layers = tuple(layers)
        if not layers:
            raise ShapeError("Sequential needs at least one layer; got none")
        for i, layer in enumerate(layers):
            if not isinstance(layer, AbstractLayer):
                raise TypeError(f"layer {i} of Sequential must be a symrecon layer (e.g. Dense); got {type(layer).__name__}")
        for i in range(1, len(layers)):
            if layers[i].n_in != layers[i - 1].n_out:
                raise ShapeError(
                    f"layer {i} ({layers[i].name!r}) expects {layers[i].n_in} inputs but layer {i - 1} "
                    f"({layers[i - 1].name!r}) outputs {layers[i - 1].n_out}"
                )
        self.layers: tuple[AbstractLayer, ...] = layers
        self.name = name or "sequential"

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def is_dense(self) -> bool:
        """True when every layer is a :class:`Dense` (what the solvers handle)."""
        return all(isinstance(layer, Dense) for layer in self.layers)

    def __getstate__(self) -> dict:
        # The graph cache is rebuilt on demand: pickles (sent to worker processes) carry the weights once.
        return {k: v for k, v in self.__dict__.items() if k != "_graphs"}

    @property
    def takes_sequences(self) -> bool:
        """True when the first layer is recurrent: inputs are then ``(N, T, n_in)``."""
        return bool(getattr(self.layers[0], "takes_sequences", False))

    def to_graph(self, timesteps: int | None = None) -> Graph:
        """The model's operation graph (built once per sequence length).

        Parameters
        ----------
        timesteps : int, optional
            ``T``; required exactly when the first layer is recurrent.
        """
        graphs = self.__dict__.setdefault("_graphs", {})
        if timesteps not in graphs:
            graphs[timesteps] = to_graph(self, timesteps)
        return graphs[timesteps]

    @property
    def graph(self) -> Graph:
        """The operation graph of a model taking rows ``(N, n_in)`` (use :meth:`to_graph` for sequences)."""
        return self.to_graph()

    def forward(self, x: ArrayLike) -> NDArray[np.float64]:
        """Numeric forward pass, through the NumPy reference (:mod:`symrecon.backends.numpy_ref`).

        Parameters
        ----------
        x : array_like, shape (n_in,) or (N, n_in); (N, T, n_in) when the first layer is recurrent
            Shapes are never guessed: a recurrent model takes batches of
            sequences only.  (Changed: a single sequence ``(T, n_in)`` used to
            be accepted; it is now a ``ShapeError`` asking for ``x[None]``,
            because ``(3, 1)`` would otherwise mean three targets to a dense
            model and one sequence to a recurrent one.)

        Returns
        -------
        ndarray, shape (n_out,) or (N, n_out); (N, T, n_out) for a returned sequence

        Raises
        ------
        ShapeError
            Any other shape.
        """
        arr = as_frozen_array(x, "model input")
        if self.takes_sequences:
            if arr.ndim != 3 or arr.shape[-1] != self.n_in or arr.shape[1] == 0:
                hint = "; a single sequence needs the batch axis: pass x[None]" if arr.ndim == 2 else ""
                raise ShapeError(f"model input must have shape (N, T, {self.n_in}) (a batch of sequences, "
                                 f"T >= 1); got shape {arr.shape}{hint}")
            return numpy_ref.forward(self.to_graph(arr.shape[1]), arr)
        if arr.ndim == 0 and self.n_in == 1:
            arr = arr.reshape(1)
        if arr.ndim not in (1, 2) or arr.shape[-1] != self.n_in:
            raise ShapeError(
                f"model input must have shape ({self.n_in},) or (N, {self.n_in}); got shape {arr.shape}"
            )
        out = numpy_ref.forward(self.graph, arr.reshape(-1, self.n_in))
        return out[0] if arr.ndim == 1 else out

    __call__ = forward

    def check_target(self, y: NDArray[np.float64]) -> None:
        """Raise :class:`InfeasibleTargetError` if ``y`` (N, n_out) leaves the output image.

        Only the last layer's activation image is checked: a necessary
        condition that costs nothing and catches e.g. sigmoid targets >= 1.
        """
        last = self.layers[-1]
        act = getattr(last, "activation", None)
        if act is None:
            return
        lo, hi, lo_open, hi_open = act.image_bounds
        low, high = float(np.min(y)), float(np.max(y))  # two reductions, no (N, n_out) mask, when all is well
        if (low > lo or (not lo_open and low == lo)) and (high < hi or (not hi_open and high == hi)):
            return
        ok = act.in_image(y)
        if not np.all(ok):
            row, unit = (int(i) for i in np.argwhere(~ok)[0])
            value = float(y[row, unit])
            where = f"target {row}, " if y.shape[0] > 1 else ""
            raise InfeasibleTargetError(
                f"{where}output unit {unit} = {value!r} is outside the image {act.image} of the "
                f"{act.name!r} activation of layer {last.name!r}: no input can produce it",
                layer=last.name, unit=unit, value=value, interval=act.image,
            )

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], name={self.name!r})"
