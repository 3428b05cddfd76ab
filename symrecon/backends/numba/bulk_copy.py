"""A copy of a large float64 array on every core: the read-only copy :func:`~symrecon.validation.as_real_array` keeps.

``np.array(a, copy=True)`` runs on one thread, and a fresh array of a
million targets costs more in page faults and the kernel zeroing its pages
than in the copy itself; split over the cores both halve on two.  Below
:data:`PARALLEL_MIN_ITEMS` NumPy's copy is as fast (and needs no compiled
kernel), so it is used there.

Examples
--------
>>> import numpy as np
>>> from symrecon.backends.numba.bulk_copy import copy_float64
>>> a = np.arange(6.0).reshape(2, 3)
>>> b = copy_float64(a)
>>> bool(np.array_equal(a, b)) and not np.shares_memory(a, b)
True
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from ...validation import PARALLEL_MIN_ITEMS

__all__ = ["PARALLEL_MIN_ITEMS", "copy_float64"]

@njit(cache=True, parallel=True)
def _copy_parallel(src, dst):
    """``dst[:] = src`` (both 1-D, the same size), the range split evenly over the threads."""
    for i in prange(src.shape[0]):
        dst[i] = src[i]


def copy_float64(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """A C-contiguous copy of the float64 array ``a`` (any shape; ``a`` is not modified).

    Parallel for arrays of at least :data:`PARALLEL_MIN_ITEMS` items that are
    C-contiguous; NumPy's copy otherwise.
    """
    if a.dtype != np.float64 or a.size < PARALLEL_MIN_ITEMS or not a.flags.c_contiguous:
        return np.array(a, dtype=np.float64, order="C", copy=True)
    out = np.empty(a.shape, dtype=np.float64)
    _copy_parallel(a.reshape(-1), out.reshape(-1))
    return out
