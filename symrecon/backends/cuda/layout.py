"""What the CUDA kernels read: the model and settings as named tuples of arrays, and the sizes they are built for.

One thread works on one target with per-thread scratch in local arrays whose
sizes are compile-time constants: :data:`MAX_WIDTH` units per layer and
:data:`MAX_UNITS` units over all layers (input included).  Wider networks are
refused with a :class:`~symrecon.errors.CapabilityError` (they want a warp or
a block per target, not one thread).

:class:`DeviceModel` holds the fields of
:class:`~symrecon.backends.numba.pack.PackedModel` that the kernels read,
taken by name (the packed model may grow other fields), under the same names,
so the CPU helpers that take a packed model take it too.

Examples
--------
>>> import symrecon as sr
>>> from symrecon.backends.cuda.layout import shape_problem
>>> shape_problem(sr.Sequential([sr.Dense([[1.0, 2.0]], None, "tanh")])) is None
True
>>> "64 units" in shape_problem(sr.Sequential([sr.Dense([[1.0] * 64], None)]))
True
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["MAX_WIDTH", "MAX_UNITS", "THREADS", "DeviceModel", "DeviceSettings", "device_model", "device_settings",
           "shape_problem"]

#: the widest layer (and input) one thread handles
MAX_WIDTH = 32
#: the most units over all layers, input included (every layer is kept for the structured step)
MAX_UNITS = 256
#: threads per block of every kernel
THREADS = 128


class DeviceModel(NamedTuple):
    """The packed model's arrays the kernels read (layout: :mod:`symrecon.backends.numba.pack`)."""

    sizes: Any
    w: Any
    wk: Any
    w_off: Any
    b: Any
    b_off: Any
    codes: Any
    params: Any
    winv: Any


class DeviceSettings(NamedTuple):
    """Per-solve settings: ``tol`` (N,) per-target or (1,), ``max_iter``, box ``lower``/``upper`` (n_in,)."""

    tol: Any
    max_iter: int
    lower: Any
    upper: Any
    has_bounds: bool


def device_model(pm: Any) -> DeviceModel:
    """The :class:`DeviceModel` fields of a packed model, read by name (host arrays, contiguous)."""
    fields = {name: np.ascontiguousarray(getattr(pm, name)) for name in DeviceModel._fields}
    if fields["winv"].size == 0:
        fields["winv"] = np.zeros(1)  # a zero-length device array cannot be allocated everywhere
    return DeviceModel(**fields)


def device_settings(cfg: Any) -> DeviceSettings:
    """The :class:`DeviceSettings` of the CPU kernels' settings, read by name."""
    return DeviceSettings(np.ascontiguousarray(cfg.tol, dtype=np.float64), int(cfg.max_iter),
                          np.ascontiguousarray(cfg.lower, dtype=np.float64),
                          np.ascontiguousarray(cfg.upper, dtype=np.float64), bool(cfg.has_bounds))


def shape_problem(model: Any) -> str | None:
    """Why ``model`` is too large for one thread per target, or None when it fits."""
    sizes = [model.layers[0].n_in] + [layer.n_out for layer in model.layers]
    if max(sizes) > MAX_WIDTH:
        return (f"the GPU kernels run one target per thread with layers of at most {MAX_WIDTH} units; "
                f"this model has a layer of {max(sizes)} units")
    if sum(sizes) > MAX_UNITS:
        return (f"the GPU kernels keep every layer of a target in one thread, at most {MAX_UNITS} units in all; "
                f"this model has {sum(sizes)}")
    return None
