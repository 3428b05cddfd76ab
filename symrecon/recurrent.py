"""Recurrent layers (SimpleRNN, LSTM, GRU) with Keras's inference arithmetic.

Each layer runs over a sequence ``(T, F)`` or a batch of sequences
``(N, T, F)`` from a zero initial state and returns the last hidden state
(``(u,)`` / ``(N, u)``) or, with ``return_sequences=True``, every hidden state
(``(T, u)`` / ``(N, T, u)``).  Weights use the Keras layout: ``kernel`` is
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
>>> rnn(np.array([[1.0], [0.0], [0.0]]))
array([0.25])
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import activations as _activations
from .activations import Activation
from .errors import ShapeError
from .models import AbstractLayer, as_frozen_array

__all__ = ["GRU", "LSTM", "AbstractRecurrent", "SimpleRNN"]


class AbstractRecurrent(AbstractLayer):
    """Shared weight checks and the time loop; subclasses define one step.

    Subclasses set ``n_gates`` (column blocks in the kernels) and implement
    :meth:`_step`, mapping ``(x_t @ kernel, state) -> (h, state)``.
    """

    n_gates: int = 1
    bias_rows: int = 1

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

    def forward(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Run over ``x`` of shape ``(T, n_in)`` or ``(N, T, n_in)``.

        Returns
        -------
        ndarray
            ``(units,)`` / ``(N, units)``, or with ``return_sequences``
            ``(T, units)`` / ``(N, T, units)``.
        """
        x = np.asarray(x, dtype=np.float64)
        single = x.ndim == 2
        if x.ndim not in (2, 3) or x.shape[-1] != self.n_in or x.shape[-2] == 0:
            raise ShapeError(f"{type(self).__name__} {self.name!r} expects a sequence (T, {self.n_in}) or a batch "
                             f"(N, T, {self.n_in}) with T >= 1; got shape {x.shape}")
        if single:
            x = x[None]
        if self.go_backwards:
            x = x[:, ::-1]
        # The input projection of every step at once: one matmul instead of T.
        proj = x @ self.kernel
        state = self._initial_state(x.shape[0])
        outputs = []
        for t in range(x.shape[1]):
            h, state = self._step(proj[:, t], state)
            outputs.append(h)
        out = np.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return out[0] if single else out

    def _initial_state(self, n: int):
        return np.zeros((n, self.units))

    def _step(self, xk: NDArray[np.float64], state):  # pragma: no cover - abstract
        raise NotImplementedError

    def _blocks(self, m: NDArray[np.float64]) -> list[NDArray[np.float64]]:
        u = self.units
        return [m[..., i * u:(i + 1) * u] for i in range(self.n_gates)]

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
    >>> SimpleRNN(np.eye(2), np.zeros((2, 2)), None, "relu")(np.ones((4, 2))).tolist()
    [1.0, 1.0]
    """

    def __init__(self, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None = None,
                 activation: str | Activation = "tanh", return_sequences: bool = False,
                 go_backwards: bool = False, name: str | None = None):
        super().__init__(kernel, recurrent_kernel, bias, return_sequences, go_backwards, name, "simple_rnn")
        self.activation = _activations.get(activation)

    def _step(self, xk, h):
        h = self.activation.numpy(xk + self.bias + h @ self.recurrent_kernel)
        return h, h


class LSTM(AbstractRecurrent):
    """Long short-term memory with Keras's gate order i, f, c, o.

    ``z = x_t @ kernel + h @ recurrent_kernel + bias``; ``i, f, o`` are the
    recurrent activation of their blocks, ``g`` the activation of the ``c``
    block; ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * activation(c_t)``.

    Parameters
    ----------
    kernel : array_like, shape (n_in, 4*units)
    recurrent_kernel : array_like, shape (units, 4*units)
    bias : array_like, shape (4*units,), optional
    activation : str or Activation, default "tanh"
    recurrent_activation : str or Activation, default "sigmoid"
    return_sequences, go_backwards : bool
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.recurrent import LSTM
    >>> lstm = LSTM(np.zeros((1, 4)), np.zeros((1, 4)), [0.0, 0.0, 10.0, 10.0])
    >>> round(float(lstm(np.zeros((1, 1)))[0]), 4)   # c = sigmoid(0) * tanh(10); h = sigmoid(10) tanh(c)
    0.4621
    """

    n_gates = 4

    def __init__(self, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None = None,
                 activation: str | Activation = "tanh", recurrent_activation: str | Activation = "sigmoid",
                 return_sequences: bool = False, go_backwards: bool = False, name: str | None = None):
        super().__init__(kernel, recurrent_kernel, bias, return_sequences, go_backwards, name, "lstm")
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)

    def _initial_state(self, n):
        return (np.zeros((n, self.units)), np.zeros((n, self.units)))

    def _step(self, xk, state):
        h, c = state
        zi, zf, zc, zo = self._blocks(xk + h @ self.recurrent_kernel + self.bias)
        ra, act = self.recurrent_activation.numpy, self.activation.numpy
        c = ra(zf) * c + ra(zi) * act(zc)
        h = ra(zo) * act(c)
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
    kernel : array_like, shape (n_in, 3*units)
    recurrent_kernel : array_like, shape (units, 3*units)
    bias : array_like, shape (2, 3*units) or (3*units,), optional
    activation : str or Activation, default "tanh"
    recurrent_activation : str or Activation, default "sigmoid"
    reset_after : bool, default True
    return_sequences, go_backwards : bool
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.recurrent import GRU
    >>> gru = GRU(np.ones((1, 3)), np.zeros((1, 3)), None, reset_after=False)
    >>> round(float(gru(np.ones((1, 1)))[0]), 4)   # (1 - sigmoid(1)) * tanh(1)
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

    def _step(self, xk, h):
        ra, act = self.recurrent_activation.numpy, self.activation.numpy
        u = self.units
        R = self.recurrent_kernel
        if self.reset_after:
            mx = xk + self.bias[0]
            mh = h @ R + self.bias[1]
            xz, xr, xh = self._blocks(mx)
            hz, hr, hh = self._blocks(mh)
            z = ra(xz + hz)
            r = ra(xr + hr)
            cand = act(xh + r * hh)
        else:
            xz, xr, xh = self._blocks(xk + self.bias)
            z = ra(xz + h @ R[:, :u])
            r = ra(xr + h @ R[:, u:2 * u])
            cand = act(xh + (r * h) @ R[:, 2 * u:])
        h = z * h + (1.0 - z) * cand
        return h, h
