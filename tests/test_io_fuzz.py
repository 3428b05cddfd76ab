"""Fuzzing the loader with mutated fixtures (issue 9, item 5).

Seeded mutations of the files in ``tests/data/keras``: byte flips and
truncations of ``.keras`` archives, legacy ``.h5`` and ``*.weights.h5``
files, JSON field mutations of ``config.json`` (re-zipped with valid CRCs so
they reach the config parser), and byte flips near HDF5 structure
signatures inside ``model.weights.h5`` (re-zipped so they reach libhdf5).
Every load must return a model or raise one of the loader's documented
errors (ModelFormatError, UnsupportedLayerError), within a time and memory
bound, while other threads of the same process run BLAS matrix products.

The fuzz loop runs in a fresh interpreter (``python tests/test_io_fuzz.py N
SEED WORKDIR`` prints one JSON report), so a crash or a deadlock fails the
test instead of taking pytest down.
"""

from __future__ import annotations

import copy
import io
import json
import os
import resource
import subprocess
import sys
import threading
import time
import traceback
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "keras"
BASES = ("dense_chain", "functional", "nested", "normalization", "rnn_gru", "rnn_lstm", "activation_layers")
#: Byte patterns that start HDF5 structures: mutating near them reaches deeper parser code.
H5_SIGNATURES = (b"OHDR", b"OCHK", b"TREE", b"HEAP", b"SNOD", b"GCOL", b"BTHD", b"BTIN", b"BTLF", b"FRHP",
                 b"FHDB", b"FHIB", b"\x89HDF")
#: Values a JSON field is replaced with.
ODD_VALUES = [None, True, 0, -1, 1, 2**31, 10**12, 1e308, -0.5, "", "x", "Dense", [], [None], [1, 2, 3], {},
              {"class_name": "Dense"}, [[None, 10**6]], "linear", "softmax"]


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def flip_bytes(data: bytes, rng: np.random.Generator, near: tuple[bytes, ...] = ()) -> bytes:
    out = bytearray(data)
    spots = [i for sig in near for i in _find_all(data, sig)]
    for _ in range(int(rng.integers(1, 9))):
        if spots and rng.random() < 0.7:
            pos = min(len(out) - 1, spots[int(rng.integers(len(spots)))] + int(rng.integers(0, 96)))
        else:
            pos = int(rng.integers(len(out)))
        out[pos] = int(rng.integers(256)) if rng.random() < 0.5 else out[pos] ^ (1 << int(rng.integers(8)))
    return bytes(out)


def _find_all(data: bytes, sig: bytes) -> list[int]:
    out, i = [], data.find(sig)
    while i != -1:
        out.append(i)
        i = data.find(sig, i + 1)
    return out


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[:int(rng.integers(len(data)))]


def _nodes(obj, out: list) -> list:
    """Every (container, key) pair in a JSON value."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        out.append((obj, key))
        _nodes(value, out)
    return out


def mutate_json(config: dict, rng: np.random.Generator) -> dict:
    config = copy.deepcopy(config)
    for _ in range(int(rng.integers(1, 4))):
        spots = _nodes(config, [])
        if not spots:
            break
        parent, key = spots[int(rng.integers(len(spots)))]
        roll = rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[key]
        elif roll < 0.25 and isinstance(parent, list):
            parent.insert(int(key), copy.deepcopy(parent[key]))
        else:
            parent[key] = copy.deepcopy(ODD_VALUES[int(rng.integers(len(ODD_VALUES)))])
    return config


def mutants(n: int, seed: int):
    """``n`` seeded ``(description, suffix, bytes, kwargs)`` mutations of the fixtures."""
    rng = np.random.default_rng(seed)
    archives = {b: zip_members(DATA / f"{b}.keras") for b in BASES}
    legacy = {b: (DATA / f"{b}.h5").read_bytes() for b in BASES}
    for i in range(n):
        base = BASES[i % len(BASES)]
        members = dict(archives[base])
        kind = ("keras-bytes", "keras-truncate", "config-json", "weights-h5", "legacy-h5", "legacy-truncate",
                "weights-only")[int(rng.integers(7))]
        if kind == "keras-bytes":
            yield kind, ".keras", flip_bytes(rezip(members), rng), {}
        elif kind == "keras-truncate":
            yield kind, ".keras", truncate(rezip(members), rng), {}
        elif kind == "config-json":
            members["config.json"] = json.dumps(mutate_json(json.loads(members["config.json"]), rng)).encode()
            yield kind, ".keras", rezip(members), {}
        elif kind == "weights-h5":
            members["model.weights.h5"] = flip_bytes(members["model.weights.h5"], rng, H5_SIGNATURES)
            yield kind, ".keras", rezip(members), {}
        elif kind == "legacy-h5":
            yield kind, ".h5", flip_bytes(legacy[base], rng, H5_SIGNATURES), {}
        elif kind == "legacy-truncate":
            yield kind, ".h5", truncate(legacy[base], rng), {}
        else:
            data = flip_bytes((DATA / f"{base}.weights.h5").read_bytes(), rng, H5_SIGNATURES)
            yield kind, ".weights.h5", data, {"architecture": DATA / f"{base}.keras"}


def blas_worker(stop: threading.Event, counter: list) -> None:
    a = np.random.default_rng(1).standard_normal((300, 300))
    while not stop.is_set():
        a = np.tanh(a @ a.T / 300.0)
        counter[0] += 1


def run(n: int, seed: int, workdir: Path) -> dict:
    """Load ``n`` mutants next to a BLAS thread; outcome counts, failures, slowest load and memory."""
    import symrecon as sr
    from symrecon.io import _h5helper

    _h5helper.PARSE_TIMEOUT = 10.0  # a hang costs 10 s, not a minute
    sr.load_keras(DATA / "dense_chain.keras")  # starts the helper; its start-up is not a load's cost
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stop, counter = threading.Event(), [0]
    threads = [threading.Thread(target=blas_worker, args=(stop, counter), daemon=True)]
    for t in threads:
        t.start()
    outcomes: dict[str, int] = {}
    failures, slowest = [], 0.0
    for i, (kind, suffix, data, kwargs) in enumerate(mutants(n, seed)):
        path = workdir / f"m{i}{suffix}"
        path.write_bytes(data)
        t0 = time.perf_counter()
        try:
            sr.load_keras(path, **kwargs)
            outcome = "loaded"
        except (sr.ModelFormatError, sr.UnsupportedLayerError) as exc:
            outcome = type(exc).__name__
            if path.name not in str(exc):
                failures.append(f"{kind} #{i}: message does not name the file: {exc}")
        except Exception as exc:  # noqa: BLE001 - the point of the fuzz: anything else is a finding
            outcome = "other"
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            place = f"{Path(frame.filename).name}:{frame.lineno}"
            failures.append(f"{kind} #{i}: {type(exc).__name__}: {exc} at {place}"[:400])
        slowest = max(slowest, time.perf_counter() - t0)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        path.unlink()
    stop.set()
    n_threads = threading.active_count()
    helper = _h5helper.helper_pid()
    helper_hwm = _vm_hwm(helper) if helper else 0
    _h5helper.shutdown()  # helpers killed after a crash were reaped too: RUSAGE_CHILDREN covers them all
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"outcomes": outcomes, "failures": failures, "slowest_s": slowest, "matmuls": counter[0],
            "extra_rss_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024,
            "helper_mib": max(helper_hwm, children) / 1024, "threads": n_threads}


def _vm_hwm(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))


def fuzz(tmp_path: Path, n: int, seed: int, timeout: float) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__, str(n), str(seed), str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["failures"] == [], report["failures"][:20]
    assert sum(report["outcomes"].values()) == n
    # Both kinds of outcome occur: mutations that keep a file loadable, and refused ones.
    assert report["outcomes"].get("loaded", 0) > n // 20 and report["outcomes"].get("ModelFormatError", 0) > n // 2
    assert report["matmuls"] > 0 and report["threads"] >= 2, report
    assert report["slowest_s"] < 12.0, report  # the helper's 10 s timeout plus a margin: nothing hangs
    assert report["extra_rss_mib"] < 100 and report["helper_mib"] < 400, report
    return report


def test_fuzz_mutated_fixtures(tmp_path):
    fuzz(tmp_path, n=1000, seed=20261201, timeout=600)


@pytest.mark.parametrize("where", ["group", "attribute"])
def test_names_that_are_not_utf8_are_refused(tmp_path, where):
    # Found by the fuzz: h5py yields such names as bytes, which used to break the helper's reply.
    import shutil

    import h5py

    import symrecon as sr

    path = tmp_path / "names.h5"
    shutil.copy(DATA / "dense_chain.h5", path)
    with h5py.File(path, "a") as f:
        if where == "group":
            f.create_group(b"model_weights/\xd1\xff")
        else:
            f["model_weights"].attrs[b"nam\xd1"] = 1
    with pytest.raises(sr.ModelFormatError, match="names.h5.*not valid UTF-8"):
        sr.load_keras(path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_mutated_fixtures_long(tmp_path, seed):
    fuzz(tmp_path, n=10_000, seed=seed, timeout=3000)


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))))
