"""L1 and L-infinity distance to a reference input as a linear objective (what "nearest" means for the MILP).

A Euclidean objective would make the problem a mixed-integer QP, which
``scipy.optimize.milp`` does not solve; both norms here stay linear:

* ``"l1"``: variables ``p_i >= |x_i - x_ref_i|``, minimise ``sum p_i``;
* ``"linf"``: one variable ``q >= |x_i - x_ref_i|`` for every ``i``, minimise ``q``.

Examples
--------
>>> import numpy as np, scipy.sparse as sps
>>> from symrecon.milp.distance import with_distance
>>> A = sps.csr_matrix(np.array([[1.0, 1.0]]))     # x_0 + x_1 = 1
>>> c, A2, lo, hi, lb, ub, integ = with_distance(A, np.ones(1), np.ones(1), np.zeros(2), np.full(2, 5.0),
...                                              np.zeros(2, dtype=np.int64), np.zeros(2), "linf")
>>> A2.shape, c.tolist()
((5, 3), [0.0, 0.0, 1.0])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidParameterError

if TYPE_CHECKING:
    import scipy.sparse as sps

__all__ = ["NORMS", "with_distance"]

Float64Array = NDArray[np.float64]

#: norm name -> number of extra variables for an input of width n
NORMS = {"l1": lambda n: n, "linf": lambda n: 1}


def with_distance(A: sps.csr_matrix, lo: Float64Array, hi: Float64Array, lb: Float64Array, ub: Float64Array,
                  integrality: NDArray[np.int64], x_ref: Float64Array, norm: str):
    """Extend a model whose first ``len(x_ref)`` variables are ``x`` by the distance objective.

    Returns
    -------
    c, A, lo, hi, lb, ub, integrality
        The objective and the extended rows and variables (``c`` zero on the original variables).
    """
    # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
    import scipy.sparse as sps

    if norm not in NORMS:
        raise InvalidParameterError(f"norm must be one of {', '.join(map(repr, NORMS))} or None; got {norm!r}")
    n, n_vars = len(x_ref), A.shape[1]
    k = NORMS[norm](n)
    pick = np.zeros((n, n_vars))
    pick[np.arange(n), np.arange(n)] = 1.0
    dist = np.eye(n) if norm == "l1" else np.ones((n, 1))
    # dist - x >= -x_ref  and  dist + x >= x_ref
    rows = np.block([[-pick, dist], [pick, dist]])
    A2 = sps.vstack([sps.hstack([A, sps.csr_matrix((A.shape[0], k))]), sps.csr_matrix(rows)]).tocsr()
    lo2 = np.concatenate([lo, -x_ref, x_ref])
    hi2 = np.concatenate([hi, np.full(2 * n, np.inf)])
    c = np.concatenate([np.zeros(n_vars), np.ones(k)])
    return (c, A2, lo2, hi2, np.concatenate([lb, np.zeros(k)]), np.concatenate([ub, np.full(k, np.inf)]),
            np.concatenate([integrality, np.zeros(k, dtype=np.int64)]))
