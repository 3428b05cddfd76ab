"""A bug in symrecon is not a damaged file (issue 9, item 4).

``load_keras`` used to turn every internal ``TypeError``, ``AttributeError``,
``KeyError``, ... into ``ModelFormatError("damaged or inconsistent file")``,
hiding bugs behind a message that blames the user's file.  Only errors caused
by the file's content may become ModelFormatError.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import symrecon as sr
from symrecon.errors import ModelFormatError
from symrecon.io import keras as keras_io

DATA = Path(__file__).parent / "data" / "keras"


class Bug(Exception):
    """Stands for any mistake inside symrecon."""


@pytest.mark.parametrize("error", [TypeError, AttributeError, KeyError, ValueError, IndexError, Bug])
@pytest.mark.parametrize("function, fixture", [
    ("build_layers", "dense_chain.keras"),
    ("from_v3_file", "dense_chain.keras"),
    ("from_legacy_file", "nested.h5"),
    ("parse_model", "functional.keras"),
    ("read_keras_archive", "dense_chain.keras"),
])
def test_internal_errors_surface_as_themselves(monkeypatch, error, function, fixture):
    def broken(*args, **kwargs):
        raise error("bug inside symrecon")

    monkeypatch.setattr(keras_io, function, broken)
    with pytest.raises(error, match="bug inside symrecon") as info:
        sr.load_keras(DATA / fixture)
    assert not isinstance(info.value, ModelFormatError)


def test_internal_error_in_the_layer_table_surfaces(monkeypatch):
    from symrecon.io import _build

    def broken(node, w, ctx):
        raise AttributeError("'NoneType' object has no attribute 'kernel'")

    monkeypatch.setitem(_build.KINDS, "Dense", _build.Kind(broken, _build._dense_weights))
    with pytest.raises(AttributeError, match="kernel"):
        sr.load_keras(DATA / "dense_chain.h5")


def test_wrong_architecture_argument_is_a_type_error():
    with pytest.raises(TypeError, match="architecture"):
        sr.load_keras(DATA / "dense_chain.weights.h5", architecture=42)


def test_file_errors_still_become_model_format_errors(tmp_path):
    path = tmp_path / "cut.keras"
    path.write_bytes((DATA / "dense_chain.keras").read_bytes()[:300])
    with pytest.raises(ModelFormatError, match="cut.keras"):
        sr.load_keras(path)


def test_deeply_nested_models_are_a_model_format_error(tmp_path):
    import json
    import zipfile

    with zipfile.ZipFile(DATA / "dense_chain.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    cfg = json.loads(members["config.json"])
    inner = cfg
    for _ in range(300):  # Sequential in Sequential in ...: the walkers recurse once per level
        inner = {"module": "keras", "class_name": "Sequential", "registered_name": None,
                 "config": {"name": "s", "layers": [inner]}}
    members["config.json"] = json.dumps(inner).encode()
    path = tmp_path / "deep.keras"
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    with pytest.raises(ModelFormatError, match="deep.keras"):
        sr.load_keras(path)


@pytest.mark.parametrize("error", [AttributeError, TypeError, KeyError, ValueError])
def test_bug_in_the_hdf5_walker_is_not_a_damaged_file(monkeypatch, error):
    # The walker runs in the helper process; its reply says whether the file or the code failed.
    from symrecon.io import _h5tree, _h5walk

    def broken(self, ds, path):
        raise error("bug in the walker")

    monkeypatch.setattr(_h5walk.Walker, "dataset", broken)
    reply = _h5walk.handle({"where": "f.h5", "budget": 10**8}, (DATA / "dense_chain.h5").read_bytes())
    with pytest.raises(RuntimeError, match="bug in the walker") as info:
        _h5tree.decode(reply, "f.h5")
    assert not isinstance(info.value, ModelFormatError)


def test_h5py_errors_on_a_damaged_file_are_model_format_errors():
    from symrecon.io import _h5tree, _h5walk

    data = (DATA / "dense_chain.h5").read_bytes()
    reply = _h5walk.handle({"where": "f.h5", "budget": 10**8}, data[:len(data) // 2])
    with pytest.raises(ModelFormatError, match="f.h5: not a readable HDF5 file"):
        _h5tree.decode(reply, "f.h5")
