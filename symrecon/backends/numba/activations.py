"""numba formulas of the activations: value and derivative, per unit and per layer.

The numba side of the activation table (:mod:`symrecon.activations`): each
activation's ``kernel_code`` selects its formula here.  Every formula is
tested against the table's NumPy forms (``Activation.numpy`` and
``Activation.numpy_derivative``) for every entry.

Examples
--------
>>> from symrecon.backends.numba.activations import act_and_deriv
>>> from symrecon import activations
>>> tanh = activations.get("tanh")
>>> [round(v, 12) for v in act_and_deriv(0.5, tanh.kernel_code, tanh.param)]
[0.46211715726, 0.786447732966]
"""

from __future__ import annotations

import math

from numba import njit

from ...activations import SELU_ALPHA, SELU_SCALE

__all__ = ["act_and_deriv", "act_vec"]

# ---------------------------------------------------------------------------
# Activations: value and derivative in one call (the derivative reuses the value).

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(cache=True, inline="always")
def _sigmoid(z):
    # two branches so that exp never overflows
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True)
def act_and_deriv(z, code, param):
    """``(f(z), f'(z))`` for the activation with :class:`KernelCode` ``code``.

    The branch order follows ``KernelCode``; derivatives at kinks match the
    NumPy forms in :mod:`symrecon.activations` (e.g. ReLU'(0) = 0,
    leaky ReLU'(0) = 1).  NaN propagates (the solvers detect divergence by it).
    """
    if z != z:
        return z, z
    if code == 0:  # LINEAR
        return z, 1.0
    if code == 1:  # SIGMOID
        s = _sigmoid(z)
        return s, s * (1.0 - s)
    if code == 2:  # TANH
        # 1 - 2/(e^{2z} + 1): one exp instead of libm's tanh (about 3x cheaper here), with an
        # absolute error below 4e-16 (tested), which is the error that matters for residuals
        t = 1.0 - 2.0 / (math.exp(2.0 * z) + 1.0)
        return t, 1.0 - t * t
    if code == 3:  # RELU
        return (z, 1.0) if z > 0.0 else (0.0, 0.0)
    if code == 4:  # LEAKY_RELU
        return (z, 1.0) if z >= 0.0 else (param * z, param)
    if code == 5:  # ELU
        if z > 0.0:
            return z, 1.0
        return param * math.expm1(z), param * math.exp(z)
    if code == 6:  # SELU
        if z > 0.0:
            return SELU_SCALE * z, SELU_SCALE
        return SELU_SCALE * SELU_ALPHA * math.expm1(z), SELU_SCALE * SELU_ALPHA * math.exp(z)
    if code == 7:  # SOFTPLUS: max(z, 0) + log1p(exp(-|z|)), derivative sigmoid
        return max(z, 0.0) + math.log1p(math.exp(-abs(z))), _sigmoid(z)
    if code == 8:  # SOFTSIGN
        d = 1.0 + abs(z)
        return z / d, 1.0 / (d * d)
    if code == 9:  # EXPONENTIAL
        e = math.exp(z)
        return e, e
    if code == 10:  # HARD_SIGMOID: clip(param z + 1/2, 0, 1)
        u = param * z
        if abs(u) < 0.5:
            return u + 0.5, param
        return (1.0, 0.0) if u > 0.0 else (0.0, 0.0)
    if code == 11:  # RELU6
        if z <= 0.0:
            return 0.0, 0.0
        if z >= 6.0:
            return 6.0, 0.0
        return z, 1.0
    if code == 12:  # SILU
        s = _sigmoid(z)
        return z * s, s * (1.0 + z * (1.0 - s))
    if code == 13:  # GELU
        phi = 0.5 * (1.0 + math.erf(z / _SQRT2))
        return z * phi, phi + z * math.exp(-0.5 * z * z) * _INV_SQRT_2PI
    return math.nan, math.nan


@njit(cache=True)
def act_vec(z, a, d, n, code, param):
    """``a[j], d[j] = f(z[j]), f'(z[j])`` for ``j < n``: one call per layer.

    Calling :func:`act_and_deriv` once per unit costs more than the unit's
    multiply-adds (a non-inlined call returning a tuple); here the dispatch on
    ``code`` happens once and the common activations run as plain loops.
    Same formulas as :func:`act_and_deriv` (both are tested against NumPy).
    """
    if code == 0:  # LINEAR
        for j in range(n):
            a[j] = z[j]
            d[j] = 1.0
    elif code == 2:  # TANH
        for j in range(n):
            t = 1.0 - 2.0 / (math.exp(2.0 * z[j]) + 1.0)
            a[j] = t
            d[j] = 1.0 - t * t
    elif code == 1:  # SIGMOID
        for j in range(n):
            s = _sigmoid(z[j])
            a[j] = s
            d[j] = s * (1.0 - s)
    elif code == 3:  # RELU
        for j in range(n):
            zj = z[j]
            # written so that NaN propagates: not (NaN <= 0) is true
            a[j] = 0.0 if zj <= 0.0 else zj
            d[j] = 0.0 if zj <= 0.0 else (1.0 if zj > 0.0 else zj)
    else:
        for j in range(n):
            a[j], d[j] = act_and_deriv(z[j], code, param)
