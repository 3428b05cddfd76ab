"""``load_keras`` next to other threads (issue 9, item 1), and interrupting a load.

Loading used to ``os.fork()`` to isolate libhdf5; forking while another
thread holds the BLAS or allocator lock deadlocks the caller.  Each scenario
runs in a fresh interpreter under a timeout, so a deadlock fails the test
instead of hanging pytest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "keras"


def run_script(body: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", body], cwd=ROOT, env=env, capture_output=True,
                          check=False, text=True, timeout=timeout)


BUSY_THREADS = """
import threading, time
import numpy as np
import symrecon as sr

stop = threading.Event()
counts = {"matmul": 0, "reconstruct": 0}

def blas():
    a = np.random.default_rng(0).standard_normal((400, 400))
    while not stop.is_set():
        a = np.tanh(a @ a.T / 400.0)
        counts["matmul"] += 1

def solve():
    # Gradient descent runs numba prange loops on a thread pool: forking next to it hung in os.fork().
    model = sr.Sequential([sr.Dense([[1.0, 0.5], [0.2, 1.0]], [0.1, -0.2], "tanh"), sr.Dense([[1.0], [2.0]])])
    while not stop.is_set():
        sr.reconstruct(model, np.full((64, 1), 0.3), method="gd", max_iter=200)
        counts["reconstruct"] += 1

threads = [threading.Thread(target=f, daemon=True) for f in (blas, blas, solve)]
for t in threads:
    t.start()
"""


def test_load_keras_while_other_threads_do_blas_and_reconstruct():
    body = BUSY_THREADS + textwrap.dedent(f"""
    files = [{str(DATA / 'dense_chain.keras')!r}, {str(DATA / 'nested.h5')!r}, {str(DATA / 'rnn_lstm.keras')!r}]
    while counts["matmul"] < 2 or counts["reconstruct"] < 1:
        time.sleep(0.01)  # the other threads are busy inside BLAS and numba's thread pool
    for i in range(30):
        sr.load_keras(files[i % 3])
    # Forking next to them also froze the BLAS threads for good: they must still make progress.
    before, deadline = dict(counts), time.monotonic() + 30
    while time.monotonic() < deadline and not (counts["matmul"] > before["matmul"] + 2
                                               and counts["reconstruct"] > before["reconstruct"]):
        time.sleep(0.05)
    stop.set()
    print("OK", counts["matmul"] - before["matmul"], counts["reconstruct"] - before["reconstruct"])
    """)
    proc = run_script(body, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    status, matmuls, solves = proc.stdout.split()
    assert status == "OK"
    assert int(matmuls) > 2 and int(solves) > 0, proc.stdout


def test_ctrl_c_during_a_load_kills_and_reaps_the_helper(tmp_path):
    # A file that keeps libhdf5 busy for ever (its global-heap pre-check switched off).
    from test_keras_safety import ENDLESS_HEAP, _patched

    endless = _patched(tmp_path, ENDLESS_HEAP, "endless.h5")
    script = textwrap.dedent(f"""
        import os, sys, time
        import symrecon as sr
        from symrecon.io import _h5helper, _h5tree
        sr.load_keras({str(DATA / 'dense_chain.h5')!r})
        pid = _h5helper.helper_pid()
        print(pid, flush=True)
        _h5tree.check_global_heaps = lambda data, where: None
        try:
            sr.load_keras({str(endless)!r})
        except KeyboardInterrupt:
            try:
                os.waitpid(pid, os.WNOHANG)
                reaped = False
            except ChildProcessError:
                reaped = True
            print("interrupted", reaped, os.path.exists(f"/proc/{{pid}}"), _h5helper.helper_pid(), flush=True)
            sr.load_keras({str(DATA / 'dense_chain.h5')!r})  # a fresh helper serves the next load
            print("reloaded", _h5helper.helper_pid() not in (None, pid), flush=True)
    """)
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        helper = int(proc.stdout.readline())
        time.sleep(1.5)  # the helper is now stuck inside libhdf5
        assert os.path.exists(f"/proc/{helper}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert out.split() == ["interrupted", "True", "False", "None", "reloaded", "True"], out


def test_a_helper_killed_from_outside_is_replaced_without_blaming_the_file():
    import symrecon as sr
    from symrecon.io import _h5helper

    sr.load_keras(DATA / "dense_chain.h5")
    old = _h5helper._helper
    assert old is not None
    os.kill(old.proc.pid, signal.SIGKILL)
    old.proc.wait(timeout=30)
    model = sr.load_keras(DATA / "nested.h5")  # not "the HDF5 library crashed reading this file"
    assert model.n_in > 0
    assert _h5helper.helper_pid() not in (None, old.proc.pid)


def test_concurrent_loads_share_the_helper():
    from concurrent.futures import ThreadPoolExecutor

    import symrecon as sr

    files = [DATA / name for name in ("dense_chain.keras", "nested.h5", "rnn_gru.keras", "functional.h5")] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        models = list(pool.map(sr.load_keras, files))
    assert [m.n_in for m in models] == [sr.load_keras(f).n_in for f in files]
