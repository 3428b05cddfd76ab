"""Compile both CUDA kernels to PTX for a Hopper GPU (sm_90) without a GPU: run by tests/test_cuda.py.

The simulator runs kernels as Python, so it cannot tell whether the device
compiler accepts them (types, device functions compiled from the CPU
helpers, local arrays).  ``numba.cuda.compile_ptx`` runs that compiler (NVVM,
from the ``cuda`` extra's toolkit wheels) with no device and no driver.
Exit status 3: ``numba-cuda`` or its toolkit is missing (the message says which).
"""

from __future__ import annotations

import sys

import numba
import numpy as np

import symrecon as sr
from symrecon.backends.cuda.layout import device_model, device_settings
from symrecon.backends.cuda.target import cuda_module
from symrecon.backends.numba.pack import pack, settings
from symrecon.solvers.analytic import cached_inverse


def main() -> int:
    cuda = cuda_module()
    if getattr(cuda, "implementation", None) != "NVIDIA":
        print("numba-cuda is not installed (pip install symrecon[cuda])")
        return 3
    from symrecon.backends.cuda import closed_form, newton

    # Device functions (the CPU helpers compiled for the device) ask the current device for its
    # compute capability; there is none here, so the dispatcher is told the target's.
    import types

    import numba.cuda.dispatcher as dispatcher

    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))

    rng = np.random.default_rng(0)
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 3)) + 2 * np.eye(3), None, "tanh") for _ in range(2)])
    y, x, status = np.zeros((4, 3)), np.zeros((4, 3)), np.zeros(4, np.int8)
    pm = cached_inverse(model).plan.packed
    offsets = np.stack([pm.b_off[:pm.codes.shape[0]], pm.w_off[:pm.codes.shape[0]]], axis=1)
    cf_args = (y, pm.sizes, pm.codes, pm.params, pm.image, pm.b, offsets, pm.back, pm.wk, 1e-9, x, status)
    nt_args = (device_model(pack(model, inverses=True)), device_settings(settings(np.ones(4), 100, n_in=3)), y, y,
               True, x, status, np.zeros(4, np.int64), np.zeros(4, np.bool_))
    for name, kernel, args in (("closed form", closed_form._closed_form_kernel, cf_args),
                               ("newton", newton._newton_kernel, nt_args)):
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, tuple(numba.typeof(a) for a in args), cc=(9, 0))
        except Exception as exc:  # noqa: BLE001
            if "nvvm" in str(exc).lower() or "nvrtc" in str(exc).lower():
                print(f"the CUDA toolkit wheels are missing: {exc}")
                return 3
            raise
        assert ".entry" in ptx and "div.full" not in ptx, name  # IEEE division, no fast-math approximation
        print(f"{name}: {len(ptx)} characters of PTX for sm_90")
    return 0


if __name__ == "__main__":
    sys.exit(main())
