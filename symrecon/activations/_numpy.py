"""NumPy forms of the activations, written so that they never overflow for large ``|z|`` (float64).

Every function takes and returns float64 arrays; the table
(:mod:`symrecon.activations._table`) wraps them with :func:`f64` so that
callers may pass lists or scalars.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType

import numpy as np

from ._core import SELU_ALPHA, SELU_SCALE


@functools.cache
def _special() -> ModuleType:
    """:mod:`scipy.special`, imported on first use so that ``import symrecon`` stays cheap (tests/test_import.py)."""
    from scipy import special

    return special


def f64(fn):
    """``fn`` applied to ``np.asarray(z, float64)`` (the table's calling convention)."""
    def wrapped(z):
        return fn(np.asarray(z, dtype=np.float64))

    wrapped.__name__ = getattr(fn, "__name__", "activation")
    return wrapped


def minimum_of(numpy_fn, dfn, bracket) -> float:
    """Global minimum value of a non-monotone activation (root of ``f'`` in ``bracket``)."""
    from scipy.optimize import brentq

    z_star = brentq(lambda t: float(dfn(np.float64(t))), *bracket, xtol=1e-15)
    return float(numpy_fn(np.float64(z_star)))


def sigmoid(z):
    return _special().expit(z)


def dsigmoid(z):
    s = _special().expit(z)
    return s * (1.0 - s)


def logit(y):
    # log(y) - log1p(-y) keeps full relative precision near both edges.
    return np.log(y) - np.log1p(-y)


def softplus(z):
    return np.logaddexp(0.0, z)


def softplus_inverse(y):
    # log(expm1(y)) overflows for y > ~709; y + log(-expm1(-y)) does not.
    return y + np.log(-np.expm1(-y))


def elu(z, alpha):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def delu(z, alpha):
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def elu_inverse(y, alpha):
    return np.where(y > 0, y, np.log1p(np.minimum(y, 0.0) / alpha))


def selu(z):
    return SELU_SCALE * elu(z, SELU_ALPHA)


def dselu(z):
    return SELU_SCALE * delu(z, SELU_ALPHA)


def selu_inverse(y):
    return elu_inverse(y / SELU_SCALE, SELU_ALPHA)


def gelu(z):
    # 1 + erf(t) = erfc(-t) without the cancellation for z << 0.
    return 0.5 * z * _special().erfc(-z / math.sqrt(2.0))


def dgelu(z):
    return 0.5 * _special().erfc(-z / math.sqrt(2.0)) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def silu(z):
    return z * _special().expit(z)


def dsilu(z):
    s = _special().expit(z)
    return s * (1.0 + z * (1.0 - s))


def mish(z):
    # softplus never overflows, and tanh saturates to 1 for it, so z * 1 for large z.
    return z * np.tanh(softplus(z))


def dmish(z):
    # d/dz tanh(softplus(z)) = (1 - t^2) * sigmoid(z)
    t = np.tanh(softplus(z))
    return t + z * (1.0 - t * t) * _special().expit(z)


def log_sigmoid(z):
    # log(sigmoid(z)) = -softplus(-z): no log of an underflowed 0 for z << 0.
    return -np.logaddexp(0.0, -z)


def dlog_sigmoid(z):
    return _special().expit(-z)


def log_sigmoid_inverse(y):
    # sigmoid(z) = e^y  =>  z = logit(e^y) = y - log(1 - e^y); -expm1(y) is 1 - e^y
    # without cancellation as y -> 0-, and e^y never overflows for y < 0.
    return y - np.log(-np.expm1(y))
