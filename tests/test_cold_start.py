"""Cold start: every kernel a batch runs is compiled before its first chunk, with a notice while it compiles.

The damped kernel of a square chain compiles in the background while the
structured phase runs (:mod:`symrecon.backends.numba.compile_ahead`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import symrecon as sr
from symrecon.backends.numba import compile_ahead
from symrecon.solvers import _common

ROOT = Path(__file__).resolve().parent.parent

#: a fresh process (its dispatchers start empty, whatever this one compiled) counts, before and after every
#: batch, the signatures of the batch's chunk kernel
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
        name = "symrecon.backends.numba.gauss_newton." + kernel.py_func.__name__
        before = counts()
        original(kernel, *args)
        seen.append(dict(kernel=name, before=before[name], after=counts()[name]))

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
    # every batch's kernel was compiled before its first chunk, and nothing of it compiled while its chunks ran
    for call in report["seen"]:
        assert call["before"] >= 1, call
        assert call["after"] == call["before"], call
    kernels = [call["kernel"].rsplit(".", 1)[1] for call in report["seen"]]
    assert "_lm_chunk" in kernels
    if method == "newton":
        assert kernels[0] == "_gn_chunk"
        assert report["n_damped"] > 0   # the damped kernel was needed after the structured phase, and was ready


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


#: a first newton solve on an empty cache: the damped kernel compiles in the background and the process
#: waits for it at exit, so the cache holds it afterwards
_FIRST_SOLVE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    import numpy as np
    import symrecon as sr
    from symrecon.backends.numba import compile_ahead

    model = sr.Sequential([sr.Dense(np.eye(2) * 2.0, np.zeros(2), "tanh") for _ in range(2)])
    res = sr.reconstruct(model, model(np.array([[0.1, -0.2]])), method="newton", progress=False)
    pending = compile_ahead.pending()
    print(json.dumps(dict(pending=pending, success=bool(res.success.all()), n_damped=res.stats["n_damped"])))
""")


def test_the_damped_kernel_compiles_in_the_background_and_is_cached_by_exit(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", _FIRST_SOLVE.format(root=str(ROOT))], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["success"] and report["n_damped"] == 0
    # the solve returned before the damped kernel was compiled ...
    assert len(report["pending"]) == 1 and report["pending"][0].startswith("_lm_chunk/")
    # ... and the process finished compiling it before it exited
    assert any(p.name.startswith("gauss_newton._lm_chunk") and p.suffix == ".nbc" for p in tmp_path.rglob("*"))


def test_a_background_job_runs_once_is_waited_for_and_swallows_its_error():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)

    compile_ahead.start("test/slow", slow)
    compile_ahead.start("test/slow", slow)  # same name: not started again
    assert "test/slow" in compile_ahead.pending()
    compile_ahead.wait_all()
    assert calls == [1] and "test/slow" not in compile_ahead.pending()

    def broken():
        raise RuntimeError("compile failed")

    compile_ahead.start("test/broken", broken)  # the foreground call would raise it again, where users see it
    compile_ahead.wait("test/broken")
    assert "test/broken" not in compile_ahead.pending()
