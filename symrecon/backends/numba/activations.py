"""numba formulas of the activations: value and derivative, and the inverses the analytic kernel uses.

The numba side of the activation table (:mod:`symrecon.activations`).  numba
cannot dispatch through a Python dict, so each dispatch below branches on the
entry's ``kernel_code`` once; every formula is written once, as one function
per activation:

* ``_<name>(z, p) -> (f(z), f'(z))`` for every entry, inlined into both the
  scalar :func:`act_and_deriv` and the per-layer :func:`act_vec`;
* ``_inv_<name>(col, nb, bias, p, arg, ratio)`` for the invertible entries:
  ``col[r] = f^{-1}(col[r]) - bias`` over a block of targets, used by
  :func:`inverse_block` (the analytic kernel's dispatch).

Tests check every table entry's formulas against its NumPy forms and that
every entry's code is dispatched.

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

import numpy as np
from numba import njit

from ...activations import SELU_ALPHA, SELU_SCALE
from .vecmath import log as vlog
from .vecmath import log1p as vlog1p

__all__ = ["act_and_deriv", "act_vec", "inverse_block", "inverse_vec"]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# The inverses run on values already flagged as outside the image (the kernel
# never branches on a row): error_model="numpy" makes 1 / 0 an inf instead of
# a ZeroDivisionError, which would abort a whole block of a parallel loop.
_INV = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}

# ---------------------------------------------------------------------------
# Value and derivative, one function per activation.  Each propagates NaN in
# the value (the solvers detect divergence by it).  inline="always": numba
# pastes them into the dispatches instead of compiling (and, with cache=True,
# caching and loading) sixteen more functions, which would add seconds to a
# cold start.


@njit(cache=True)
def _sigmoid_value(z):
    # two branches so that exp never overflows
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True)
def _softplus_value(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@njit(cache=True, inline="always")
def _linear(z, p):
    return z, 1.0


@njit(cache=True, inline="always")
def _sigmoid(z, p):
    s = _sigmoid_value(z)
    return s, s * (1.0 - s)


@njit(cache=True, inline="always")
def _tanh(z, p):
    # 1 - 2/(e^{2z} + 1): one exp instead of libm's tanh (about 3x cheaper here), with an
    # absolute error below 4e-16 (tested), which is the error that matters for residuals
    t = 1.0 - 2.0 / (math.exp(2.0 * z) + 1.0)
    return t, 1.0 - t * t


@njit(cache=True, inline="always")
def _relu(z, p):
    # not (NaN <= 0) is true, so NaN falls through to z
    if z <= 0.0:
        return 0.0, 0.0
    return z, (1.0 if z > 0.0 else z)


@njit(cache=True, inline="always")
def _leaky_relu(z, p):
    return (z, 1.0) if z >= 0.0 else (p * z, p)


@njit(cache=True, inline="always")
def _elu(z, p):
    if z > 0.0:
        return z, 1.0
    return p * math.expm1(z), p * math.exp(z)


@njit(cache=True, inline="always")
def _selu(z, p):
    if z > 0.0:
        return SELU_SCALE * z, SELU_SCALE
    return SELU_SCALE * SELU_ALPHA * math.expm1(z), SELU_SCALE * SELU_ALPHA * math.exp(z)


@njit(cache=True, inline="always")
def _softplus(z, p):
    return _softplus_value(z), _sigmoid_value(z)


@njit(cache=True, inline="always")
def _softsign(z, p):
    d = 1.0 + abs(z)
    return z / d, 1.0 / (d * d)


@njit(cache=True, inline="always")
def _exponential(z, p):
    e = math.exp(z)
    return e, e


@njit(cache=True, inline="always")
def _hard_sigmoid(z, p):
    # clip(p z + 1/2, 0, 1); NaN fails every comparison and falls through
    u = p * z
    if abs(u) < 0.5:
        return u + 0.5, p
    if u >= 0.5:
        return 1.0, 0.0
    if u <= -0.5:
        return 0.0, 0.0
    return z, z


@njit(cache=True, inline="always")
def _relu6(z, p):
    if z <= 0.0:
        return 0.0, 0.0
    if z >= 6.0:
        return 6.0, 0.0
    return z, 1.0


@njit(cache=True, inline="always")
def _silu(z, p):
    s = _sigmoid_value(z)
    return z * s, s * (1.0 + z * (1.0 - s))


@njit(cache=True, inline="always")
def _gelu(z, p):
    phi = 0.5 * (1.0 + math.erf(z / _SQRT2))
    return z * phi, phi + z * math.exp(-0.5 * z * z) * _INV_SQRT_2PI


@njit(cache=True, inline="always")
def _mish(z, p):
    t = math.tanh(_softplus_value(z))
    return z * t, t + z * (1.0 - t * t) * _sigmoid_value(z)


@njit(cache=True, inline="always")
def _log_sigmoid(z, p):
    # -softplus(-z), derivative sigmoid(-z)
    return -_softplus_value(-z), _sigmoid_value(-z)


@njit(cache=True)
def act_and_deriv(z, code, param):
    """``(f(z), f'(z))`` for the activation with :class:`KernelCode` ``code``.

    Derivatives at kinks match the NumPy forms in :mod:`symrecon.activations`
    (e.g. ReLU'(0) = 0, leaky ReLU'(0) = 1).  NaN propagates.  An unknown code
    gives NaN (a test checks that every table entry's code is dispatched).
    """
    if z != z:
        return z, z
    if code == 0:
        return _linear(z, param)
    if code == 1:
        return _sigmoid(z, param)
    if code == 2:
        return _tanh(z, param)
    if code == 3:
        return _relu(z, param)
    if code == 4:
        return _leaky_relu(z, param)
    if code == 5:
        return _elu(z, param)
    if code == 6:
        return _selu(z, param)
    if code == 7:
        return _softplus(z, param)
    if code == 8:
        return _softsign(z, param)
    if code == 9:
        return _exponential(z, param)
    if code == 10:
        return _hard_sigmoid(z, param)
    if code == 11:
        return _relu6(z, param)
    if code == 12:
        return _silu(z, param)
    if code == 13:
        return _gelu(z, param)
    if code == 14:
        return _mish(z, param)
    if code == 15:
        return _log_sigmoid(z, param)
    return math.nan, math.nan


@njit(cache=True)
def act_vec(z, a, d, n, code, param):
    """``a[j], d[j] = f(z[j]), f'(z[j])`` for ``j < n``: one call per layer.

    Calling :func:`act_and_deriv` once per unit costs more than the unit's
    multiply-adds (a non-inlined call returning a tuple), so the common
    activations run as plain loops over their (inlined) formulas; the others
    go through :func:`act_and_deriv`.  A loop per entry would also work, but
    compiling sixteen loops into every kernel costs seconds on a cold cache.
    """
    if code == 0:
        for j in range(n):
            a[j], d[j] = _linear(z[j], param)
    elif code == 2:
        for j in range(n):
            a[j], d[j] = _tanh(z[j], param)
    elif code == 1:
        for j in range(n):
            a[j], d[j] = _sigmoid(z[j], param)
    elif code == 3:
        for j in range(n):
            a[j], d[j] = _relu(z[j], param)
    else:
        for j in range(n):
            a[j], d[j] = act_and_deriv(z[j], code, param)


# ---------------------------------------------------------------------------
# Inverses over a block of targets, in place: col[r] = f^{-1}(col[r]) - bias
# for r < nb.  Branch-free loops so that they vectorise; the formulas are the
# stable ones of the table's NumPy inverses.  ``arg`` and ``ratio`` are
# scratch buffers of the block's length.


@njit(**_INV)
def _inv_linear(col, nb, bias, p, arg, ratio):
    for r in range(nb):
        col[r] = col[r] - bias


@njit(**_INV)
def _inv_sigmoid(col, nb, bias, p, arg, ratio):
    # logit(v) = log(v / (1 - v)); 1 - v is exact near 1.  vlog vectorises (no libm call).
    for r in range(nb):
        v = col[r]
        col[r] = vlog(v / (1.0 - v)) - bias


@njit(**_INV)
def _inv_tanh(col, nb, bias, p, arg, ratio):
    # artanh(v) = sign(v) log1p(w) / 2 with w = 2|v| / (1 - |v|): on |v| because 1 + w
    # cancels for v near -1.  One branch-free loop: vlog1p vectorises (no libm call).
    for r in range(nb):
        v = col[r]
        a = abs(v)
        col[r] = math.copysign(0.5 * vlog1p(2.0 * a / (1.0 - a)), v) - bias


@njit(**_INV)
def _inv_leaky_relu(col, nb, bias, p, arg, ratio):
    for r in range(nb):
        v = col[r]
        col[r] = (v if v >= 0.0 else v / p) - bias


@njit(**_INV)
def _inv_elu(col, nb, bias, p, arg, ratio):
    for r in range(nb):
        v = col[r]
        col[r] = (v if v > 0.0 else math.log1p(v / p)) - bias


@njit(**_INV)
def _inv_selu(col, nb, bias, p, arg, ratio):
    for r in range(nb):
        v = col[r] / SELU_SCALE
        col[r] = (v if v > 0.0 else math.log1p(v / SELU_ALPHA)) - bias


@njit(**_INV)
def _inv_softplus(col, nb, bias, p, arg, ratio):
    # y + log(-expm1(-y)) never overflows (log(expm1(y)) does for y > ~709)
    for r in range(nb):
        v = col[r]
        col[r] = v + math.log(-math.expm1(-v)) - bias


@njit(**_INV)
def _inv_softsign(col, nb, bias, p, arg, ratio):
    for r in range(nb):
        v = col[r]
        col[r] = v / (1.0 - abs(v)) - bias


@njit(**_INV)
def _inv_exponential(col, nb, bias, p, arg, ratio):
    for r in range(nb):
        col[r] = vlog(col[r]) - bias


@njit(**_INV)
def _inv_log_sigmoid(col, nb, bias, p, arg, ratio):
    # y - log(1 - e^y) with 1 - e^y = -expm1(y): no cancellation as y -> 0-
    for r in range(nb):
        v = col[r]
        col[r] = v - math.log(-math.expm1(v)) - bias


@njit(**_INV)
def inverse_block(code, param, bias, col, arg, ratio, nb):
    """``col[r] = f^{-1}(col[r]) - bias`` for ``r < nb`` (the analytic kernel's dispatch).

    Values outside the image give inf or NaN, never an exception (the caller
    flags them).  A code without an inverse fills NaN.
    """
    if code == 0:
        _inv_linear(col, nb, bias, param, arg, ratio)
    elif code == 1:
        _inv_sigmoid(col, nb, bias, param, arg, ratio)
    elif code == 2:
        _inv_tanh(col, nb, bias, param, arg, ratio)
    elif code == 4:
        _inv_leaky_relu(col, nb, bias, param, arg, ratio)
    elif code == 5:
        _inv_elu(col, nb, bias, param, arg, ratio)
    elif code == 6:
        _inv_selu(col, nb, bias, param, arg, ratio)
    elif code == 7:
        _inv_softplus(col, nb, bias, param, arg, ratio)
    elif code == 8:
        _inv_softsign(col, nb, bias, param, arg, ratio)
    elif code == 9:
        _inv_exponential(col, nb, bias, param, arg, ratio)
    elif code == 15:
        _inv_log_sigmoid(col, nb, bias, param, arg, ratio)
    else:
        for r in range(nb):
            col[r] = math.nan


@njit(**_INV)
def inverse_vec(v, code, param):
    """``f^{-1}(v)`` elementwise through :func:`inverse_block` (for tests of the formulas).

    Parameters
    ----------
    v : ndarray, shape (n,)
    code : int
    param : float

    Returns
    -------
    ndarray, shape (n,)
    """
    out = v.copy()
    scratch_a = np.empty(v.size)
    scratch_r = np.empty(v.size)
    inverse_block(code, param, 0.0, out, scratch_a, scratch_r, v.size)
    return out
