"""The GPU path (issue 13): requests it refuses, its kernels under the CUDA simulator, on a GPU, and as PTX.

numba reads ``NUMBA_ENABLE_CUDASIM`` once, when it is imported, so the kernel
cases (``tests/cuda_cases.py``) run in subprocesses: always under the
simulator, and on the GPU as well where one is present.  ``tests/cuda_ptx.py``
compiles both kernels for a real device (sm_90) without one; it needs the
``cuda`` extra (numba-cuda and the toolkit wheels), which CI installs: with
``CI`` set a missing extra fails, elsewhere it skips with the install hint
(the policy of the live-Keras tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symrecon as sr
from symrecon.backends.cuda.target import device_problem
from symrecon.errors import CapabilityError, InvalidParameterError

HERE = Path(__file__).resolve().parent
MODEL = sr.Sequential([sr.Dense([[2.0, 0.3], [-0.4, 1.5]], [0.1, -0.2], "tanh")])
Y = MODEL(np.array([[0.2, -0.1], [0.4, 0.3]]))


def _run(args: list[str], simulator: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([sys.executable, *args], cwd=HERE.parent, env=env, capture_output=True, text=True,
                          timeout=1800)


def test_cpu_is_the_default_and_an_unknown_device_is_refused():
    res = sr.reconstruct(MODEL, Y, method="newton", device="cpu")
    assert "device" not in res.stats and np.all(res.success)
    with pytest.raises(InvalidParameterError, match="device must be one of 'cpu', 'cuda'; got 'gpu'"):
        sr.reconstruct(MODEL, Y, method="newton", device="gpu")


@pytest.mark.parametrize("method", ["gd", "scipy", "auto"])
def test_methods_without_a_kernel_are_refused_never_run_on_the_cpu(method):
    with pytest.raises(CapabilityError, match=f"runs method 'analytic' or 'newton'; got method '{method}'"):
        sr.reconstruct(MODEL, Y, method=method, device="cuda")


def test_other_executors_and_too_wide_networks_are_refused():
    with pytest.raises(CapabilityError, match="executor must be 'serial', got 'threads'"):
        sr.reconstruct(MODEL, Y, method="newton", device="cuda", executor="threads")
    wide = sr.Sequential([sr.Dense(np.eye(40), None, "tanh")])
    with pytest.raises(CapabilityError, match="at most 32 units; this model has a layer of 40 units"):
        sr.reconstruct(wide, np.zeros(40), method="newton", device="cuda")


def test_without_a_device_the_error_says_what_is_missing():
    missing = device_problem()
    if missing is None:  # a GPU (and numba-cuda) here: the same call runs on it
        assert np.all(sr.reconstruct(MODEL, Y, method="newton", device="cuda").success)
        return
    assert "CUDA" in missing and "pip install symrecon[cuda]" in missing
    with pytest.raises(CapabilityError, match="device='cuda' cannot run here: .*symrecon\\[cuda\\]"):
        sr.reconstruct(MODEL, Y, method="analytic", device="cuda")


def test_kernels_match_the_cpu_under_the_simulator_and_on_a_gpu_when_present():
    runs = [True] + ([False] if device_problem() is None else [])
    for simulator in runs:
        proc = _run(["-m", "pytest", str(HERE / "cuda_cases.py"), "-q", "-p", "no:cacheprovider"], simulator)
        where = "simulator" if simulator else "GPU"
        assert proc.returncode == 0, f"on the {where}:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
        assert " passed" in proc.stdout and "skipped" not in proc.stdout and "deselected" not in proc.stdout


def test_kernels_compile_for_a_real_gpu():
    proc = _run([str(HERE / "cuda_ptx.py")], simulator=False)
    if proc.returncode == 3 and not os.environ.get("CI"):
        pytest.skip(f"the cuda extra is missing: {proc.stdout.strip()}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "closed form:" in proc.stdout and "newton:" in proc.stdout
