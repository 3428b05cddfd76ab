"""The loader refuses unsafe, malformed and damaged Keras files (fact sheet section 7).

Each case is a crafted file built in ``tmp_path`` from a real fixture.  Every
refusal asserts the error type, that the message names the file and the
offending part, that no file was written next to it (nothing extracted), and,
for code-carrying payloads, that the payload did not run (it would create a
marker file).
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import symrecon as sr
from symrecon.errors import ModelFormatError, UnsupportedLayerError

DATA = Path(__file__).parent / "data" / "keras"
DROPOUT = 2  # index of the weight-less Dropout in dense_chain's config layers: safe to replace


# ---------------------------------------------------------------------------
# helpers


def payload(marker: Path) -> list:
    """A marshalled code object that creates ``marker`` if anyone ever runs it."""
    code = compile(f"open({str(marker)!r}, 'w').write('executed')", "<payload>", "exec")
    return [base64.b64encode(marshal.dumps(code)).decode("ascii"), None, None]


def archive_members(base: str = "dense_chain") -> dict[str, bytes]:
    with zipfile.ZipFile(DATA / f"{base}.keras") as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_zip(path: Path, members: list[tuple[str, bytes]], compression=zipfile.ZIP_STORED) -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we write on purpose
        with zipfile.ZipFile(path, "w", compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def keras_with_config(tmp_path: Path, edit, base: str = "dense_chain", name: str = "crafted.keras") -> Path:
    members = archive_members(base)
    cfg = json.loads(members["config.json"])
    edit(cfg)
    members["config.json"] = json.dumps(cfg).encode()
    return write_zip(tmp_path / name, list(members.items()))


def replace_layer(entry: dict, index: int = DROPOUT):
    def edit(cfg):
        cfg["config"]["layers"][index] = entry
    return edit


def edit_layer(index: int, **changes):
    def edit(cfg):
        cfg["config"]["layers"][index]["config"].update(changes)
    return edit


def keras_with_weights(tmp_path: Path, edit_h5, base: str = "dense_chain", name: str = "crafted.keras") -> Path:
    members = archive_members(base)
    work = tmp_path / "_work"
    work.mkdir(exist_ok=True)
    h5path = work / "w.h5"
    h5path.write_bytes(members["model.weights.h5"])
    with h5py.File(h5path, "a") as f:
        edit_h5(f, work)
    members["model.weights.h5"] = h5path.read_bytes()
    shutil.rmtree(work)
    return write_zip(tmp_path / name, list(members.items()))


def legacy_with_config(tmp_path: Path, edit, base: str = "dense_chain", name: str = "crafted.h5") -> Path:
    path = tmp_path / name
    shutil.copy(DATA / f"{base}.h5", path)
    with h5py.File(path, "a") as f:
        cfg = json.loads(f.attrs["model_config"])
        edit(cfg)
        f.attrs["model_config"] = json.dumps(cfg)
    return path


def assert_refused(path: Path, *fragments: str, error=ModelFormatError, marker: Path | None = None, **kwargs):
    """Load must raise ``error`` naming the file and ``fragments``; nothing written or executed."""
    before = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(error) as info:
        sr.load_keras(path, **kwargs)
    message = str(info.value)
    assert path.name in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert sorted(p.name for p in path.parent.iterdir()) == before, "the loader wrote files"
    if marker is not None:
        assert not marker.exists(), "the payload was executed"
    return message


# ---------------------------------------------------------------------------
# code-carrying configurations


def test_lambda_keras3_layer_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    entry = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
             "config": {"name": "evil", "function": {"class_name": "__lambda__", "config": {"value": payload(marker)}},
                        "arguments": {}}}
    path = keras_with_config(tmp_path, replace_layer(entry))
    assert_refused(path, "'evil'", "Lambda", marker=marker)


def test_lambda_wrapper_anywhere_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    # A __lambda__ object hidden as a Dense activation.
    edit = edit_layer(1, activation={"class_name": "__lambda__", "config": {"value": payload(marker)}})
    assert_refused(keras_with_config(tmp_path, edit), "__lambda__", "layers[1]", marker=marker)


def test_bare_value_lambda_activation_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    edit = edit_layer(1, activation={"value": payload(marker)})
    assert_refused(keras_with_config(tmp_path, edit), "serialized lambda", "layers[1]", marker=marker)


def test_keras2_lambda_in_legacy_h5_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    entry = {"class_name": "Lambda", "config": {"name": "lam", "function": payload(marker),
                                                "function_type": "lambda", "module": "__main__",
                                                "output_shape": None, "arguments": {}}}
    path = legacy_with_config(tmp_path, replace_layer(entry))
    assert_refused(path, "'lam'", "Lambda", marker=marker)


def test_function_payload_under_another_class_name_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    # Same bytecode, disguised as an allow-listed class: the key itself is refused.
    entry = {"class_name": "Dropout", "config": {"name": "sneaky", "rate": 0.1, "function": payload(marker),
                                                 "function_type": "lambda"}}
    assert_refused(legacy_with_config(tmp_path, replace_layer(entry)), "'function'", marker=marker)


@pytest.mark.parametrize("cls", ["TFOpLambda", "SlicingOpLambda", "TorchModuleWrapper", "TFSMLayer"])
def test_code_running_layers_are_refused(tmp_path, cls):
    entry = {"module": "keras.layers", "class_name": cls, "registered_name": None,
             "config": {"name": "op", "function": "math.add" if "Op" in cls else None, "module": "torch.nn"}}
    entry["config"] = {k: v for k, v in entry["config"].items() if v is not None and k != "function"}
    assert_refused(keras_with_config(tmp_path, replace_layer(entry)), cls, "'op'")


def test_module_outside_keras_is_refused(tmp_path):
    entry = {"module": "os", "class_name": "system", "registered_name": None, "config": {"name": "rm"}}
    assert_refused(keras_with_config(tmp_path, replace_layer(entry)), "module 'os'")


def test_non_keras_initializer_module_is_refused(tmp_path):
    # Not a layer at all: any object with a foreign module is refused.
    edit = edit_layer(1, kernel_initializer={"module": "subprocess", "class_name": "Popen", "config": {},
                                             "registered_name": None})
    assert_refused(keras_with_config(tmp_path, edit), "module 'subprocess'", "kernel_initializer")


def test_custom_function_activation_is_refused(tmp_path):
    edit = edit_layer(1, activation={"module": "builtins", "class_name": "function", "config": "my_fn",
                                     "registered_name": "function"})
    assert_refused(keras_with_config(tmp_path, edit), "'function'", "layers[1]")


def test_custom_registered_class_is_refused(tmp_path):
    def edit(cfg):
        cfg["config"]["layers"][1]["registered_name"] = "my_package>MyDense"
    assert_refused(keras_with_config(tmp_path, edit), "my_package>MyDense", "'hidden'")


def test_registered_name_in_legacy_h5_is_refused(tmp_path):
    def edit(cfg):
        cfg["config"]["layers"][1]["registered_name"] = "Custom>Dense"
    assert_refused(legacy_with_config(tmp_path, edit), "Custom>Dense")


def test_compile_config_is_never_read(tmp_path):
    marker = tmp_path / "pwned"

    def edit(cfg):
        cfg["compile_config"] = {"loss": {"class_name": "__lambda__", "config": {"value": payload(marker)}},
                                 "optimizer": {"module": "evil", "class_name": "Adam", "registered_name": "Evil>Adam"}}
    path = keras_with_config(tmp_path, edit)
    sr.load_keras(path)  # loads: the compile configuration is ignored, never parsed
    assert not marker.exists()


def test_training_config_is_never_read(tmp_path):
    path = tmp_path / "trained.h5"
    shutil.copy(DATA / "dense_chain.h5", path)
    with h5py.File(path, "a") as f:
        f.attrs["training_config"] = json.dumps({"loss": {"module": "os", "class_name": "system"}})
    sr.load_keras(path)
    from symrecon.io._h5tree import SafeH5

    with SafeH5(path.read_bytes(), str(path)) as h5:
        assert "training_config" not in h5.file.attrs and "model_config" in h5.file.attrs


# ---------------------------------------------------------------------------
# pickle, quantization, state, masking


def test_pickled_npz_weights_are_refused(tmp_path):
    members = archive_members()
    del members["model.weights.h5"]
    buf = io.BytesIO()
    np.save(buf, np.array([{"kernel": 1}], dtype=object), allow_pickle=True)
    members["model.weights.npz"] = buf.getvalue()
    assert_refused(write_zip(tmp_path / "npz.keras", list(members.items())), "model.weights.npz", "pickle")


def test_npz_next_to_h5_is_refused(tmp_path):
    members = archive_members()
    members["model.weights.npz"] = b"PK\x05\x06" + b"\x00" * 18
    assert_refused(write_zip(tmp_path / "both.keras", list(members.items())), "model.weights.npz")


@pytest.mark.parametrize("dtype", [
    {"module": "keras", "class_name": "QuantizedDTypePolicy", "config": {"name": "int8_from_float32"},
     "registered_name": None},
    {"module": "keras", "class_name": "QuantizedFloat8DTypePolicy", "config": {"name": "float8_from_float32"},
     "registered_name": None},
    {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "int8_from_float32"}, "registered_name": None},
])
def test_quantized_dtype_policy_is_refused(tmp_path, dtype):
    assert_refused(keras_with_config(tmp_path, edit_layer(1, dtype=dtype)), "quantized", "dtype policy")


def test_quantization_config_is_refused(tmp_path):
    edit = edit_layer(1, quantization_config={"module": "keras.quantizers", "class_name": "Int8QuantizationConfig",
                                              "config": {}, "registered_name": None})
    assert_refused(keras_with_config(tmp_path, edit), "quantization_config", "'hidden'")


def test_stateful_rnn_is_refused(tmp_path):
    assert_refused(keras_with_config(tmp_path, edit_layer(1, stateful=True), base="rnn_lstm"), "stateful=True")


def test_return_state_is_refused(tmp_path):
    assert_refused(keras_with_config(tmp_path, edit_layer(1, return_state=True), base="rnn_gru"), "return_state")


def test_mask_zero_is_refused(tmp_path):
    entry = {"module": "keras.layers", "class_name": "Embedding", "registered_name": None,
             "config": {"name": "emb", "input_dim": 10, "output_dim": 4, "mask_zero": True}}
    assert_refused(keras_with_config(tmp_path, replace_layer(entry)), "mask_zero=True", "'emb'")


def test_masking_layer_is_refused(tmp_path):
    entry = {"module": "keras.layers", "class_name": "Masking", "registered_name": None,
             "config": {"name": "mask", "mask_value": 0.0}}
    assert_refused(keras_with_config(tmp_path, replace_layer(entry)), "Masking", "'mask'")


def test_batch_renorm_is_refused(tmp_path):
    assert_refused(keras_with_config(tmp_path, edit_layer(4, renorm=True), base="normalization"), "renorm=True")


# ---------------------------------------------------------------------------
# HDF5: links, external and virtual datasets, shape bombs


def _soft_link(f, work):
    f["layers/dense/vars/evil"] = h5py.SoftLink("/layers/dense_1/vars/0")


def _external_link(f, work):
    f["layers/evil"] = h5py.ExternalLink(str(work / "secret.h5"), "/data")


def _external_dataset(f, work):
    (work / "raw.bin").write_bytes(b"\x00" * 64)
    f.create_dataset("layers/evil", shape=(16,), dtype="f4", external=[(str(work / "raw.bin"), 0, 64)])


def _virtual_dataset(f, work):
    layout = h5py.VirtualLayout(shape=(4, 5), dtype="f4")
    layout[:] = h5py.VirtualSource(str(work / "other.h5"), "data", shape=(4, 5))
    f.create_virtual_dataset("layers/evil", layout, fillvalue=0)


def _shape_bomb(f, work):
    # 1.6 GB declared, nothing stored.
    f.create_dataset("layers/evil", shape=(20000, 20000), dtype="f4", chunks=(100, 100))


def _small_shape_bomb(f, work):
    # Below the absolute cap but a thousand times more declared than stored.
    f.create_dataset("layers/evil", shape=(2000, 2000), dtype="f4", chunks=(100, 100))


@pytest.mark.parametrize("craft, fragments", [
    (_soft_link, ("soft link", "/layers/dense/vars/evil")),
    (_external_link, ("external link", "/layers/evil")),
    (_external_dataset, ("external files", "/layers/evil")),
    (_virtual_dataset, ("virtual dataset", "/layers/evil")),
    (_shape_bomb, ("(20000, 20000)", "/layers/evil")),
    (_small_shape_bomb, ("shape bomb", "/layers/evil")),
], ids=["soft_link", "external_link", "external_dataset", "virtual_dataset", "shape_bomb", "small_shape_bomb"])
def test_hdf5_hazards_in_archive(tmp_path, craft, fragments):
    path = keras_with_weights(tmp_path, craft)
    assert_refused(path, "model.weights.h5", *fragments)


@pytest.mark.parametrize("craft", [_soft_link, _external_link, _external_dataset, _shape_bomb])
def test_hdf5_hazards_in_weights_file(tmp_path, craft):
    path = tmp_path / "w.weights.h5"
    shutil.copy(DATA / "dense_chain.weights.h5", path)
    work = tmp_path.parent / (tmp_path.name + "_work")
    work.mkdir()
    with h5py.File(path, "a") as f:
        craft(f, work)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ModelFormatError, match="w.weights.h5"):
        sr.load_keras(DATA / "dense_chain.keras", weights=path)
    assert_refused(path, architecture=DATA / "dense_chain.keras")
    assert_refused(path, architecture=sr.load_keras(DATA / "dense_chain.keras"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_soft_link_in_legacy_h5(tmp_path):
    path = tmp_path / "linked.h5"
    shutil.copy(DATA / "dense_chain.h5", path)
    with h5py.File(path, "a") as f:
        f["model_weights/hidden/alias"] = h5py.SoftLink("/model_weights/dense")
    assert_refused(path, "soft link", "/model_weights/hidden/alias")


def test_non_numeric_dataset_is_refused(tmp_path):
    def craft(f, work):
        f.create_dataset("layers/evil", data=np.array([b"abc"], dtype=object), dtype=h5py.string_dtype())
    assert_refused(keras_with_weights(tmp_path, craft), "non-numeric", "/layers/evil")


# ---------------------------------------------------------------------------
# ZIP: duplicates, oversized members, names that would escape on extraction


def test_duplicate_member_is_refused(tmp_path):
    members = archive_members()
    evil = json.loads(members["config.json"])
    evil["config"]["layers"][DROPOUT] = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "x"}}
    path = write_zip(tmp_path / "dup.keras", [*members.items(), ("config.json", json.dumps(evil).encode())])
    assert_refused(path, "duplicate", "'config.json'")


def test_oversized_member_is_refused(tmp_path):
    members = archive_members()
    # 17 MB of whitespace after valid JSON: tiny when deflated, over the 16 MB cap when read.
    members["config.json"] = members["config.json"] + b" " * (17 * 2**20)
    path = write_zip(tmp_path / "big.keras", list(members.items()), zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2**20
    assert_refused(path, "'config.json'", "limit")


def test_member_lying_about_its_size_is_refused(tmp_path):
    members = archive_members()
    path = write_zip(tmp_path / "lying.keras", list(members.items()))
    data = bytearray(path.read_bytes())
    # Shrink the declared size of config.json in the central directory: the real stream is longer.
    cd = data.rfind(b"PK\x01\x02", 0, data.find(b"config.json", data.find(b"PK\x01\x02")) + 1)
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert_refused(path)


def test_other_members_are_never_extracted(tmp_path):
    members = archive_members()
    outside = tmp_path.parent / f"{tmp_path.name}_escaped.txt"
    items = [*members.items(), (f"assets/../../{outside.name}", b"x"), ("/etc/evil", b"x")]
    path = write_zip(tmp_path / "slip.keras", items)
    before = sorted(p.name for p in tmp_path.iterdir())
    sr.load_keras(path)  # extra members are ignored, not extracted
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# ---------------------------------------------------------------------------
# damaged files


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".weights.h5"])
@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_files(tmp_path, suffix, keep):
    data = (DATA / f"dense_chain{suffix}").read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[:int(len(data) * keep)])
    kwargs = {"architecture": DATA / "dense_chain.keras"} if suffix == ".weights.h5" else {}
    assert_refused(path, **kwargs)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_corrupted_bytes(tmp_path, suffix):
    data = bytearray((DATA / f"dense_chain{suffix}").read_bytes())
    rng = np.random.default_rng(7)
    failures = 0
    for trial in range(20):
        bad = bytearray(data)
        start = int(rng.integers(64, len(bad) - 600))
        bad[start:start + 512] = rng.integers(0, 256, 512, dtype=np.uint8).tobytes()
        path = tmp_path / f"bad{trial}{suffix}"
        path.write_bytes(bytes(bad))
        try:
            sr.load_keras(path)  # damage in unused bytes may go unnoticed: that is fine
        except ModelFormatError as exc:
            assert path.name in str(exc)
            failures += 1
        # Anything else (an h5py/zipfile/json error, a crash) fails the test.
    assert failures > 0


def test_corrupted_weights_member_crc(tmp_path):
    members = archive_members()
    h5 = bytearray(members["model.weights.h5"])
    h5[len(h5) // 2] ^= 0xFF
    path = write_zip(tmp_path / "crc.keras", list({**members, "model.weights.h5": b""}.items()))
    # Write the archive with the original CRC but flipped content.
    good = write_zip(tmp_path / "good.keras", list(members.items()))
    raw = bytearray(good.read_bytes())
    off = raw.find(bytes(members["model.weights.h5"][:64]))
    raw[off + len(h5) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    good.unlink()
    assert_refused(path, "model.weights.h5")


@pytest.mark.parametrize("content, fragment", [
    (b"", "not a Keras file"),
    (b"hello world", "not a Keras file"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2, 3]", "JSON object"),
])
def test_not_a_model(tmp_path, content, fragment):
    path = tmp_path / "junk.keras"
    path.write_bytes(content)
    assert_refused(path, fragment, weights=DATA / "dense_chain.weights.h5")


@pytest.mark.parametrize("edit, fragment", [
    (lambda cfg: cfg["config"].update(layers="oops"), "list of layer objects"),
    (lambda cfg: cfg["config"]["layers"][1]["config"].update(units="5"), "'units'"),
    (lambda cfg: cfg["config"]["layers"][1]["config"].update(units=7), "shape (3, 4)"),
    (lambda cfg: cfg["config"]["layers"][1]["config"].update(use_bias=False), "needs 1 weights"),
    (lambda cfg: cfg.update(class_name="Dense"), "not a Sequential"),
    (lambda cfg: cfg["config"]["layers"][1]["config"].update(activation=17), "activation"),
])
def test_inconsistent_config(tmp_path, edit, fragment):
    assert_refused(keras_with_config(tmp_path, edit), fragment)


def test_missing_weights_member(tmp_path):
    members = archive_members()
    del members["model.weights.h5"]
    assert_refused(write_zip(tmp_path / "now.keras", list(members.items())), "model.weights.h5")


def test_missing_file(tmp_path):
    with pytest.raises(ModelFormatError, match="nope.keras"):
        sr.load_keras(tmp_path / "nope.keras")


def test_weights_only_file_needs_an_architecture(tmp_path):
    path = tmp_path / "w.weights.h5"
    shutil.copy(DATA / "dense_chain.weights.h5", path)
    assert_refused(path, "architecture=")


def test_weights_for_the_wrong_model(tmp_path):
    path = tmp_path / "other.weights.h5"
    shutil.copy(DATA / "rnn_gru.weights.h5", path)
    with pytest.raises(ModelFormatError, match="other.weights.h5"):
        sr.load_keras(DATA / "dense_chain.keras", weights=path)


# ---------------------------------------------------------------------------
# harmless but unsupported


def test_unsupported_layer_names_layer_and_class(tmp_path):
    entry = {"module": "keras.layers", "class_name": "Conv2D", "registered_name": None,
             "config": {"name": "conv", "filters": 4}}
    msg = assert_refused(keras_with_config(tmp_path, replace_layer(entry)), "'conv'", "'Conv2D'",
                         error=UnsupportedLayerError)
    assert "supported classes" in msg


def test_unsupported_activation_string(tmp_path):
    assert_refused(keras_with_config(tmp_path, edit_layer(1, activation="celu")), "'hidden'", "'celu'",
                   error=UnsupportedLayerError)


def test_functional_that_is_not_a_chain(tmp_path):
    def edit(cfg):
        layers = cfg["config"]["layers"]
        f2 = next(entry for entry in layers if entry["name"] == "f2")
        # f2 now takes two tensors (as an Add would): not a chain.
        args = f2["inbound_nodes"][0]["args"]
        f2["inbound_nodes"][0]["args"] = [[args[0], args[0]]]
    assert_refused(keras_with_config(tmp_path, edit, base="functional"), "not a single chain",
                   error=UnsupportedLayerError)


def test_hard_link_cycle_is_refused(tmp_path):
    def craft(f, work):
        f["layers/dense/loop"] = f["layers/dense"]  # a group containing itself
    assert_refused(keras_with_weights(tmp_path, craft), "hard link", "/layers/dense/loop")


# ---------------------------------------------------------------------------
# libhdf5 itself crashing or hanging on damaged files (found by fuzzing the fixtures)


def _patched(tmp_path: Path, patches: list[tuple[int, bytes]], name: str) -> Path:
    data = bytearray((DATA / "functional.h5").read_bytes())
    for offset, new in patches:
        data[offset:offset + len(new)] = new
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


#: One byte in the superblock region that makes libhdf5 1.14 segfault in visititems/attribute reads.
SEGFAULT = [(1009, b"\x39")]
#: A zeroed object header in the global heap holding model_config: libhdf5 loops forever reading it.
ENDLESS_HEAP = [(8680, b"\x00"), (8688, bytes(17)), (8712, b"\x00"), (8720, b"\x00"), (8728, bytes(19)),
                (8760, bytes(2))]


def test_libhdf5_crash_is_contained(tmp_path):
    path = _patched(tmp_path, SEGFAULT, "crash.h5")
    # If the crash were not isolated in a child process, this test run itself would die here.
    message = assert_refused(path)
    assert "HDF5" in message


def test_endless_global_heap_is_refused_up_front(tmp_path):
    assert_refused(_patched(tmp_path, ENDLESS_HEAP, "endless.h5"), "global heap")


def test_hanging_parser_is_killed(tmp_path, monkeypatch):
    from symrecon.io import _h5helper, _h5tree

    monkeypatch.setattr(_h5tree, "check_global_heaps", lambda data, where: None)  # let libhdf5 hang
    monkeypatch.setattr(_h5helper, "PARSE_TIMEOUT", 2.0)
    assert_refused(_patched(tmp_path, ENDLESS_HEAP, "endless.h5"), "did not finish")
    assert _h5helper.helper_pid() is None  # the hung helper was killed and reaped
    sr.load_keras(DATA / "dense_chain.h5")  # and the next load starts a fresh one


def test_raw_keras_op_in_a_functional_graph_is_unsupported(tmp_path):
    # Raw ops (keras.ops.tanh(x) in a Functional model) are Keras's own registered classes:
    # not refused as custom code, but not layers symrecon reads either.
    def edit(cfg):
        entry = next(e for e in cfg["config"]["layers"] if e["class_name"] == "Dropout")
        entry.update(module="keras.src.ops.numpy", class_name="Tanh", registered_name="Tanh")
    assert_refused(keras_with_config(tmp_path, edit, base="functional"), "'Tanh'", error=UnsupportedLayerError)
