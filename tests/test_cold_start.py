"""Cold start: every kernel a solve needs is compiled before the first chunk, with a notice while it compiles."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import symrecon as sr
from symrecon.solvers import _common

ROOT = Path(__file__).resolve().parent.parent

#: a fresh process (its dispatchers start empty, whatever this one compiled) counts, at every chunk of a
#: batch, the signatures of every numba dispatcher of the newton kernels' modules
_PROBE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    import numpy as np
    import symrecon as sr
    from numba.core.dispatcher import Dispatcher
    from symrecon.backends.numba import forward, gauss_newton, primitives

    def counts():
        return {{f"{{m.__name__}}.{{k}}": len(v.signatures) for m in (forward, gauss_newton, primitives)
                 for k, v in vars(m).items() if isinstance(v, Dispatcher)}}

    seen = []
    original = gauss_newton.run_lane_kernel

    def probe(kernel, *args):
        seen.append(counts())
        return original(kernel, *args)

    gauss_newton.run_lane_kernel = probe
    rng = np.random.default_rng(0)
    # a square tanh chain: the structured phase runs first, and the damped one only for some targets
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 3)) * 0.8, rng.normal(size=3), "tanh") for _ in range(3)])
    y = model(rng.normal(size=(300, 3)) * 2.0)
    res = sr.reconstruct(model, y, method=sys.argv[1], progress=False)
    print(json.dumps({{"seen": seen, "after": counts(), "n_damped": res.stats.get("n_damped", 0)}}))
""")


@pytest.mark.parametrize("method", ["newton", "auto"])
def test_every_newton_kernel_is_compiled_before_the_first_chunk_runs(method):
    code = _PROBE.format(root=str(ROOT))
    if method == "auto":
        code = code.replace('"tanh") for _ in range(3)])', '"tanh") for _ in range(3)] + '
                            "[sr.Dense(rng.normal(size=(3, 2)), None)])")
    run = subprocess.run([sys.executable, "-c", code, method], capture_output=True, text=True, timeout=600,
                         cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["seen"], "no chunk ran"
    first = report["seen"][0]
    assert first["symrecon.backends.numba.gauss_newton._lm_chunk"] >= 1
    # nothing compiled from the first chunk on: every count stays as it was then
    for snapshot in report["seen"][1:] + [report["after"]]:
        assert snapshot == first
    if method == "newton":
        assert first["symrecon.backends.numba.gauss_newton._gn_chunk"] >= 1
        assert report["n_damped"] > 0   # the damped kernel was needed mid-batch, and was ready


def _slow_compile(monkeypatch):
    from symrecon.backends.numba import gauss_newton

    monkeypatch.setattr(_common, "NOTICE_AFTER", 0.01)
    monkeypatch.setattr(gauss_newton, "compile_kernels", lambda *args: time.sleep(0.3))


def test_a_slow_preparation_says_so_on_stderr_once(monkeypatch, capsys):
    _slow_compile(monkeypatch)
    res = sr.reconstruct(sr.Sequential([sr.Dense([[2.0]], [1.0], "tanh")]), [0.5], method="newton")
    assert res.success
    err = capsys.readouterr().err
    assert err.count(_common.NOTICE) == 1


def test_the_notice_is_silent_with_progress_false(monkeypatch, capsys):
    _slow_compile(monkeypatch)
    sr.reconstruct(sr.Sequential([sr.Dense([[2.0]], [1.0], "tanh")]), np.array([[0.5]]), method="newton",
                   progress=False)
    assert _common.NOTICE not in capsys.readouterr().err


def test_a_fast_preparation_says_nothing(capsys):
    with _common.compile_notice(True):
        pass
    time.sleep(_common.NOTICE_AFTER + 0.2)
    assert capsys.readouterr().err == ""
