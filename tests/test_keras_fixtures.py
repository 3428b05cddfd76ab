"""Loading real Keras files (tests/data/keras, made by tests/make_keras_fixtures.py).

Tolerance: Keras computed the reference predictions in float32 (unit
roundoff 6e-8) while symrecon computes in float64 from the same float32
weights.  The difference is float32 rounding accumulated over the layers,
about 1e-7 of the size of the values flowing through the network.  An output
close to zero may carry an absolute error of that size (cancellation), so
errors are measured relative to the largest magnitude of each output column:
``max |ours - keras| <= RTOL * max |keras|`` with ``RTOL = 1e-6``.  The worst
observed value is 4.1e-7 (elementwise relative error at most 1.2e-6).  Weights are compared exactly: float32 to
float64 conversion is exact.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import symrecon as sr
from symrecon.errors import ModelFormatError, ShapeError
from symrecon.layers import Softmax, ThresholdedReLU
from symrecon.models import Dense
from symrecon.recurrent import GRU, LSTM, AbstractRecurrent

DATA = Path(__file__).parent / "data" / "keras"
MODELS = sorted(p.stem for p in DATA.glob("*.npz"))
RTOL = 1e-6

FORMATS = {
    "keras": lambda s: sr.load_keras(DATA / f"{s}.keras"),
    "h5": lambda s: sr.load_keras(DATA / f"{s}.h5"),
    "weights": lambda s: sr.load_keras(DATA / f"{s}.keras", weights=DATA / f"{s}.weights.h5"),
    "weights_first": lambda s: sr.load_keras(DATA / f"{s}.weights.h5", architecture=DATA / f"{s}.keras"),
}
#: Which prediction each format must reproduce (weights files hold the perturbed set).
REFERENCE = {"keras": ("y", "w"), "h5": ("y", "w"), "weights": ("y_alt", "alt"), "weights_first": ("y_alt", "alt")}


def scaled_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours - ref| relative to each output column's largest magnitude."""
    scale = np.max(np.abs(ref).reshape(-1, ref.shape[-1]), axis=0)
    return float(np.max(np.abs(ours - ref) / np.maximum(scale, 1e-30)))


def keras_config(stem: str) -> dict:
    with zipfile.ZipFile(DATA / f"{stem}.keras") as zf:
        return json.loads(zf.read("config.json"))


def leaf_configs(cfg: dict) -> dict[str, dict]:
    """Layer name -> (class_name, config) of every leaf in a .keras config."""
    out = {}
    for entry in cfg["config"].get("layers", []):
        if entry["class_name"] in ("Sequential", "Functional"):
            out.update(leaf_configs(entry))
        else:
            out[entry["config"]["name"]] = (entry["class_name"], entry["config"])
    return out


def test_fixtures_exist():
    assert len(MODELS) >= 9
    for stem in MODELS:
        for suffix in (".keras", ".h5", ".weights.h5"):
            assert (DATA / f"{stem}{suffix}").is_file()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("stem", MODELS)
def test_reproduces_keras_predictions(stem, fmt):
    ref = np.load(DATA / f"{stem}.npz", allow_pickle=False)
    model = FORMATS[fmt](stem)
    y = model(ref["x"].astype(np.float64))
    expected = ref[REFERENCE[fmt][0]]
    assert y.dtype == np.float64
    assert y.shape == expected.shape
    assert scaled_error(y, expected) <= RTOL
    # The other weight set must not match: the file really was read.
    other = ref["y_alt" if REFERENCE[fmt][0] == "y" else "y"]
    assert scaled_error(y, other) > 1e-3


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("stem", MODELS)
def test_every_weight_array(stem, fmt):
    ref = np.load(DATA / f"{stem}.npz", allow_pickle=False)
    prefix = REFERENCE[fmt][1]
    model = FORMATS[fmt](stem)
    by_name = {layer.name: layer for layer in model.layers}
    leaves = leaf_configs(keras_config(stem))
    keras_names = sorted({k.split("/")[1] for k in ref.files if k.startswith(prefix + "/")})
    assert keras_names, "fixture has no weights"
    for name in keras_names:
        ws = [ref[f"{prefix}/{name}/{i}"].astype(np.float64) for i in range(10) if f"{prefix}/{name}/{i}" in ref]
        cls, cfg = leaves[name]
        layer = by_name[name]
        if cls == "Dense":
            assert isinstance(layer, Dense)
            np.testing.assert_array_equal(layer.kernel, ws[0])
            np.testing.assert_array_equal(layer.bias, ws[1] if len(ws) > 1 else 0.0)
        elif cls in ("SimpleRNN", "LSTM", "GRU"):
            assert isinstance(layer, AbstractRecurrent) and type(layer).__name__ == cls
            np.testing.assert_array_equal(layer.kernel, ws[0])
            np.testing.assert_array_equal(layer.recurrent_kernel, ws[1])
            np.testing.assert_array_equal(layer.bias, ws[2] if len(ws) > 2 else 0.0)
        elif cls == "BatchNormalization":
            named = dict(zip([n for n, flag in (("gamma", cfg["scale"]), ("beta", cfg["center"])) if flag]
                             + ["moving_mean", "moving_variance"], ws))
            scale = named.get("gamma", 1.0) / np.sqrt(named["moving_variance"] + cfg["epsilon"])
            np.testing.assert_allclose(layer.kernel, np.diag(scale), rtol=1e-15)
            np.testing.assert_allclose(layer.bias, named.get("beta", 0.0) - named["moving_mean"] * scale,
                                       rtol=1e-15, atol=1e-15)
        elif cls == "Normalization":
            std = np.maximum(np.sqrt(ws[1].reshape(-1)), 1e-7)
            np.testing.assert_allclose(layer.kernel, np.diag(1.0 / std), rtol=1e-15)
            np.testing.assert_allclose(layer.bias, -ws[0].reshape(-1) / std, rtol=1e-15)
        else:  # pragma: no cover - a fixture layer kind this test does not know
            pytest.fail(f"unexpected weighted class {cls}")
        for arr in vars(layer).values():
            if isinstance(arr, np.ndarray):
                assert arr.dtype == np.float64


def test_name_differs_from_weight_group():
    # The Dense named "hidden" is stored at layers/dense in the weights file.
    with zipfile.ZipFile(DATA / "dense_chain.keras") as zf, h5py.File(
            __import__("io").BytesIO(zf.read("model.weights.h5"))) as f:
        assert "hidden" not in f["layers"] and f["layers/dense/vars"].attrs["name"] == "hidden"
    model = sr.load_keras(DATA / "dense_chain.keras")
    assert [layer.name for layer in model.layers] == ["hidden", "dense", "dense_1"]


def _strip_names(src: Path, dst: Path) -> None:
    """Copy a weights file without the Keras >= 3.6 ``name`` attributes (as Keras 3.0-3.5 wrote it)."""
    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                g = fout.require_group(name)
                for k, v in obj.attrs.items():
                    if k != "name":
                        g.attrs[k] = v
            else:
                fout.create_dataset(name, data=obj[()])
        fin.visititems(copy)


@pytest.mark.parametrize("stem", ["dense_chain", "nested", "functional", "rnn_lstm", "activation_layers"])
def test_group_counter_fallback_without_name_attributes(tmp_path, stem):
    weights = tmp_path / f"{stem}.weights.h5"
    _strip_names(DATA / f"{stem}.weights.h5", weights)
    ref = np.load(DATA / f"{stem}.npz", allow_pickle=False)
    model = sr.load_keras(DATA / f"{stem}.keras", weights=weights)
    assert scaled_error(model(ref["x"].astype(np.float64)), ref["y_alt"]) <= RTOL


@pytest.mark.parametrize("stem", ["dense_chain", "activations", "activation_layers", "rnn_simple_rnn", "rnn_lstm",
                                  "rnn_gru"])
def test_fill_a_symrecon_model(stem):
    ref = np.load(DATA / f"{stem}.npz", allow_pickle=False)
    arch = sr.load_keras(DATA / f"{stem}.keras")
    model = sr.load_keras(DATA / f"{stem}.weights.h5", architecture=arch)
    assert scaled_error(model(ref["x"].astype(np.float64)), ref["y_alt"]) <= RTOL
    assert scaled_error(arch(ref["x"].astype(np.float64)), ref["y"]) <= RTOL  # the architecture is not modified


def test_fill_refuses_batch_normalization_and_wrong_shapes():
    arch = sr.load_keras(DATA / "normalization.keras")
    with pytest.raises(ModelFormatError, match="normalization.weights.h5"):
        sr.load_keras(DATA / "normalization.weights.h5", architecture=arch)
    small = sr.Sequential([sr.Dense(np.ones((3, 4)), name="hidden"), sr.Dense(np.ones((4, 2)), name="dense")])
    with pytest.raises(ModelFormatError, match=r"shapes .*\(4, 4\)"):
        sr.load_keras(DATA / "dense_chain.weights.h5", architecture=small)


def test_layer_mapping():
    acts = sr.load_keras(DATA / "activation_layers.keras")
    kinds = [(type(layer).__name__, getattr(getattr(layer, "activation", None), "name", None)) for layer in acts.layers]
    assert kinds == [
        ("Dense", "relu"), ("Dense", "relu6"), ("Dense", "leaky_relu"),
        ("Dense", "linear"), ("ThresholdedReLU", None), ("Dense", "leaky_relu"),        # LeakyReLU after a non-Dense: Dense(eye)
        ("Dense", "relu"), ("Dense", "elu"),                       # ELU after a non-linear Dense: Dense(eye)
        ("Dense", "softsign"), ("Dense", "hard_sigmoid"), ("Dense", "leaky_relu"),
        ("Dense", "linear"), ("ThresholdedReLU", None),            # Dense(activation=ReLU(max_value=0.5))
        ("Dense", "linear"), ("Softmax", None),
    ]
    assert acts.layers[5].activation.param == pytest.approx(0.3)   # the LeakyReLU layer default
    assert acts.layers[10].activation.param == pytest.approx(0.15)
    assert isinstance(acts.layers[-1], Softmax) and isinstance(acts.layers[4], ThresholdedReLU)
    np.testing.assert_array_equal(acts.layers[5].kernel, np.eye(4))
    assert acts.layers[9].activation.param == pytest.approx(1 / 6)  # Keras 3 hard_sigmoid
    rnn = sr.load_keras(DATA / "rnn_gru.h5")
    assert [type(layer) for layer in rnn.layers] == [GRU, GRU, Dense]
    assert rnn.layers[0].reset_after and not rnn.layers[1].reset_after and rnn.layers[1].go_backwards
    lstm = sr.load_keras(DATA / "rnn_lstm.keras")
    assert isinstance(lstm.layers[1], LSTM) and lstm.layers[1].recurrent_activation.name == "hard_sigmoid"


def test_single_sequence_input():
    # Shapes are never guessed: one sequence is a batch of one (N=1, T, n); a bare
    # (T, n) is refused with a pointer to the batch axis (it used to be accepted).
    ref = np.load(DATA / "rnn_gru.npz", allow_pickle=False)
    model = sr.load_keras(DATA / "rnn_gru.keras")
    one = model(ref["x"][:1].astype(np.float64))
    assert one.shape == ref["y"][:1].shape
    assert scaled_error(one[0], ref["y"][0]) <= RTOL
    with pytest.raises(ShapeError, match="batch axis"):
        model(ref["x"][0].astype(np.float64))


# ---------------------------------------------------------------------------
# tf.keras 2.x legacy HDF5 layout, crafted by hand from the fact sheet (Keras 3
# cannot write it): weight names with ":0", split and bytes layer_names,
# batch_input_shape, string dtypes, LeakyReLU "alpha", Keras 2 hard_sigmoid.


def _keras2_file(path: Path, rng, version: str = "2.15.0") -> dict[str, np.ndarray]:
    w = {
        "lstm/lstm_cell/kernel:0": rng.normal(size=(2, 8)),
        "lstm/lstm_cell/recurrent_kernel:0": rng.normal(size=(2, 8)),
        "lstm/lstm_cell/bias:0": rng.normal(size=(8,)),
        "dense/kernel:0": rng.normal(size=(2, 3)),
        "dense/bias:0": rng.normal(size=(3,)),
        "dense_1/kernel:0": rng.normal(size=(3, 1)),
        "dense_1/bias:0": rng.normal(size=(1,)),
    }
    w = {k: v.astype(np.float32) for k, v in w.items()}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4, 2], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "lstm_input"}},
        {"class_name": "LSTM", "config": {"name": "lstm", "trainable": True, "dtype": "float32", "units": 2,
                                          "activation": "tanh", "recurrent_activation": "hard_sigmoid",
                                          "use_bias": True, "return_sequences": False, "return_state": False,
                                          "go_backwards": False, "stateful": False, "unroll": False,
                                          "time_major": False, "implementation": 2, "unit_forget_bias": True}},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": 3,
                                           "activation": "hard_sigmoid", "use_bias": True}},
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "dtype": "float32",
                                             "rate": 0.5}},
        {"class_name": "LeakyReLU", "config": {"name": "leaky_re_lu", "trainable": True, "dtype": "float32",
                                               "alpha": 0.1}},
        {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "dtype": "float32", "units": 1,
                                           "activation": "linear", "use_bias": True}},
    ]}, "keras_version": version, "backend": "tensorflow"}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version.encode()
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        mw = f.create_group("model_weights")
        # A long list split over layer_names0, layer_names1 (bytes), as Keras does.
        mw.attrs["layer_names0"] = np.array([b"lstm", b"dense", b"dropout"])
        mw.attrs["layer_names1"] = np.array([b"leaky_re_lu", b"dense_1"])
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = version.encode()
        for layer in ("lstm", "dense", "dropout", "leaky_re_lu", "dense_1"):
            g = mw.create_group(layer)
            names = [k for k in w if k.startswith(layer + "/")]
            g.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n in names:
                g.create_dataset(n, data=w[n])
    return w


def _keras2_reference(w, x, slope):
    hs = lambda z: np.clip(slope * z + 0.5, 0.0, 1.0)
    K, R, b = (w[f"lstm/lstm_cell/{k}:0"].astype(np.float64) for k in ("kernel", "recurrent_kernel", "bias"))
    h = np.zeros((x.shape[0], 2))
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        z = x[:, t] @ K + h @ R + b
        i, f, g, o = z[:, :2], z[:, 2:4], z[:, 4:6], z[:, 6:]
        c = hs(f) * c + hs(i) * np.tanh(g)
        h = hs(o) * np.tanh(c)
    a = hs(h @ w["dense/kernel:0"] + w["dense/bias:0"])
    a = np.where(a >= 0, a, 0.1 * a)
    return a @ w["dense_1/kernel:0"].astype(np.float64) + w["dense_1/bias:0"]


def test_tf_keras2_legacy_h5(tmp_path, rng):
    path = tmp_path / "tfkeras2.h5"
    w = _keras2_file(path, rng)
    x = rng.normal(scale=3.0, size=(5, 4, 2))
    model = sr.load_keras(path)
    assert model.layers[1].activation.name == "hard_sigmoid_keras2"
    assert model.layers[0].recurrent_activation.name == "hard_sigmoid_keras2"
    assert model.layers[1].activation.param == pytest.approx(0.2)
    np.testing.assert_allclose(model(x), _keras2_reference(w, x, 0.2), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(model.layers[0].kernel, w["lstm/lstm_cell/kernel:0"])


def test_hard_sigmoid_follows_the_file_version(tmp_path, rng):
    path = tmp_path / "k3.h5"
    w = _keras2_file(path, rng, version="3.1.0")
    x = rng.normal(scale=3.0, size=(5, 4, 2))
    model = sr.load_keras(path)
    assert model.layers[1].activation.name == "hard_sigmoid"
    np.testing.assert_allclose(model(x), _keras2_reference(w, x, 1 / 6), rtol=1e-12, atol=1e-12)


def test_keras2_weight_name_mismatch_is_refused(tmp_path, rng):
    path = tmp_path / "bad.h5"
    _keras2_file(path, rng)
    with h5py.File(path, "a") as f:
        g = f["model_weights/dense"]
        g.attrs["weight_names"] = np.array([b"dense/bias:0", b"dense/kernel:0"])
    with pytest.raises(ModelFormatError, match=r"bad\.h5.*'dense/bias:0'.*'kernel'"):
        sr.load_keras(path)


# ---------------------------------------------------------------------------
# from_keras is duck-typed; symrecon never imports keras


class _FakeLayer:
    def __init__(self, name, weights=(), layers=None):
        self.name = name
        self._weights = [np.asarray(w, dtype=np.float32) for w in weights]
        if layers is not None:
            self.layers = layers

    def get_weights(self):
        return list(self._weights)


class _FakeModel(_FakeLayer):
    """Quacks like a keras.Model: to_json(), layers, get_weights()."""

    def __init__(self, config_json, layers):
        super().__init__("fake", layers=layers)
        self._json = config_json

    def to_json(self):
        return self._json


def test_from_keras_duck_typed_without_keras():
    ref = np.load(DATA / "dense_chain.npz", allow_pickle=False)
    with zipfile.ZipFile(DATA / "dense_chain.keras") as zf:
        config_json = zf.read("config.json").decode()
    layers = [_FakeLayer(n, [ref[f"w/{n}/{i}"] for i in range(2) if f"w/{n}/{i}" in ref])
              for n in ("hidden", "dropout", "dense", "dense_1")]
    model = sr.from_keras(_FakeModel(config_json, layers))
    assert scaled_error(model(ref["x"].astype(np.float64)), ref["y"]) <= RTOL


def test_from_keras_refuses_objects_that_are_not_models():
    with pytest.raises(ModelFormatError, match="not a Keras model"):
        sr.from_keras(object())


def test_loading_never_imports_keras():
    import subprocess
    import sys

    code = ("import sys, symrecon as sr; sr.load_keras(sys.argv[1]); sr.load_keras(sys.argv[2]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'torch')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code, str(DATA / "nested.keras"), str(DATA / "rnn_lstm.h5")], check=True)


def test_bfloat16_weights(tmp_path):
    # Keras stores bfloat16 variables as raw 16-bit words tagged attrs["dtype"] = "bfloat16".
    path = tmp_path / "bf16.weights.h5"
    expected = {}
    with h5py.File(DATA / "dense_chain.weights.h5", "r") as fin, h5py.File(path, "w") as fout:
        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                g = fout.require_group(name)
                g.attrs.update(dict(obj.attrs))
            else:
                bits = (obj[()].astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
                ds = fout.create_dataset(name, data=bits)
                ds.attrs["dtype"] = "bfloat16"
                expected[name] = (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        fin.visititems(copy)
    model = sr.load_keras(DATA / "dense_chain.keras", weights=path)
    np.testing.assert_array_equal(model.layers[0].kernel, expected["layers/dense/vars/0"])
    ref = np.load(DATA / "dense_chain.npz", allow_pickle=False)
    assert scaled_error(model(ref["x"].astype(np.float64)), ref["y_alt"]) < 0.05  # bfloat16 has 8 bits


def test_keras2_functional_and_weights_only_layouts(tmp_path, rng):
    # A tf.keras 2 Functional chain (old inbound_nodes lists) and a Keras 2 weights-only
    # .h5 (layer_names at the root), loaded with the architecture from a config.json.
    full = tmp_path / "seq.h5"
    w = _keras2_file(full, rng)
    with h5py.File(full, "r") as f:
        seq = json.loads(f.attrs["model_config"])
    layers = seq["config"]["layers"]
    names = [entry["config"]["name"] for entry in layers]
    functional = {"class_name": "Functional", "config": {
        "name": "model", "layers": [
            {**entry, "name": entry["config"]["name"],
             "inbound_nodes": [] if i == 0 else [[[names[i - 1], 0, 0, {}]]]}
            for i, entry in enumerate(layers)],
        "input_layers": [[names[0], 0, 0]], "output_layers": [[names[-1], 0, 0]]}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps(functional))
    weights = tmp_path / "keras2.h5"
    with h5py.File(full, "r") as fin, h5py.File(weights, "w") as fout:
        mw = fin["model_weights"]
        for key, value in mw.attrs.items():
            fout.attrs[key] = value
        for layer in mw:
            fin.copy(mw[layer], fout, name=layer)
    x = rng.normal(size=(3, 4, 2))
    expected = _keras2_reference(w, x, 1 / 6)  # a config.json carries no version: Keras 3 formulas
    np.testing.assert_allclose(sr.load_keras(config, weights=weights)(x), expected, rtol=1e-12, atol=1e-12)


def test_tf_keras2_archive_layout(tmp_path):
    # tf.keras 2.13-2.15 .keras archives: "_layer_checkpoint_dependencies" instead of "layers",
    # and metadata keras_version 2.x selects the Keras 2 hard_sigmoid.
    with zipfile.ZipFile(DATA / "activations.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    src = tmp_path / "src.h5"
    src.write_bytes(members["model.weights.h5"])
    dst = tmp_path / "dst.h5"
    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
        for key in fin:
            fin.copy(fin[key], fout, name="_layer_checkpoint_dependencies" if key == "layers" else key)
    members["model.weights.h5"] = dst.read_bytes()
    members["metadata.json"] = json.dumps({"keras_version": "2.15.0"}).encode()
    path = tmp_path / "tf2.keras"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    k2 = sr.load_keras(path)
    k3 = sr.load_keras(DATA / "activations.keras")
    by_name = {layer.name: layer for layer in k2.layers}
    assert by_name["d_hard_sigmoid"].activation.name == "hard_sigmoid_keras2"
    dense = [(a, b) for a, b in zip(k2.layers, k3.layers) if isinstance(a, Dense)]
    assert len(dense) == 16
    for a, b in dense:
        np.testing.assert_array_equal(a.kernel, b.kernel)
