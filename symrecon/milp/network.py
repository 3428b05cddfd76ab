"""Piecewise-linear networks as affine maps and hinges: what the MILP and the pattern LPs read.

Every piecewise-linear activation of the table is written as

    f(z) = alpha z + beta + sum_j w_j relu(z - t_j),

one *hinge* ``relu(z - t_j)`` per breakpoint (relu: one hinge at 0;
leaky_relu with slope ``a``: ``a z + (1 - a) relu(z)``; relu6: ``relu(z) -
relu(z - 6)``; hard_sigmoid with slope ``k``: ``k relu(z + 1/(2k)) - k
relu(z - 1/(2k))``; linear: no hinge).  A MILP then needs one binary per
hinge and unit, whatever the activation, and a fixed on/off *pattern* of the
hinges turns the whole network into one affine map.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.milp.network import PLNetwork
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 1.0], "relu6"), sr.Dense([[1.0], [1.0]])])
>>> net = PLNetwork.from_model(m)
>>> [layer.n_hinges for layer in net.layers]
[2, 0]
>>> x = np.array([[2.0]])
>>> bool(np.allclose(net.forward(x), m(x)))
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import UnsupportedLayerError
from ..models import Dense, Sequential

__all__ = ["Hinges", "PLLayer", "PLNetwork", "PIECEWISE_LINEAR", "hinges_of"]

Float64Array = NDArray[np.float64]


@dataclass(frozen=True)
class Hinges:
    """``f(z) = alpha z + beta + sum_j weights[j] relu(z - breaks[j])`` (breaks increasing)."""

    alpha: float
    beta: float
    weights: tuple[float, ...]
    breaks: tuple[float, ...]

    def __call__(self, z: Float64Array) -> Float64Array:
        out = self.alpha * z + self.beta
        for w, t in zip(self.weights, self.breaks):
            out = out + w * np.maximum(z - t, 0.0)
        return out


def _hard_sigmoid(k: float) -> Hinges:
    half = 0.5 / k
    return Hinges(0.0, 0.0, (k, -k), (-half, half))


#: activation name -> its hinge form from the activation's parameter
PIECEWISE_LINEAR: dict[str, Callable[[float], Hinges]] = {
    "linear": lambda p: Hinges(1.0, 0.0, (), ()),
    "relu": lambda p: Hinges(0.0, 0.0, (1.0,), (0.0,)),
    "leaky_relu": lambda p: Hinges(p, 0.0, (1.0 - p,), (0.0,)),
    "relu6": lambda p: Hinges(0.0, 0.0, (1.0, -1.0), (0.0, 6.0)),
    "hard_sigmoid": _hard_sigmoid,
    "hard_sigmoid_keras2": _hard_sigmoid,
}


def hinges_of(layer: object, index: int) -> Hinges:
    """The hinge form of a layer's activation, or :class:`UnsupportedLayerError` naming the layer."""
    if not isinstance(layer, Dense):
        raise UnsupportedLayerError(
            f"piecewise-linear methods need Dense layers; layer {index} ({getattr(layer, 'name', '?')!r}) is a "
            f"{type(layer).__name__}")
    act = layer.activation
    if act.name not in PIECEWISE_LINEAR:
        raise UnsupportedLayerError(
            f"layer {index} ({layer.name!r}) has activation {act.name!r}, which is not piecewise linear; "
            f"method 'milp' handles {', '.join(sorted(PIECEWISE_LINEAR))}")
    return PIECEWISE_LINEAR[act.name](float(act.param))


@dataclass(frozen=True)
class PLLayer:
    """One dense layer: ``z = a_prev @ W + b``, ``a = hinges(z)`` (unit-wise)."""

    W: Float64Array
    b: Float64Array
    hinges: Hinges
    name: str

    @property
    def n_out(self) -> int:
        return int(self.W.shape[1])

    @property
    def n_hinges(self) -> int:
        return len(self.hinges.breaks)


@dataclass(frozen=True)
class PLNetwork:
    """A chain of :class:`PLLayer` (built from a :class:`~symrecon.Sequential` of Dense layers)."""

    layers: tuple[PLLayer, ...]

    @classmethod
    def from_model(cls, model: Sequential) -> "PLNetwork":
        """Raises :class:`UnsupportedLayerError` for a layer that is not Dense with a piecewise-linear activation."""
        return cls(tuple(PLLayer(layer.kernel, layer.bias, hinges_of(layer, i), layer.name)  # type: ignore[attr-defined]
                         for i, layer in enumerate(model.layers)))

    @property
    def n_in(self) -> int:
        return int(self.layers[0].W.shape[0])

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    def pre_activations(self, x: Float64Array) -> list[Float64Array]:
        """``z`` of every layer for inputs ``x`` (N, n_in): a list of (N, n_l)."""
        zs, a = [], np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            z = a @ layer.W + layer.b
            zs.append(z)
            a = layer.hinges(z)
        return zs

    def forward(self, x: Float64Array) -> Float64Array:
        """The output (N, n_out) by the hinge forms (agrees with the model's forward pass)."""
        z = self.pre_activations(x)[-1]
        return self.layers[-1].hinges(z)

    def pattern(self, x: Float64Array) -> list[NDArray[np.bool_]]:
        """Which hinges are on at ``x`` (one input, (n_in,)): per layer a bool array (n_hinges, n_l)."""
        zs = self.pre_activations(np.asarray(x, dtype=np.float64)[None])
        return [z[0][None, :] > np.asarray(layer.hinges.breaks, dtype=np.float64)[:, None]
                for layer, z in zip(self.layers, zs)]

    def affine_pieces(self, pattern: list[NDArray[np.bool_]]) -> tuple[list[tuple[Float64Array, Float64Array]],
                                                                         Float64Array, Float64Array]:
        """With every hinge fixed on or off: ``z_l = x @ A_l + c_l`` for every layer, and the output map.

        Returns ``(pre, A, c)``: ``pre[l] = (A_l (n_in, n_l), c_l (n_l,))`` and the output ``x @ A + c``.
        """
        A, c = np.eye(self.n_in), np.zeros(self.n_in)
        pre = []
        for layer, on in zip(self.layers, pattern):
            A, c = A @ layer.W, c @ layer.W + layer.b
            pre.append((A, c))
            h = layer.hinges
            slope = np.full(layer.n_out, h.alpha)
            shift = np.full(layer.n_out, h.beta)
            for j, (w, t) in enumerate(zip(h.weights, h.breaks)):
                slope = slope + w * on[j]
                shift = shift - w * t * on[j]
            A, c = A * slope, c * slope + shift
        return pre, A, c
