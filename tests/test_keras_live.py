"""Live Keras: fresh models saved by real Keras load back equal (predictions and weights).

Runs only where keras is importable (CI installs keras with the torch backend;
``KERAS_BACKEND=torch`` is set by the test runner and tests/conftest.py).
Predictions are compared with the scaled float32 tolerance explained in
tests/test_keras_fixtures.py; weights exactly.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from helpers import import_keras_or_skip  # noqa: E402

keras = import_keras_or_skip()  # in CI a missing Keras is an error, never a silent pass

from hypothesis import given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon.errors import ModelFormatError
from symrecon.models import Dense

sys.path.insert(0, str(Path(__file__).parent))
import make_keras_fixtures as fixtures

RTOL = 1e-6

# Keras 3.15 on NumPy 2 warns from inside its own code about __array__(copy=...).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def scaled_error(ours, ref):
    scale = np.max(np.abs(ref).reshape(-1, ref.shape[-1]), axis=0)
    return float(np.max(np.abs(ours - ref) / np.maximum(scale, 1e-30)))


@pytest.mark.parametrize("builder", fixtures.MODELS, ids=lambda b: b.__name__)
def test_fresh_models_every_format(tmp_path, builder):
    rng = np.random.default_rng(99)
    model, x = builder(rng)
    fixtures.set_random_weights(model, rng)
    x = x.astype("float32")
    y = np.asarray(model.predict(x, verbose=0))
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    model.save_weights(tmp_path / "m.weights.h5")
    loaded = {
        "keras": sr.load_keras(tmp_path / "m.keras"),
        "h5": sr.load_keras(tmp_path / "m.h5"),
        "weights": sr.load_keras(tmp_path / "m.keras", weights=tmp_path / "m.weights.h5"),
        "live": sr.from_keras(model),
    }
    for fmt, ours in loaded.items():
        err = scaled_error(ours(x.astype(np.float64)), y)
        assert err <= RTOL, f"{fmt}: scaled error {err:.2e}"


def test_from_keras_matches_file_and_reads_no_file(tmp_path):
    model, _ = fixtures.nested(np.random.default_rng(3))
    live = sr.from_keras(model)
    assert list(tmp_path.iterdir()) == []
    model.save(tmp_path / "m.keras")
    from_file = sr.load_keras(tmp_path / "m.keras")
    for a, b in zip(live.layers, from_file.layers):
        assert type(a) is type(b) and a.name == b.name
        if isinstance(a, Dense):
            np.testing.assert_array_equal(a.kernel, b.kernel)
            np.testing.assert_array_equal(a.bias, b.bias)


def test_from_keras_refuses_a_live_lambda(tmp_path):
    marker = tmp_path / "ran"

    def payload(t):  # writes the marker whenever it is executed
        marker.write_text("executed")
        return t * 2

    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(payload), keras.layers.Dense(1)])
    marker.unlink(missing_ok=True)  # building the model traced the Lambda once
    with pytest.raises(ModelFormatError, match="Lambda"):
        sr.from_keras(model)
    assert not marker.exists(), "from_keras executed the Lambda's code"
    # the control: the payload is live, so the assertion above could fail
    model(np.ones((1, 2), dtype="float32"))
    assert marker.read_text() == "executed"


def test_from_keras_functional_chain():
    inp = keras.Input((3,))
    h = keras.layers.Dense(4, activation="tanh")(inp)
    out = keras.layers.Dense(2)(keras.layers.BatchNormalization()(h))
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    assert scaled_error(sr.from_keras(model)(x.astype(np.float64)), np.asarray(model.predict(x, verbose=0))) <= RTOL


#: Keras activation strings symrecon maps onto its registry.
ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "elu", "selu", "softplus", "softsign", "relu6", "silu",
               "gelu", "leaky_relu", "hard_sigmoid", "exponential", "swish"]


@st.composite
def dense_stacks(draw):
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 5), min_size=depth + 1, max_size=depth + 1))
    acts = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=depth, max_size=depth))
    biases = draw(st.lists(st.booleans(), min_size=depth, max_size=depth))
    seed = draw(st.integers(0, 2**31 - 1))
    return widths, acts, biases, seed


@settings(max_examples=8, deadline=None, derandomize=True)
@given(dense_stacks())
def test_random_dense_stacks_round_trip(spec):
    widths, acts, biases, seed = spec
    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input((widths[0],))] + [
        keras.layers.Dense(w, activation=a, use_bias=b) for w, a, b in zip(widths[1:], acts, biases)])
    weights = [rng.normal(scale=0.7, size=w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights(weights)
    x = rng.normal(size=(7, widths[0])).astype("float32")
    y = np.asarray(model.predict(x, verbose=0))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.keras"
        model.save(path)
        loaded = sr.load_keras(path)
    dense = [layer for layer in loaded.layers if isinstance(layer, Dense)]
    assert len(dense) == len(acts)
    arrays = iter(weights)
    for layer, act, has_bias in zip(dense, acts, biases):
        assert layer.activation.name == {"swish": "silu"}.get(act, act)
        np.testing.assert_array_equal(layer.kernel, next(arrays))
        np.testing.assert_array_equal(layer.bias, next(arrays) if has_bias else 0.0)
    assert scaled_error(loaded(x.astype(np.float64)), y) <= RTOL
