"""Interval bound propagation (IBP) over an input box, and the reachability check every method runs.

Each graph op knows sound elementwise bounds of its output over boxes of its
inputs (``Op.bound``); walking the graph once gives an interval for every
node.  A target outside the output interval (by more than its tolerance) is
produced by no input in the box: :func:`check_reachable` says so before any
iteration, naming the output unit and the interval that proves it.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.bounds import output_bounds
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]])])
>>> lo, hi = output_bounds(m, np.array([-1.0]), np.array([2.0]))
>>> lo.tolist(), hi.tolist()
([0.0], [3.0])
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from .errors import InfeasibleTargetError
from .models import Sequential

__all__ = ["interval_bounds", "output_bounds", "check_reachable"]

Float64Array = NDArray[np.float64]

#: relative slack on propagated bounds: the IBP runs in floating point, a proof must not hinge on an ulp
_SLACK = 1e-9


def interval_bounds(model: Sequential, lower: Float64Array, upper: Float64Array) -> dict[str, tuple[Float64Array,
                                                                                                     Float64Array]]:
    """Sound bounds ``(lo, hi)`` (each ``(width,)``) of every node of ``model.graph`` for inputs in ``[lower, upper]``.

    Parameters
    ----------
    model : Sequential
        A model taking rows ``(N, n_in)``.
    lower, upper : ndarray, shape (n_in,)
        The input box; ``-inf``/``inf`` for open sides.

    Returns
    -------
    dict
        Node name -> ``(lo, hi)``; the input node ``"x"`` maps to the box itself.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[2.0]], [1.0], "relu", name="d")])
    >>> b = interval_bounds(m, np.array([-1.0]), np.array([1.0]))
    >>> b["d/z"], b["d/a"]
    ((array([-1.]), array([3.])), (array([0.]), array([3.])))
    """
    graph = model.graph
    found: dict[str, tuple[Float64Array, Float64Array]] = {}
    for node in graph.nodes:
        if node.op is None:
            found[node.name] = (np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64))
            continue
        los = [found[name][0][None] for name in node.inputs]
        his = [found[name][1][None] for name in node.inputs]
        lo, hi = node.op.bound(los, his)
        found[node.name] = (np.asarray(lo, dtype=np.float64)[0], np.asarray(hi, dtype=np.float64)[0])
    return found


def output_bounds(model: Sequential, lower: Float64Array, upper: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Sound bounds ``(lo, hi)``, each ``(n_out,)``, of the model's output over the box (see :func:`interval_bounds`)."""
    return interval_bounds(model, lower, upper)[model.graph.output]


def check_reachable(model: Sequential, y: Float64Array, unit_tol: Float64Array, lower: Float64Array | None,
                    upper: Float64Array | None) -> None:
    """Raise :class:`InfeasibleTargetError` when a target lies outside the box the network can reach.

    Parameters
    ----------
    model : Sequential
    y : ndarray, shape (N, n_out)
        Targets.
    unit_tol : ndarray, shape (N, n_out)
        The allowed ``|model(x)_j - y_j|``: a target within it of the reachable interval is not refused.
    lower, upper : ndarray, shape (n_in,), or None
        The input box.  Nothing is checked without bounds, or with no finite
        side (the output activation's image, checked elsewhere, is all IBP
        could tell then).

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[1.0]], [0.0], "relu")])
    >>> check_reachable(m, np.array([[3.0]]), np.array([[1e-9]]), np.array([-1.0]), np.array([2.0]))
    Traceback (most recent call last):
    ...
    symrecon.errors.InfeasibleTargetError: output unit 0 = 3.0 is outside [0, 2], the interval the network reaches over the input bounds (interval bound propagation): no input in the bounds produces it
    """
    if lower is None or upper is None or not (np.any(np.isfinite(lower)) or np.any(np.isfinite(upper))):
        return
    lo, hi = output_bounds(model, lower, upper)
    slack = unit_tol + _SLACK * np.maximum(1.0, np.maximum(np.abs(np.nan_to_num(lo)), np.abs(np.nan_to_num(hi))))
    with np.errstate(invalid="ignore"):
        bad = (y < lo - slack) | (y > hi + slack)
    if not np.any(bad):
        return
    row, unit = (int(i) for i in np.argwhere(bad)[0])
    value = float(y[row, unit])
    where = f"target {row}, " if y.shape[0] > 1 else ""
    raise InfeasibleTargetError(
        f"{where}output unit {unit} = {value!r} is outside [{lo[unit]:.6g}, {hi[unit]:.6g}], the interval the network "
        f"reaches over the input bounds (interval bound propagation): no input in the bounds produces it",
        layer=model.layers[-1].name, unit=unit, value=value, interval=sp.Interval(float(lo[unit]), float(hi[unit])))
