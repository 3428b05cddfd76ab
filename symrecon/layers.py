"""Forward-only layers that are neither :class:`~symrecon.models.Dense` nor recurrent.

Keras models can contain layers that symrecon can evaluate exactly but that
do not fit the ``Dense`` mould (one elementwise activation from the registry
after an affine map): a softmax over the units, or a ``ReLU`` layer with a
threshold and a ceiling.  Each becomes one op of the graph
(:class:`symrecon.graph.Softmax`, :class:`symrecon.graph.ThresholdedReLU`,
node ``{name}/a``), so the forward pass reproduces Keras through the NumPy
reference; the solvers and the analytic inverse still treat them as opaque
(they are not :class:`~symrecon.models.Dense`).

Examples
--------
>>> import numpy as np
>>> from symrecon.layers import Softmax, ThresholdedReLU
>>> Softmax(3)(np.zeros(3)).round(3)
array([0.333, 0.333, 0.333])
>>> ThresholdedReLU(3, max_value=1.0, threshold=0.5)(np.array([0.2, 0.7, 4.0]))
array([0. , 0.7, 1. ])
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import graph as _graph
from .errors import InvalidValueError, ShapeError
from .graph import GraphBuilder, Value
from .models import AbstractLayer

__all__ = ["Softmax", "ThresholdedReLU"]


def _check_width(width: int, what: str) -> int:
    w = int(width)
    if w <= 0:
        raise ShapeError(f"{what} width must be a positive integer; got {width!r}")
    return w


class _ElementwiseBase(AbstractLayer):
    """Shared width bookkeeping of the shape-preserving layers below."""

    def __init__(self, width: int, name: str | None, default_name: str):
        self._width = _check_width(width, type(self).__name__)
        self.name = name or default_name

    @property
    def n_in(self) -> int:
        return self._width

    @property
    def n_out(self) -> int:
        return self._width

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != self._width:
            raise ShapeError(f"{type(self).__name__} {self.name!r} expects (..., {self._width}); got shape {arr.shape}")
        return self.forward(arr)


class Softmax(_ElementwiseBase):
    """``softmax`` over the last axis: ``exp(z_i) / sum_j exp(z_j)``.

    Parameters
    ----------
    width : int
        Number of units (input and output width).
    name : str, optional

    Notes
    -----
    Not injective (adding a constant to every input gives the same output), so
    it has no analytic inverse; only its forward pass is provided.

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.layers import Softmax
    >>> float(Softmax(2)(np.array([0.0, np.log(3.0)]))[1])
    0.75
    """

    def __init__(self, width: int, name: str | None = None):
        super().__init__(width, name, "softmax")

    def add_to_graph(self, builder: GraphBuilder, value: Value) -> Value:
        """One node ``{name}/a``: :class:`symrecon.graph.Softmax` (per step on a sequence)."""
        return builder.map_steps(self.name, value, lambda b, prefix, name: b.add(
            f"{prefix}/a", _graph.Softmax(self._width), [name]))

    def __repr__(self) -> str:
        return f"Softmax({self._width}, name={self.name!r})"


class ThresholdedReLU(_ElementwiseBase):
    """The general Keras ``ReLU`` layer (threshold, ceiling and negative slope).

    With threshold ``t``, ceiling ``m`` (optional) and slope ``a``::

        pos = x if x > t else 0          (x clipped at 0 from below when t == 0)
        pos = clip(pos, 0, m)            (only when m is given)
        out = pos - a * max(t - x, 0)

    This is the definition Keras 3 evaluates, including its corner cases (a
    ceiling also clips negative values kept by a negative threshold to 0).
    Plain ``relu``, ``relu6`` and ``leaky_relu`` are special cases that the
    Keras loader maps onto the activation registry instead.

    Parameters
    ----------
    width : int
    max_value : float or None
    negative_slope : float
    threshold : float
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> from symrecon.layers import ThresholdedReLU
    >>> ThresholdedReLU(4, threshold=1.0, negative_slope=0.5)(np.array([-1.0, 0.5, 1.0, 2.0]))
    array([-1.  , -0.25,  0.  ,  2.  ])
    """

    def __init__(self, width: int, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, name: str | None = None):
        super().__init__(width, name, "re_lu")
        values = {"negative_slope": negative_slope, "threshold": threshold}
        if max_value is not None:
            values["max_value"] = max_value
        for key, value in values.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise InvalidValueError(f"ReLU {key} must be a finite number; got {value!r}")
        if max_value is not None and max_value < 0:
            raise InvalidValueError(f"ReLU max_value must be >= 0; got {max_value!r}")
        if negative_slope < 0:
            raise InvalidValueError(f"ReLU negative_slope must be >= 0; got {negative_slope!r}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    def add_to_graph(self, builder: GraphBuilder, value: Value) -> Value:
        """One node ``{name}/a``: :class:`symrecon.graph.ThresholdedReLU` (per step on a sequence)."""
        op = _graph.ThresholdedReLU(self._width, self.max_value, self.negative_slope, self.threshold)
        return builder.map_steps(self.name, value, lambda b, prefix, name: b.add(f"{prefix}/a", op, [name]))

    def __repr__(self) -> str:
        return (f"ThresholdedReLU({self._width}, max_value={self.max_value!r}, "
                f"negative_slope={self.negative_slope!r}, threshold={self.threshold!r}, name={self.name!r})")
