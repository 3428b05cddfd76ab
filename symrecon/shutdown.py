"""``shutdown_region(model, layer, unit, threshold)``: the inputs that switch a unit off.

"Off" depends on the activation (table :data:`OFF_RULES`): ``a <= threshold``
for one-sided activations (ReLU family, sigmoid, softplus, ...), ``|a| <=
threshold`` for odd ones (tanh, softsign, linear).  Either way it is an
interval of the unit's pre-activation ``z`` (the activation is monotone):
ReLU ``a <= 0 <=> z <= 0``; sigmoid ``a <= eps <=> z <= logit(eps)``; tanh
``|a| <= eps <=> |z| <= artanh(eps)`` (a slab).

* First layer: ``z`` is affine in ``x``, so the region is exact: a halfspace
  or a slab (a :class:`~symrecon.sets.Polyhedron`, ∩ bounds), with its
  inequality in LaTeX and the derivation in ``.derivation``.
* Deeper units of piecewise-linear networks: exact too — a union of polyhedra
  over the activation patterns of the layers before
  (:func:`symrecon.pwl.pwl_region`; ``nearest`` exact in L2) while that search
  stays within :data:`ENUMERATION_LIMITS`, else the MILP region
  (``symrecon.milp.region.unit_off_region``: needs finite bounds; its
  ``nearest`` is in L1 or L-infinity).
* Deeper units of other networks: a :class:`LocalRegion` (membership by a
  forward pass, ``nearest`` by a local solver; ``exact=False``, kind ``"local"``).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[1.0, 2.0], [-1.0, 0.5]], [0.5, 0.0], "relu", name="h")])
>>> r = sr.shutdown_region(m, "h", 0)
>>> print(r.latex())
\\begin{aligned} x_{1} - x_{2} &\\le -0.5 \\end{aligned}
>>> r.contains([0.0, 1.0]), r.nearest([0.0, 0.0]).round(12).tolist()
(True, [-0.25, 0.25])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import CapabilityError, InvalidParameterError
from .models import Sequential
from .pwl import not_piecewise_linear, pieces_of, pwl_region
from ._local_region import LocalRegion
from .sets import Box, EmptySet, Polyhedron, SolutionSet, Union
from .sets._base import latex_linear, latex_number
from .validation import check_bounds

__all__ = ["OFF_RULES", "ENUMERATION_LIMITS", "off_interval", "shutdown_region", "LocalRegion"]

#: deeper piecewise-linear units: the pattern search (an exact union, L2 ``nearest``) up to these sizes,
#: beyond them the MILP region of :mod:`symrecon.milp.region`
ENUMERATION_LIMITS = {"max_pieces": 256, "max_lps": 4096}

#: activation -> (what "off" means, default threshold): "below" is ``a <= t``, "abs" is ``|a| <= t``
OFF_RULES: dict[str, tuple[str, float]] = {
    "relu": ("below", 0.0), "relu6": ("below", 0.0), "leaky_relu": ("below", 0.0), "elu": ("below", 0.0),
    "selu": ("below", 0.0), "hard_sigmoid": ("below", 0.0), "hard_sigmoid_keras2": ("below", 0.0),
    "silu": ("below", 0.0), "gelu": ("below", 0.0), "mish": ("below", 0.0),
    "sigmoid": ("below", 1e-3), "softplus": ("below", 1e-3), "exponential": ("below", 1e-3),
    "log_sigmoid": ("below", float(np.log(1e-3))),
    "tanh": ("abs", 1e-2), "softsign": ("abs", 1e-2), "linear": ("abs", 0.0),
}


@dataclass(frozen=True)
class OffInterval:
    """``z_lo <= z <= z_hi`` (infinite sides open) means off; ``empty``: the unit is never off."""

    kind: str
    threshold: float
    z_lo: float
    z_hi: float
    empty: bool
    steps: tuple[str, ...]


def _largest_z_below(act, t: float) -> float:
    """``sup{z : f(z) <= t}`` for an activation that is non-decreasing where ``f(z) > t`` can start."""
    pieces = pieces_of(act)
    if pieces is not None:
        for lo, hi, slope, icpt in pieces[::-1]:
            at_lo = slope * lo + icpt if np.isfinite(lo) else (-np.inf if slope > 0 else icpt)
            if at_lo <= t:
                return float(hi if slope == 0 else min(hi, (t - icpt) / slope))
        return -np.inf
    lo_img, hi_img = float(act.image.inf), float(act.image.sup)
    if t >= hi_img:
        return np.inf
    if t <= lo_img:
        return -np.inf
    if act.numpy_inverse is not None:
        return float(act.numpy_inverse(np.array([t]))[0])
    if t < 0:  # silu/gelu/mish dip below 0: {f <= t} is a bounded interval, not a halfspace
        raise CapabilityError(f"{act.name} is not monotone below 0: a threshold {t!r} < 0 gives an interval, "
                              f"not a halfspace; use a threshold >= 0")
    hi = 1.0
    while act.numpy(np.array([hi]))[0] <= t:
        hi *= 2.0
    # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
    from scipy.optimize import brentq

    return float(brentq(lambda z: act.numpy(np.array([z]))[0] - t, 0.0, hi, xtol=1e-14))


def off_interval(act, threshold: float | None) -> OffInterval:
    """The interval of ``z`` on which ``act`` is off (see :data:`OFF_RULES`), with LaTeX steps."""
    if act.name not in OFF_RULES:
        raise CapabilityError(f"no shut-down rule for the activation {act.name!r}; known: {', '.join(OFF_RULES)}")
    kind, default = OFF_RULES[act.name]
    t = default if threshold is None else float(threshold)
    f = act.latex
    if kind == "below":
        z_hi, z_lo = _largest_z_below(act, t), -np.inf
        cond = rf"{f}(z) \le {latex_number(t)}"
    else:
        if t < 0:
            raise InvalidParameterError(f"The 'threshold' parameter must be >= 0 for |a| <= threshold "
                                        f"({act.name}). Got {t!r} instead.")
        z_hi = _largest_z_below(act, t)
        z_lo = -z_hi  # odd activation
        cond = rf"\left|{f}(z)\right| \le {latex_number(t)}"
    empty = z_hi == -np.inf
    bound = (rf"z \le {latex_number(z_hi)}" if kind == "below" else
             rf"{latex_number(z_lo)} \le z \le {latex_number(z_hi)}")
    steps = (rf"a = {f}(z),\quad \text{{off}} \iff {cond}",
             (rf"\iff {bound} \quad \text{{({f} is monotone)}}" if not empty else
              rf"\text{{never: }} {f} \text{{ stays above }} {latex_number(t)}"))
    return OffInterval(kind, t, z_lo, z_hi, empty, steps)


def _rows(p: NDArray[np.float64], q: float, off: OffInterval):
    """Rows ``(A, c, E, d)`` of ``z_lo <= p x + q <= z_hi``."""
    if off.z_lo == off.z_hi:
        return (), (), [p], [off.z_hi - q]
    A, c = [], []
    if np.isfinite(off.z_hi):
        A.append(p)
        c.append(off.z_hi - q)
    if np.isfinite(off.z_lo):
        A.append(-p)
        c.append(q - off.z_lo)
    return A, c, (), ()


def _resolve(model, layer, unit) -> int:
    layers = getattr(model, "layers", None)
    if not isinstance(model, Sequential) or layers is None:
        raise InvalidParameterError(f"The 'model' parameter must be a symrecon Sequential. Got {model!r} instead.")
    names = [lay.name for lay in layers]
    if isinstance(layer, str):
        if layer not in names:
            raise InvalidParameterError(f"The 'layer' parameter must be a layer name ({', '.join(map(repr, names))}) "
                                        f"or an index in 0..{len(layers) - 1}. Got {layer!r} instead.")
        index = names.index(layer)
    elif isinstance(layer, (int, np.integer)) and not isinstance(layer, bool) and -len(layers) <= layer < len(layers):
        index = int(layer) % len(layers)
    else:
        raise InvalidParameterError(f"The 'layer' parameter must be a layer name ({', '.join(map(repr, names))}) "
                                    f"or an index in 0..{len(layers) - 1}. Got {layer!r} instead.")
    width = layers[index].n_out
    if not (isinstance(unit, (int, np.integer)) and not isinstance(unit, bool) and 0 <= unit < width):
        raise InvalidParameterError(f"The 'unit' parameter must be an int in 0..{width - 1} (layer "
                                    f"{names[index]!r} has {width} units). Got {unit!r} instead.")
    if not hasattr(layers[index], "activation") or not hasattr(layers[index], "kernel"):
        raise CapabilityError(f"layer {names[index]!r} is a {type(layers[index]).__name__}; shut-down regions "
                              f"need Dense layers")
    return index


def shutdown_region(model, layer: Any, unit: int, threshold: float | None = None, bounds: Any = None) -> SolutionSet:
    """The inputs that switch ``unit`` of ``layer`` off.

    Parameters
    ----------
    model : Sequential
    layer : int or str
        Layer index (negative counts from the end) or name.
    unit : int
        Unit (output column) of that layer.
    threshold : float, optional
        "Off" is ``a <= threshold`` or ``|a| <= threshold`` (see
        :data:`OFF_RULES`, which also holds the defaults: 0 for the ReLU
        family, 1e-3 for sigmoid, 1e-2 for tanh).
    bounds : (lower, upper), optional
        Intersect with this input box.

    Returns
    -------
    SolutionSet
        First layer: a :class:`~symrecon.sets.Polyhedron` (halfspace or slab,
        ∩ bounds) with ``.derivation``; deeper piecewise-linear: an exact set;
        otherwise a :class:`LocalRegion` (``exact=False``).  An
        :class:`~symrecon.sets.EmptySet` when no input can switch the unit off.
        ``.nearest(x_ref)`` is the smallest change to ``x_ref`` that turns the unit off.

    Raises
    ------
    InvalidParameterError
        A layer or unit that does not exist, a negative threshold for ``|a|``.
    CapabilityError
        An activation without a shut-down rule.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[1.0], [0.0]], [0.0], "tanh")])
    >>> slab = sr.shutdown_region(m, 0, 0, threshold=0.5, bounds=(-2.0, 2.0))
    >>> slab.contains([[0.5, 1.0], [0.6, 1.0]]).tolist(), round(float(slab.nearest([3.0, 0.0])[0]), 6)
    ([True, False], 0.549306)
    """
    index = _resolve(model, layer, unit)
    lower, upper = check_bounds(bounds, model.n_in)
    target = model.layers[index]
    off = off_interval(target.activation, threshold)
    label = f"unit {unit} of layer {target.name!r} off"
    if off.empty:
        return EmptySet(model.n_in, f"{label} never happens: its {target.activation.name} output stays above "
                        f"{off.threshold:g} for every input", data={"layer": target.name, "unit": unit})
    if index == 0:
        p, q = target.kernel[:, unit], float(target.bias[unit])
        region = Polyhedron(*_as_arrays(_rows(p, q, off), model.n_in), n=model.n_in, description=label)
        if lower is not None and upper is not None:
            region = region.intersect(Box(lower, upper))
        steps = off.steps + (rf"z = {latex_linear(p, q)}",)
        out = Polyhedron(region.A, region.c, region.E, region.d, n=model.n_in, description=label, derivation=steps)
        return out.emptiness_certificate() if out.is_empty else out
    prefix = Sequential(model.layers[:index], name=f"{model.name}[:{index}]")
    if not_piecewise_linear(Sequential(model.layers[:index + 1])) is None:
        return _deeper_pwl(model, prefix, index, unit, off, lower, upper, label)
    w, b = model.layers[index].kernel[:, unit], float(model.layers[index].bias[unit])
    return LocalRegion(prefix, w, b, off, lower, upper, label=label)


def _as_arrays(rows, n):
    A, c, E, d = rows
    return (np.array(A).reshape(-1, n), np.array(c, dtype=np.float64), np.array(E).reshape(-1, n),
            np.array(d, dtype=np.float64))


def _deeper_pwl(model, prefix, index, unit, off, lower, upper, label):
    """A union of polyhedra when the pattern search stays small (exact L2 ``nearest``); else the MILP region."""
    w, b = model.layers[index].kernel[:, unit], float(model.layers[index].bias[unit])

    def leaf(M, v):
        return _rows(w @ M, float(w @ v) + b, off)

    try:
        region = pwl_region(prefix, leaf, lower, upper, **ENUMERATION_LIMITS)
    except CapabilityError as too_big:
        bounded = lower is not None and upper is not None and bool(np.all(np.isfinite(lower)) and
                                                                    np.all(np.isfinite(upper)))
        try:
            from .milp.region import unit_off_region  # the MILP region (exact; L1/L-inf nearest)
        except ImportError:
            raise too_big from None
        if not bounded:
            raise CapabilityError(f"{too_big}; the MILP region needs finite bounds: pass bounds=(lower, upper)") \
                from None
        return unit_off_region(model, index, unit, off.threshold, (lower, upper))
    region = Union(region.pieces, n=model.n_in, description=f"{label}: {region.description}",
                   derivation=off.steps + (rf"z = w^\top a^{{({index})}}(x) + b, \text{{ affine on each activation "
                                           rf"pattern of layers 1..{index}}}",))
    if region.is_empty:
        return EmptySet(model.n_in, f"{label} never happens within the bounds: every activation pattern of the "
                        f"layers before is infeasible with it (LP, HiGHS)", data={"layer": model.layers[index].name,
                                                                                   "unit": unit})
    return region

