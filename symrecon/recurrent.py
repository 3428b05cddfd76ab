"""Recurrent layers (SimpleRNN, LSTM, GRU) with Keras's inference arithmetic.

Each layer runs over a batch of sequences ``(N, T, F)`` from a zero initial
state and returns the last hidden state ``(N, u)`` or, with
``return_sequences=True``, every hidden state ``(N, T, u)``.  (Changed: a
single sequence ``(T, F)`` is no longer accepted; shapes are never guessed,
so add the batch axis, ``x[None]``.)

A layer only builds: it unrolls over time into the operation graph
(:mod:`symrecon.graph`), every gate a node named ``{layer}/t{t}/{gate}``
(``t`` counts processing steps), and the NumPy reference evaluates it.  Weights use the Keras layout: ``kernel`` is
``(F, k*u)`` and ``recurrent_kernel`` ``(u, k*u)`` with the gate blocks side
by side in Keras's order (LSTM: i, f, c, o; GRU: z, r, h).

``go_backwards=True`` reads the sequence from its last step to its first; the
returned sequence is then in processing order (reversed time), as in Keras.

Only the forward pass lives here; inverting a recurrent layer is a separate
problem.

Examples
--------
>>> import numpy as np
>>> from symrecon.recurrent import SimpleRNN
>>> rnn = SimpleRNN(kernel=[[1.0]], recurrent_kernel=[[0.5]], bias=[0.0], activation="linear")
>>> rnn(np.array([[[1.0], [0.0], [0.0]]]))
array([[0.25]])
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import activations as _activations
from .activations import Activation
from .backends import numpy_ref
from .errors import ShapeError
from .graph import Add, Affine, Constant, Elementwise, Graph, GraphBuilder, Mul, Slice, Value, to_graph
from .models import AbstractLayer, as_frozen_array

__all__ = ["GRU", "LSTM", "AbstractRecurrent", "SimpleRNN"]


class AbstractRecurrent(AbstractLayer):
    """Shared weight checks and the unrolling over time; subclasses define one step.

    Subclasses set ``n_gates`` (column blocks in the kernels) and implement
    :meth:`_add_step`, adding one step's nodes ``(x_t, state) -> (h, state)``.
    """

    n_gates: int = 1
    bias_rows: int = 1
    takes_sequences = True

    def __init__(self, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None,
                 return_sequences: bool, go_backwards: bool, name: str | None, default_name: str):
        cls = type(self).__name__
        self.kernel = as_frozen_array(kernel, f"{cls} kernel", ndim=2)
        self.recurrent_kernel = as_frozen_array(recurrent_kernel, f"{cls} recurrent_kernel", ndim=2)
        k = self.n_gates
        cols = self.kernel.shape[1]
        if cols == 0 or cols % k or self.kernel.shape[0] == 0:
            raise ShapeError(f"{cls} kernel must have shape (n_in, {k}*units) with units >= 1; got {self.kernel.shape}")
        units = cols // k
        if self.recurrent_kernel.shape != (units, cols):
            raise ShapeError(f"{cls} recurrent_kernel must have shape ({units}, {cols}) to match kernel "
                             f"{self.kernel.shape}; got {self.recurrent_kernel.shape}")
        bias_shape = (cols,) if self.bias_rows == 1 else (self.bias_rows, cols)
        if bias is None:
            b = np.zeros(bias_shape)
            b.setflags(write=False)
            self.bias = b
        else:
            self.bias = as_frozen_array(bias, f"{cls} bias")
            if self.bias.shape != bias_shape:
                raise ShapeError(f"{cls} bias must have shape {bias_shape}; got {self.bias.shape}")
        self.units = units
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        self.name = name or default_name

    @property
    def n_in(self) -> int:
        return int(self.kernel.shape[0])

    @property
    def n_out(self) -> int:
        return self.units

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        return self.forward(np.asarray(x, dtype=np.float64))

    def to_graph(self, timesteps: int) -> Graph:
        """This layer alone unrolled over ``timesteps`` steps (built once per length)."""
        graphs = self.__dict__.setdefault("_graphs", {})
        if timesteps not in graphs:
            graphs[timesteps] = to_graph(self, timesteps)
        return graphs[timesteps]

    def forward(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Run over a batch of sequences ``x`` of shape ``(N, T, n_in)``.

        Returns
        -------
        ndarray
            ``(N, units)``, or with ``return_sequences`` ``(N, T, units)``.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[-1] != self.n_in or x.shape[1] == 0:
            hint = "; a single sequence needs the batch axis: pass x[None]" if x.ndim == 2 else ""
            raise ShapeError(f"{type(self).__name__} {self.name!r} expects a batch of sequences "
                             f"(N, T, {self.n_in}) with T >= 1; got shape {x.shape}{hint}")
        return numpy_ref.forward(self.to_graph(x.shape[1]), x)

    def add_to_graph(self, builder: GraphBuilder, value: Value) -> Value:
        """Unroll over the steps of ``value`` (reversed with ``go_backwards``), from a zero state."""
        if not value.sequence:
            raise ShapeError(f"{type(self).__name__} {self.name!r} needs a sequence input (N, T, {self.n_in}); "
                             "the layer before it returns one row per sample")
        prefix = builder.scope(self.name)
        steps = value.names[::-1] if self.go_backwards else value.names
        state = self._initial_state(builder, prefix, steps[0])
        outputs = []
        for t, x_t in enumerate(steps):
            h, state = self._add_step(builder, f"{prefix}/t{t}", x_t, state)
            outputs.append(h)
        return Value(tuple(outputs), True) if self.return_sequences else builder.single(outputs[-1])

    def _initial_state(self, builder: GraphBuilder, prefix: str, like: str):
        # The input node only lends its batch size to the zero state.
        return builder.add(f"{prefix}/h0", Constant(np.zeros(self.units)), [like])

    def _add_step(self, b: GraphBuilder, p: str, x_t: str, state):  # pragma: no cover - abstract
        raise NotImplementedError

    def _gates(self, b: GraphBuilder, p: str, source: str, names: tuple[str, ...]) -> list[str]:
        """Slice ``source`` into its gate blocks ``p/{name}`` (Keras's column order)."""
        u = self.units
        return [b.add(f"{p}/{n}", Slice(i * u, (i + 1) * u), [source]) for i, n in enumerate(names)]

    def _affine(self, key: str, W: NDArray[np.float64], bias: NDArray[np.float64] | None = None) -> Affine:
        # One op per weight block, shared by every time step: a long sequence does not copy the weights T times.
        ops = self.__dict__.setdefault("_ops", {})
        if key not in ops:
            ops[key] = Affine(W, bias)
        return ops[key]

    def _sum(self, b: GraphBuilder, name: str, x_proj: str, h_proj: str) -> str:
        return b.add(name, Add((1.0, 1.0)), [x_proj, h_proj])

    def __repr__(self) -> str:
        flags = "".join([", return_sequences=True" if self.return_sequences else "",
                         ", go_backwards=True" if self.go_backwards else ""])
        return f"{type(self).__name__}({self.n_in}->{self.units}{flags}, name={self.name!r})"


class SimpleRNN(AbstractRecurrent):
    """Elman RNN: ``h_t = f(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Parameters
    ----------
    kernel : array_like, shape (n_in, units)
    recurrent_kernel : array_like, shape (units, units)
    bias : array_like, shape (units,), optional
    activation : str or Activation, default "tanh"
    return_sequences, go_backwards : bool
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.recurrent import SimpleRNN
    >>> SimpleRNN(np.eye(2), np.zeros((2, 2)), None, "relu")(np.ones((1, 4, 2))).tolist()
    [[1.0, 1.0]]
    """

    def __init__(self, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None = None,
                 activation: str | Activation = "tanh", return_sequences: bool = False,
                 go_backwards: bool = False, name: str | None = None):
        super().__init__(kernel, recurrent_kernel, bias, return_sequences, go_backwards, name, "simple_rnn")
        self.activation = _activations.get(activation)

    def _add_step(self, b, p, x_t, h):
        xp = b.add(f"{p}/xproj", self._affine("xproj", self.kernel, self.bias), [x_t])
        hp = b.add(f"{p}/hproj", self._affine("hproj", self.recurrent_kernel), [h])
        h = b.add(f"{p}/h", Elementwise(self.activation, self.units), [self._sum(b, f"{p}/pre", xp, hp)])
        return h, h


class LSTM(AbstractRecurrent):
    """Long short-term memory with Keras's gate order i, f, c, o.

    ``z = x_t @ kernel + h @ recurrent_kernel + bias``; ``i, f, o`` are the
    recurrent activation of their blocks, ``g`` the activation of the ``c``
    block; ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * activation(c_t)``.

    Parameters
    ----------
    kernel, recurrent_kernel : array_like, shapes (n_in, 4*units) and (units, 4*units)
        The four gate blocks side by side, in Keras's order i, f, c, o.
    bias : array_like, shape (4*units,), optional
    activation, recurrent_activation : str or Activation, defaults "tanh" and "sigmoid"
    return_sequences, go_backwards, name
        As for :class:`SimpleRNN`.

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.recurrent import LSTM
    >>> lstm = LSTM(np.zeros((1, 4)), np.zeros((1, 4)), [0.0, 0.0, 10.0, 10.0])
    >>> round(float(lstm(np.zeros((1, 1, 1)))[0, 0]), 4)   # c = sigmoid(0) * tanh(10); h = sigmoid(10) tanh(c)
    0.4621
    """

    n_gates = 4

    def __init__(self, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None = None,
                 activation: str | Activation = "tanh", recurrent_activation: str | Activation = "sigmoid",
                 return_sequences: bool = False, go_backwards: bool = False, name: str | None = None):
        super().__init__(kernel, recurrent_kernel, bias, return_sequences, go_backwards, name, "lstm")
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)

    def _initial_state(self, builder, prefix, like):
        zeros = Constant(np.zeros(self.units))
        return builder.add(f"{prefix}/h0", zeros, [like]), builder.add(f"{prefix}/c0", zeros, [like])

    def _add_step(self, b, p, x_t, state):
        h, c = state
        u, ra, act = self.units, self.recurrent_activation, self.activation
        xp = b.add(f"{p}/xproj", self._affine("xproj", self.kernel, self.bias), [x_t])
        hp = b.add(f"{p}/hproj", self._affine("hproj", self.recurrent_kernel), [h])
        blocks = self._gates(b, p, self._sum(b, f"{p}/pre", xp, hp), ("zi", "zf", "zg", "zo"))
        i, f, g, o = (b.add(f"{p}/{n}", Elementwise(fn, u), [z])
                      for n, fn, z in zip("ifgo", (ra, ra, act, ra), blocks))
        fc = b.add(f"{p}/fc", Mul(), [f, c])
        ig = b.add(f"{p}/ig", Mul(), [i, g])
        c = b.add(f"{p}/c", Add((1.0, 1.0)), [fc, ig])
        h = b.add(f"{p}/h", Mul(), [o, b.add(f"{p}/act_c", Elementwise(act, u), [c])])
        return h, (h, c)


class GRU(AbstractRecurrent):
    """Gated recurrent unit with Keras's gate order z, r, h, both bias modes.

    With ``reset_after=True`` (Keras 3 and tf.keras 2 default) the bias has
    shape ``(2, 3*units)``: row 0 is added on the input side, row 1 on the
    recurrent side, and the reset gate multiplies the recurrent projection of
    the candidate: ``h~ = act(xk_h + b0_h + r * (h @ R_h + b1_h))``.  With
    ``reset_after=False`` the bias ``(3*units,)`` is on the input side only and
    the reset gate acts before the projection: ``h~ = act(xk_h + b_h + (r*h) @ R_h)``.
    Both: ``h_t = z * h_{t-1} + (1 - z) * h~``.

    Parameters
    ----------
    kernel, recurrent_kernel : array_like, shapes (n_in, 3*units) and (units, 3*units)
        The three gate blocks side by side, in Keras's order z, r, h.
    bias : array_like, shape (2, 3*units) (input and recurrent biases) or (3*units,), optional
    activation, recurrent_activation : str or Activation, defaults "tanh" and "sigmoid"
    reset_after : bool, default True
        Keras's default: the reset gate multiplies ``h @ recurrent_kernel`` after the product.
    return_sequences, go_backwards, name
        As for :class:`SimpleRNN`.

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.recurrent import GRU
    >>> gru = GRU(np.ones((1, 3)), np.zeros((1, 3)), None, reset_after=False)
    >>> round(float(gru(np.ones((1, 1, 1)))[0, 0]), 4)   # (1 - sigmoid(1)) * tanh(1)
    0.2048
    """

    n_gates = 3

    def __init__(self, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None = None,
                 activation: str | Activation = "tanh", recurrent_activation: str | Activation = "sigmoid",
                 reset_after: bool = True, return_sequences: bool = False, go_backwards: bool = False,
                 name: str | None = None):
        # bias_rows is read by the base class's shape check, so set it first.
        self.bias_rows = 2 if reset_after else 1
        self.reset_after = bool(reset_after)
        super().__init__(kernel, recurrent_kernel, bias, return_sequences, go_backwards, name, "gru")
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)

    def _add_step(self, b, p, x_t, h):
        u, ra, act, R = self.units, self.recurrent_activation, self.activation, self.recurrent_kernel
        if self.reset_after:
            xz, xr, xh = self._gates(b, p, b.add(f"{p}/xproj", self._affine("xproj", self.kernel, self.bias[0]), [x_t]),
                                     ("xz", "xr", "xh"))
            hz, hr, hh = self._gates(b, p, b.add(f"{p}/hproj", self._affine("hproj", R, self.bias[1]), [h]), ("hz", "hr", "hh"))
        else:
            xz, xr, xh = self._gates(b, p, b.add(f"{p}/xproj", self._affine("xproj", self.kernel, self.bias), [x_t]),
                                     ("xz", "xr", "xh"))
            hz = b.add(f"{p}/hz", self._affine("hz", R[:, :u]), [h])
            hr = b.add(f"{p}/hr", self._affine("hr", R[:, u:2 * u]), [h])
        z = b.add(f"{p}/z", Elementwise(ra, u), [self._sum(b, f"{p}/pre_z", xz, hz)])
        r = b.add(f"{p}/r", Elementwise(ra, u), [self._sum(b, f"{p}/pre_r", xr, hr)])
        if self.reset_after:
            # Keras 3 / tf.keras 2 default: the reset gate scales the recurrent projection.
            reset = b.add(f"{p}/r_hh", Mul(), [r, hh])
        else:
            reset = b.add(f"{p}/r_hh", self._affine("r_hh", R[:, 2 * u:]), [b.add(f"{p}/rh", Mul(), [r, h])])
        cand = b.add(f"{p}/cand", Elementwise(act, u), [self._sum(b, f"{p}/pre_cand", xh, reset)])
        keep = b.add(f"{p}/zh", Mul(), [z, h])
        one_minus_z = b.add(f"{p}/one_minus_z", Add((-1.0,), const=1.0), [z])
        h = b.add(f"{p}/h", Add((1.0, 1.0)), [keep, b.add(f"{p}/new", Mul(), [one_minus_z, cand])])
        return h, h
