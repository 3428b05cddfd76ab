"""The one place user input is checked: arrays, batches, options, tolerances and bounds.

Every check raises a :mod:`symrecon.errors` type whose message names the
parameter, what was expected and what was given.  Options of solvers raise
:class:`~symrecon.errors.InvalidParameterError` (both ``ValueError`` and
``TypeError``).  Nothing a caller passed in is modified: arrays are copied
to read-only float64.

Examples
--------
>>> from symrecon.validation import check_option
>>> check_option("gd", "learning_rate", 0.1, "positive")
0.1
>>> check_option("gd", "learning_rate", -1.0, "positive")
Traceback (most recent call last):
...
symrecon.errors.InvalidParameterError: The 'learning_rate' option of method 'gd' must be a finite positive number. Got -1.0 instead.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InvalidParameterError, InvalidValueError, ShapeError

#: arrays this large are copied on every core (:mod:`symrecon.backends.numba.bulk_copy`)
PARALLEL_MIN_ITEMS = 1 << 22

__all__ = ["as_real_array", "as_batch", "check_option", "check_tol", "check_max_iter", "check_bounds",
           "MAX_ITER_LIMIT"]

#: the largest accepted iteration limit (kernels count iterations in int64)
MAX_ITER_LIMIT = 2**62


def as_real_array(value: ArrayLike, what: str, ndim: int | None = None,
                  check_finite: bool = True, copy: bool = True) -> NDArray[np.float64]:
    """A read-only float64 copy of ``value``.

    Refuses what is not an array of real numbers (None, strings, complex,
    objects, masked arrays), NaN/inf (unless ``check_finite`` is False: a
    caller whose kernel flags them itself) and a wrong ``ndim``.
    ``copy=False``: a read-only view where ``value`` is float64 already, for
    a caller that only reads it during the call and keeps nothing of it.
    """
    if value is None or isinstance(value, (str, bytes)) or isinstance(value, np.ma.MaskedArray):
        raise InvalidValueError(f"{what} must be an array of real numbers; got {_describe(value)}")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"{what} must be an array of real numbers; got {_describe(value)}: {exc}") from None
    if raw.dtype.kind not in "biuf":
        raise InvalidValueError(
            f"{what} must be an array of real numbers; got dtype {raw.dtype} ({_describe(value)})"
        )
    if not copy and raw.dtype == np.float64:
        arr = raw.view()  # the caller's array keeps its own flags
    elif raw.dtype == np.float64 and raw.size >= PARALLEL_MIN_ITEMS:
        from .backends.numba.bulk_copy import copy_float64  # numba: only for the arrays it pays for

        arr = copy_float64(raw)
    else:
        arr = np.array(raw, dtype=np.float64, copy=True)
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{what} must be {ndim}-D; got shape {arr.shape}")
    if check_finite and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidValueError(
            f"{what} contains NaN or inf (first at index {tuple(int(i) for i in bad)}); expected finite numbers"
        )
    arr.setflags(write=False)
    return arr


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def as_batch(value: ArrayLike, width: int, what: str, check_finite: bool = True,
             copy: bool = True) -> tuple[NDArray[np.float64], bool]:
    """Validate a single vector ``(width,)`` or batch ``(N, width)``.

    Returns a read-only float64 ``(N, width)`` copy and whether the input was a
    single vector.  A scalar is accepted when ``width == 1``.  ``check_finite``
    and ``copy``: as :func:`as_real_array`.
    """
    arr = as_real_array(value, what, check_finite=check_finite, copy=copy)
    if arr.ndim == 0 and width == 1:
        arr = arr.reshape(1)
    expected = f"{what} must have shape ({width},) or (N, {width}); got shape {arr.shape}"
    if arr.ndim == 1:
        if arr.shape[0] != width:
            raise ShapeError(expected)
        return arr.reshape(1, width), True
    if arr.ndim == 2:
        if arr.shape[1] != width:
            raise ShapeError(expected)
        if arr.shape[0] == 0:
            raise ShapeError(f"{what} is an empty batch (shape {arr.shape}); expected at least one row")
        return arr, False
    raise ShapeError(expected)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


#: option kind -> (test, what the message says is expected, converter)
_KINDS: dict[str, tuple[Callable[[Any], bool], str, Callable[[Any], Any]]] = {
    "bool": (lambda v: isinstance(v, (bool, np.bool_)), "a bool", bool),
    "positive": (lambda v: _is_real(v) and math.isfinite(v) and v > 0, "a finite positive number", float),
    "unit_interval": (lambda v: _is_real(v) and 0.0 <= v < 1.0, "a number in [0, 1)", float),
    "positive_int": (lambda v: _is_int(v) and v >= 1, "a positive int", int),
    "nonnegative_int": (lambda v: _is_int(v) and v >= 0, "an int >= 0", int),
}


def check_option(method: str, name: str, value: Any, kind: str | tuple[Any, ...] | list[Any]) -> Any:
    """Check one solver option; returns it converted to a plain Python value.

    Parameters
    ----------
    method, name : str
        For the message ("The 'eps' option of method 'gd' ...").
    value : object
    kind : str or tuple
        A key of the kinds table ("bool", "positive", "unit_interval",
        "positive_int") or a tuple of allowed values.

    Raises
    ------
    InvalidParameterError
    """
    if isinstance(kind, (tuple, list)):
        if value in kind and isinstance(value, (str, type(None))):
            return value
        expected = f"one of {', '.join(map(repr, kind))}"
    else:
        test, expected, convert = _KINDS[kind]
        if test(value):
            return convert(value)
    raise InvalidParameterError(f"The {name!r} option of method {method!r} must be {expected}. Got {value!r} instead.")


def check_tol(tol: Any, name: str = "tol", allow_zero: bool = False) -> float:
    """A finite positive (or, with ``allow_zero``, non-negative) tolerance; NumPy scalars accepted."""
    if not (_is_real(tol) and math.isfinite(tol) and (tol > 0 or (allow_zero and tol == 0))):
        expected = "a finite non-negative number" if allow_zero else "a finite positive number"
        raise InvalidParameterError(f"{name} must be {expected}; got {tol!r}")
    return float(tol)


def check_max_iter(max_iter: Any) -> int | None:
    """None or a positive integer up to :data:`MAX_ITER_LIMIT`."""
    if max_iter is None:
        return None
    if not (_is_int(max_iter) and 1 <= max_iter <= MAX_ITER_LIMIT):
        raise InvalidParameterError(
            f"max_iter must be a positive integer no larger than 2**62; got {max_iter!r}"
        )
    return int(max_iter)


def check_bounds(bounds: Any, n_in: int) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None]:
    """``(lower, upper)`` arrays of shape ``(n_in,)`` or ``(None, None)``.

    Each side is a real scalar, an array of shape ``(n_in,)`` or None (open);
    ``-inf``/``inf`` mean an open side, but a lower bound of ``+inf`` or an
    upper bound of ``-inf`` leaves no room and is refused, as are NaN and
    ``lower > upper``.
    """
    if bounds is None:
        return None, None
    if isinstance(bounds, (str, bytes)) or not hasattr(bounds, "__len__") or len(bounds) != 2:
        raise InvalidValueError(
            f"bounds must be a pair (lower, upper) of scalars or arrays of shape ({n_in},); got {bounds!r}"
        )
    sides = []
    for side, value, default in (("lower", bounds[0], -np.inf), ("upper", bounds[1], np.inf)):
        if isinstance(value, np.ma.MaskedArray):
            raise InvalidValueError(f"{side} bound must be real numbers, not a masked array; use -inf/inf "
                                    f"for an open side")
        raw = np.asarray(default if value is None else value)
        if raw.dtype.kind not in "biuf":
            raise InvalidValueError(f"{side} bound must be real numbers; got {value!r} (dtype {raw.dtype})")
        arr = np.array(np.broadcast_to(raw.astype(np.float64), (n_in,)) if raw.ndim == 0 else raw,
                       dtype=np.float64)
        if arr.shape != (n_in,):
            raise ShapeError(f"{side} bound must be a scalar or have shape ({n_in},); got shape {arr.shape}")
        if np.any(np.isnan(arr)):
            raise InvalidValueError(f"{side} bound contains NaN; use -inf/inf for an open side")
        arr.setflags(write=False)
        sides.append(arr)
    lower, upper = sides
    if np.any(lower == np.inf) or np.any(upper == -np.inf):
        raise InvalidValueError("bounds leave no room: a lower bound is +inf or an upper bound is -inf")
    if np.any(lower > upper):
        i = int(np.argmax(lower > upper))
        raise InvalidValueError(f"bounds are inverted at input {i}: lower {lower[i]!r} > upper {upper[i]!r}")
    return lower, upper
