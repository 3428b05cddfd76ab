"""SymPy expressions to numbers, for tests of agreement between the symbolic and the numeric forms.

The numeric paths never evaluate through SymPy; :func:`lambdify_matrix` is
the one place an expression becomes a NumPy (or mpmath) function.

Examples
--------
>>> import numpy as np, sympy as sp
>>> y = sp.Symbol("y_0")
>>> f = lambdify_matrix([y], sp.Matrix([[2 * y, y + 1]]))
>>> f(np.array([[1.0], [2.0]])).tolist()
[[2.0, 2.0], [4.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp
from numpy.typing import NDArray

__all__ = ["lambdify_matrix"]


def _select(condlist, choicelist, default=np.nan):
    arrays = np.broadcast_arrays(*condlist, *choicelist)
    n = len(condlist)
    return np.select([a.astype(bool) for a in arrays[:n]], arrays[n:], default=default)


def lambdify_matrix(symbols: Sequence[sp.Symbol], expr: sp.Matrix,
                    modules: str = "numpy") -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """A vectorised function ``y (N, m) -> (N, k)`` from a ``k x 1`` (or ``1 x k``) SymPy matrix.

    Parameters
    ----------
    symbols : sequence of sympy.Symbol, length m
    expr : sympy.Matrix
    modules : {"numpy", "mpmath"}
        ``"mpmath"`` evaluates row by row in arbitrary precision (slow; for checks).

    Returns
    -------
    callable
        The generated source is kept by ``lambdify`` in the function's ``__doc__``.
    """
    entries = list(expr)
    # Piecewise prints as select(conditions, values); a condition SymPy has
    # decided (True) is a Python bool that numpy.select refuses: broadcast it.
    namespace = [{"select": _select}, "scipy", "numpy"] if modules == "numpy" else modules
    fn = sp.lambdify(list(symbols), entries, modules=namespace, cse=True)

    def evaluate(y: NDArray[np.float64]) -> NDArray[np.float64]:
        y = np.asarray(y, dtype=np.float64)
        if modules == "mpmath":
            rows = [[float(v) for v in fn(*row)] for row in y]
            return np.array(rows, dtype=np.float64).reshape(y.shape[0], len(entries))
        with np.errstate(all="ignore"):  # Piecewise evaluates every branch
            cols = fn(*(y[:, i] for i in range(y.shape[1])))
        return np.column_stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (y.shape[0],)) for c in cols])

    evaluate.__doc__ = fn.__doc__
    return evaluate
