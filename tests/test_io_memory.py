"""Memory stays bounded by what a file really holds (issue 9, item 3).

Each hostile file is small on disk but used to make the loader allocate
gigabytes: an identity matrix sized by a number in the config, an HDF5
attribute copied once per path through hard-linked groups, a deflated
config.json that inflates to millions of JSON objects.  Each load runs in a
fresh interpreter that reports its peak resident memory, and that of the
HDF5 helper, beyond what importing symrecon and loading a small model took.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "keras"

#: Peak resident memory a refused load may add, in MiB (the hostile files below used to take 250 MiB to 3 GiB).
MAX_EXTRA_MIB = 120

PROBE = """
import json, resource, sys
import symrecon as sr
sr.load_keras({warmup!r})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    sr.load_keras({path!r})
    outcome = ["loaded", ""]
except Exception as exc:
    outcome = [type(exc).__name__, str(exc)]
try:
    from symrecon.io import _h5helper
    _h5helper.shutdown()  # reaped helpers count in RUSAGE_CHILDREN
except ImportError:
    pass
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({{"outcome": outcome, "extra_mib": (peak - base) / 1024, "children_mib": children / 1024}}))
"""


def probe(path: Path) -> dict:
    """Load ``path`` in a fresh interpreter; its outcome and peak memory."""
    code = PROBE.format(warmup=str(DATA / "dense_chain.keras"), path=str(path))
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          check=False, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def empty_h5() -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w"):
        pass
    return buf.getvalue()


def keras_file(path: Path, layers: list[dict], weights: bytes | None = None,
               compression: int = zipfile.ZIP_STORED) -> Path:
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "hostile", "layers": layers}}
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", empty_h5() if weights is None else weights)
    return path


def input_layer(width: int) -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
            "config": {"batch_shape": [None, width], "dtype": "float32", "name": "input"}}


def layer(cls: str, **config) -> dict:
    return {"module": "keras.layers", "class_name": cls, "registered_name": None,
            "config": {"name": cls.lower(), **config}}


def assert_refused_cheaply(path: Path, *fragments: str, max_helper_mib: float = 400) -> dict:
    report = probe(path)
    assert report["extra_mib"] < MAX_EXTRA_MIB, report
    # Importing symrecon starts a ~120 MiB child of its own; the HDF5 helper itself takes ~45 MiB.
    assert report["children_mib"] < max_helper_mib, report
    kind, message = report["outcome"]
    assert kind == "ModelFormatError", report
    assert path.name in message, message
    for fragment in fragments:
        assert fragment in message, message
    return report


@pytest.mark.parametrize("width", [12_000, 10**6])
def test_activation_layer_on_a_wide_declared_input(tmp_path, width):
    path = keras_file(tmp_path / "wide.keras", [input_layer(width), layer("Activation", activation="tanh")])
    assert path.stat().st_size < 2000
    assert_refused_cheaply(path, f"{width} x {width}", "'activation'")


def test_normalization_with_a_scalar_mean_on_a_wide_input(tmp_path):
    path = keras_file(tmp_path / "norm.keras", [input_layer(12_000), layer("Normalization", mean=0.0, variance=1.0,
                                                                         axis=-1)])
    assert path.stat().st_size < 2000
    assert_refused_cheaply(path, "12000 x 12000", "'normalization'")


def test_many_medium_activation_layers_share_one_budget(tmp_path):
    # Each 1000-wide identity (8 MB) is allowed alone; twenty of them are not.
    layers = [input_layer(1000)] + [layer("Activation", activation="tanh") | {"config": {"name": f"a{i}",
                                    "activation": "tanh"}} for i in range(20)]
    assert_refused_cheaply(keras_file(tmp_path / "many.keras", layers), "MiB")


def add_hard_link_dag(f: h5py.File, depth: int = 8, attribute_bytes: int = 2**20) -> None:
    """Groups ``dag/g0 -> ... -> dag/g{depth}``, each linked twice from the one above: 2**depth paths."""
    below = f.create_group(f"dag/g{depth}")
    below.attrs["blob"] = np.zeros(attribute_bytes // 8)
    for level in range(depth - 1, -1, -1):
        g = f.create_group(f"dag/g{level}")
        g["a"] = below
        g["b"] = below
        below = g


def test_hard_linked_dag_is_read_once(tmp_path):
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="latest") as f:
        add_hard_link_dag(f)
    assert len(buf.getvalue()) < 2 * 2**20
    path = keras_file(tmp_path / "dag.keras", [input_layer(3), layer("Dense", units=2)], weights=buf.getvalue())
    # The helper must not copy the attribute once per path (2**8 copies).
    assert_refused_cheaply(path, "hard link", "/dag/g0/")


def test_hard_linked_dag_in_a_legacy_h5(tmp_path):
    path = tmp_path / "dag.h5"
    path.write_bytes((DATA / "dense_chain.h5").read_bytes())
    with h5py.File(path, "a", libver="latest") as f:
        add_hard_link_dag(f)
    assert path.stat().st_size < 2 * 2**20
    assert_refused_cheaply(path, "hard link", "/dag/g0/")


def test_deflated_json_that_inflates_to_millions_of_objects(tmp_path):
    layers = [input_layer(3), layer("Dense", units=2)]
    path = keras_file(tmp_path / "bomb.keras", layers, compression=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    cfg = json.loads(members["config.json"])
    cfg["config"]["padding"] = [{}] * 4_000_000  # 12 MB of JSON, a few KB deflated
    members["config.json"] = json.dumps(cfg, separators=(",", ":")).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    assert path.stat().st_size < 100_000
    assert_refused_cheaply(path, "'config.json'", "limit")


def test_wide_but_real_dense_still_loads(tmp_path):
    # Widths backed by real weights are not limited: a 3000-unit Dense loads.
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=np.ones((3, 3000), dtype="f4"))
        f.create_dataset("layers/dense/vars/1", data=np.zeros(3000, dtype="f4"))
    path = keras_file(tmp_path / "real.keras", [input_layer(3), layer("Dense", units=3000, activation="tanh")],
                      weights=buf.getvalue())
    report = probe(path)
    assert report["outcome"] == ["loaded", ""], report


def test_total_read_budget_is_enforced():
    # Everything read is charged: a budget smaller than a fixture's content refuses it, naming the part.
    from symrecon.io import _h5walk

    data = (DATA / "dense_chain.h5").read_bytes()
    assert _h5walk.read_budget(len(data)) == 8 * len(data) + 16 * 2**20
    with pytest.raises(_h5walk.Refused, match=r"f\.h5: reading '/model_weights.*past 4096 bytes"):
        _h5walk.snapshot(data, "f.h5", budget=4096)
    assert _h5walk.snapshot(data, "f.h5", budget=_h5walk.read_budget(len(data)))
