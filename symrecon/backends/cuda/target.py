"""The one place that imports ``numba.cuda``: availability, the NumPy shim, and CPU helpers as device functions.

``numba.cuda`` is either numba's built-in CUDA target (deprecated, still
shipped with numba 0.68) or NVIDIA's ``numba-cuda`` package (the ``cuda``
extra of symrecon), which takes the same import name.  Both run the kernels
under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, read by numba at
import, before this module); on a device only ``numba-cuda`` does: the
built-in target of numba 0.68 fails to type ``max(a, b)`` of two floats in
device code (checked by compiling to PTX), so :func:`device_problem` asks for
the extra there.

The NumPy shim, knowingly: ``numba-cuda`` registers an overload for
``np.row_stack`` when it is imported; NumPy 2.4 deprecates that alias and
NumPy 2.5 removes it, so the import fails there.  :func:`cuda_module` puts
``np.row_stack = np.vstack`` (the function it always aliased) back *only when
it is missing* and ignores NumPy's deprecation warning during that one import.
Nothing else in symrecon touches NumPy's namespace.

The kernels reuse the CPU backend's scalar helpers (``affine``, the
activation formulas, the termination ladder, the lane Cholesky): the CUDA
target compiles a CPU ``@njit`` function called from a kernel as a device
function, so every formula stays written once.  The simulator cannot pass its
fake device arrays to a compiled CPU function; :func:`device_function` hands
it the NumPy arrays they wrap instead.

Examples
--------
>>> from symrecon.backends.cuda.target import device_problem
>>> device_problem() is None or "CUDA" in device_problem()
True
"""

from __future__ import annotations

import functools
import warnings
from types import ModuleType
from typing import Any

import numpy as np
from numba.core import config

__all__ = ["cuda_module", "device_problem", "device_function", "simulated", "as_device_tuple", "INSTALL_HINT"]

#: what to install for the GPU path (the message of every "no device" error)
INSTALL_HINT = ("install the CUDA target with `pip install symrecon[cuda]` (numba-cuda) on a machine with an "
                "NVIDIA GPU and its driver")


def simulated() -> bool:
    """Whether numba runs CUDA kernels in its simulator (``NUMBA_ENABLE_CUDASIM=1`` when numba was imported)."""
    return bool(config.ENABLE_CUDASIM)


@functools.lru_cache(maxsize=1)
def cuda_module() -> ModuleType:
    """``numba.cuda``, imported once (with the ``np.row_stack`` shim described above).

    Raises
    ------
    ImportError
        Neither numba's built-in CUDA target nor ``numba-cuda`` is importable.
    """
    if not hasattr(np, "row_stack"):
        setattr(np, "row_stack", np.vstack)  # NumPy >= 2.5 removed it; see the module docstring
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # np.row_stack touched by numba-cuda's import
        from numba import cuda
    return cuda


def device_problem() -> str | None:
    """Why kernels cannot run here (a sentence for an error message), or None when they can.

    True under the simulator; otherwise a CUDA device must be visible to numba.
    """
    try:
        cuda = cuda_module()
    except ImportError as exc:
        return f"numba's CUDA target cannot be imported ({exc}); {INSTALL_HINT}"
    if simulated():
        return None
    if getattr(cuda, "implementation", None) != "NVIDIA":
        # measured with numba 0.68: its built-in target cannot even type max() of two floats for the device
        return f"numba's built-in CUDA target (deprecated) cannot compile these kernels; {INSTALL_HINT}"
    try:
        found = bool(cuda.is_available())
    except Exception as exc:  # a broken driver or toolkit raises from deep inside numba  # noqa: BLE001
        return f"no usable CUDA device: {exc}; {INSTALL_HINT}"
    return None if found else f"no CUDA device found (numba.cuda.is_available() is False); {INSTALL_HINT}"


def device_function(func: Any) -> Any:
    """A CPU ``@njit`` helper callable from the kernels of this package.

    On a device the dispatcher itself: the CUDA target compiles its Python
    source as a device function.  Under the simulator a wrapper that unwraps
    fake device arrays (also inside tuples such as the packed model) before
    calling the compiled CPU function.
    """
    if not simulated():
        return func

    @functools.wraps(func)
    def call(*args: Any) -> Any:
        return func(*(_host_view(a) for a in args))

    return call


def _host_view(value: Any) -> Any:
    """The NumPy array behind a simulator array (recursively in tuples); other values as they are."""
    inner = getattr(value, "_item", None)  # the simulator's in-kernel wrapper
    if inner is not None and hasattr(inner, "_ary"):
        return inner._ary
    if hasattr(value, "_ary") and hasattr(value, "copy_to_host"):
        return value._ary
    if isinstance(value, tuple):
        parts = [_host_view(v) for v in value]
        return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)
    return value


def as_device_tuple(cuda: ModuleType, host: tuple, stream: Any = 0) -> Any:
    """A copy of the named tuple ``host`` with every array field on the device (scalars kept)."""
    fields = [cuda.to_device(np.ascontiguousarray(v), stream=stream) if isinstance(v, np.ndarray) else v
              for v in host]
    return type(host)(*fields)


