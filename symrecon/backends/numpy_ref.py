"""The NumPy reference evaluator: forward pass, Jacobian and gradient of a model.

This is the one place a chain of layers is evaluated in NumPy.  Every other
evaluator (the numba kernels, the SymPy forms) is tested against it, and the
scipy solvers and :meth:`symrecon.Sequential.forward` call it.  It is written
for clarity over speed: vectorised over the batch, one layer at a time.

All functions take a model (anything with ``.layers`` whose elements have
``kernel`` (n_in, n_out), ``bias`` (n_out,) and ``activation``) and inputs
``x`` of shape ``(N, n_in)`` (float64).

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
from numpy.typing import NDArray

__all__ = ["forward", "jacobian", "gradient", "layer_values"]

Float64Array = NDArray[np.float64]


def layer_values(model: Any, x: Float64Array) -> Iterator[tuple[Any, Float64Array, Float64Array]]:
    """Yield ``(layer, a, d)`` per layer: its output ``a = f(z)`` and ``d = f'(z)``, both (N, width)."""
    a = np.asarray(x, dtype=np.float64)
    for layer in model.layers:
        z = a @ layer.kernel + layer.bias
        a = layer.activation.numpy(z)
        yield layer, a, layer.activation.numpy_derivative(z)


def forward(model: Any, x: Float64Array) -> Float64Array:
    """``model(x)``: outputs of shape (N, n_out) for inputs (N, n_in)."""
    a = np.asarray(x, dtype=np.float64)
    for layer in model.layers:
        a = layer.activation.numpy(a @ layer.kernel + layer.bias)
    return a


def jacobian(model: Any, x: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Outputs (N, n_out) and Jacobians ``d out / d x`` (N, n_out, n_in), by forward mode.

    The tangent ``T_l = diag(f'(z_l)) W_l^T T_{l-1}`` is pushed through each
    layer from ``T_0 = I``.
    """
    x = np.asarray(x, dtype=np.float64)
    n, n0 = x.shape
    tangent: Float64Array = np.broadcast_to(np.eye(n0), (n, n0, n0))
    a = x
    for layer, a, d in layer_values(model, x):
        tangent = d[:, :, None] * np.einsum("ij,nik->njk", layer.kernel, tangent)
    return a, tangent


def gradient(model: Any, x: Float64Array, y: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Costs ``||model(x) - y||^2`` (N,) and their gradients with respect to ``x`` (N, n_in), by reverse mode."""
    saved = []
    a = np.asarray(x, dtype=np.float64)
    for layer, a, d in layer_values(model, x):
        saved.append((layer.kernel, d))
    r = a - y
    delta = 2.0 * r
    for kernel, d in reversed(saved):
        delta = (delta * d) @ kernel.T
    return np.sum(r * r, axis=1), delta
