"""When is a reconstruction "reached"? The tolerance rule, in one place.

A target ``y`` (N, n_out) is reached at ``x`` when every output unit ``j``
satisfies::

    |model(x)_j - y_j| <= (atol + rtol * |y_j|) * min(1, d_j) + 4 eps |y_j|

* ``atol`` (the ``tol`` argument of :func:`symrecon.reconstruct`, default
  ``1e-9``) and ``rtol`` (default ``1e-12``) are the absolute and relative
  parts, as in :func:`numpy.isclose`; the relative part lets a linear output
  of ``1e307`` be reached by an answer within a few ulps.
* ``d_j`` is the distance from ``y_j`` to the nearest *finite* end of the
  output activation's image (``0`` and ``1`` for a sigmoid, ``0`` for
  softplus or exp, ``±1`` for tanh; infinite for a linear output).  Near such
  an end the output carries its information in the distance to the end, so
  the tolerance shrinks with it: a sigmoid target of ``1e-300`` is not
  "reached" by ``sigmoid(-25) = 1.4e-11``, although the two differ by less
  than ``1e-9``; it is reached at the true ``x`` (about ``logit(1e-300)``).
* ``4 eps |y_j|`` (a few units in the last place of ``y_j``) is the floor
  float64 can resolve, so a tolerance never asks for more than the format
  holds.
* A softmax output (a classifier) follows the same rule on each probability,
  with the image ``(0, 1)``: :mod:`symrecon.softmax` says which probability
  vectors are targets and what float64 can reach.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.tolerance import unit_tolerance
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0], "sigmoid")])
>>> round(float(unit_tolerance(m, np.array([[0.5]]), atol=1e-9, rtol=0.0)[0, 0]), 15)
5e-10
>>> bool(unit_tolerance(m, np.array([[1e-300]]), atol=1e-9, rtol=0.0)[0, 0] < 1e-300)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEFAULT_ATOL", "DEFAULT_RTOL", "unit_tolerance", "within"]

#: default absolute part (the ``tol`` argument)
DEFAULT_ATOL = 1e-9
#: default relative part (the ``rtol`` argument)
DEFAULT_RTOL = 1e-12
#: float64 resolution floor, in units of ``|y|``
_FLOOR = 4.0 * float(np.finfo(np.float64).eps)


def _image_ends(model: Any) -> tuple[float, float]:
    """Finite ends of the output activation's image (``-inf``/``inf`` where open-ended or unknown)."""
    act = getattr(model.layers[-1], "activation", None)
    if act is None:
        return -np.inf, np.inf
    low, high, _, _ = act.image_bounds
    return low, high


def unit_tolerance(model: Any, y: NDArray[np.float64], *, atol: float, rtol: float) -> NDArray[np.float64]:
    """Allowed ``|model(x)_j - y_j|`` per target and unit, shape (N, n_out) (see the module docstring)."""
    low, high = _image_ends(model)
    abs_y = np.abs(y)
    tol = np.multiply(abs_y, rtol)
    tol += atol
    # in place, few passes: this runs on every batch, a million rows included
    if np.isfinite(low) or np.isfinite(high):
        distance = np.subtract(y, low) if np.isfinite(low) else np.full_like(y, np.inf)
        if np.isfinite(high):
            np.minimum(distance, np.subtract(high, y), out=distance)
        np.minimum(distance, 1.0, out=distance)
        tol *= distance
    abs_y *= _FLOOR
    tol += abs_y
    return tol


def within(y_pred: NDArray[np.float64], y: NDArray[np.float64],
           tolerance: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Per target: every unit within its tolerance (False where ``y_pred`` is not finite)."""
    with np.errstate(invalid="ignore"):
        ok = np.abs(y_pred - y) <= tolerance
    return np.all(ok, axis=1)
