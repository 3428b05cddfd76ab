"""Sets of inputs, as values: what a target's preimage is when it is more than a point.

Examples
--------
>>> import numpy as np
>>> from symrecon.sets import AffineSet
>>> s = AffineSet(point=np.array([1.0, 0.0]), null_basis=np.array([[0.0], [1.0]]))
>>> s.dimension, s.sample(np.array([2.0])).tolist()
(1, [1.0, 2.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["AffineSet"]


@dataclass(frozen=True)
class AffineSet:
    """The set ``{point + null_basis @ t}`` of inputs that all give the same output.

    Attributes
    ----------
    point : ndarray, shape (n_in,) or (N, n_in)
        The minimum-norm member (one per target for a batch).
    null_basis : ndarray, shape (n_in, k)
        Orthonormal basis of the directions that do not change the output.
    """

    point: NDArray[np.float64]
    null_basis: NDArray[np.float64]

    @property
    def dimension(self) -> int:
        """``k``, the number of free directions."""
        return int(self.null_basis.shape[1])

    def sample(self, t: ArrayLike) -> NDArray[np.float64]:
        """``point + null_basis @ t`` for ``t`` of shape ``(k,)`` (or ``(N, k)`` for a batch)."""
        return self.point + np.asarray(t, dtype=np.float64) @ self.null_basis.T
