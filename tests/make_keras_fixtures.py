"""Build the Keras fixtures in tests/data/keras/ with a real Keras installation.

Run from the repository root (Keras 3 on the torch backend)::

    pip install torch==2.13.0 keras
    KERAS_BACKEND=torch python tests/make_keras_fixtures.py

For every model ``NAME`` below it writes

- ``NAME.keras``        Keras 3 archive;
- ``NAME.h5``           legacy full-model HDF5;
- ``NAME.weights.h5``   weights-only file holding a *different* set of weights
  (the model's weights perturbed), so a test can tell whether the loader
  really read it;
- ``NAME.npz``          ``x`` (float32 inputs), ``y`` (Keras's predictions with
  the saved weights), ``y_alt`` (with the perturbed weights), and every
  Keras leaf layer's weights as ``w/<layer name>/<i>`` and ``alt/<layer name>/<i>``
  (saved with ``allow_pickle=False``: plain arrays only).

The models cover every layer kind symrecon reads, with the traps of the Keras
formats: a Dense named "hidden" stored under ``layers/dense``, weight-less
layers between weighted ones, nested Sequential models, Functional chains,
frozen layers, both GRU bias modes, go_backwards and return_sequences.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from keras import layers as L

OUT = Path(__file__).resolve().parent / "data" / "keras"
SEED = 20261123
N = 6


def leaves(layer):
    """Every leaf layer (nested models flattened), in model order."""
    if hasattr(layer, "layers"):
        for sub in layer.layers:
            yield from leaves(sub)
    else:
        yield layer


def set_random_weights(model, rng, scale=0.5):
    """Replace every weight by random values (BN variances kept positive)."""
    for layer in leaves(model):
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        names = [w.path.rsplit("/", 1)[-1] for w in layer.weights]
        for name, w in zip(names, ws):
            if name in ("moving_variance", "variance"):
                new.append(rng.uniform(0.5, 2.0, w.shape).astype(w.dtype))
            elif name == "count":
                new.append(w)
            else:
                new.append((rng.normal(0, scale, w.shape)).astype(w.dtype))
        layer.set_weights(new)


def weight_dict(model, prefix):
    out = {}
    for layer in leaves(model):
        for i, w in enumerate(layer.get_weights()):
            out[f"{prefix}/{layer.name}/{i}"] = np.asarray(w)
    return out


# ---------------------------------------------------------------------------
# The models.  Each returns (model, x) with x the inputs to predict on.


def dense_chain(rng):
    m = keras.Sequential([
        keras.Input((3,)),
        L.Dense(4, activation="tanh", name="hidden"),   # stored at layers/dense: name != group
        L.Dropout(0.3),                                  # weight-less between weighted layers
        L.Dense(4, activation="sigmoid"),
        L.Dense(2, use_bias=False),
    ], name="dense_chain")
    return m, rng.normal(size=(N, 3))


def activations(rng):
    names = ["linear", "relu", "elu", "selu", "softplus", "softsign", "exponential", "hard_sigmoid",
             "relu6", "silu", "swish", "gelu", "leaky_relu", "sigmoid", "tanh", "softmax"]
    m = keras.Sequential([keras.Input((3,))] + [L.Dense(3, activation=a, name=f"d_{a}") for a in names],
                         name="activations")
    return m, rng.normal(scale=2.0, size=(N, 3))


def activation_layers(rng):
    m = keras.Sequential([
        keras.Input((3,)),
        L.Dense(4), L.ReLU(),
        L.Dense(4), L.ReLU(max_value=6.0),
        L.Dense(4), L.ReLU(negative_slope=0.1),
        L.Dense(4), L.ReLU(max_value=0.8, negative_slope=0.2, threshold=0.1),
        L.LeakyReLU(),                      # after a non-Dense layer: becomes Dense(eye)
        L.Dense(4, activation="relu"), L.ELU(alpha=0.5),   # after a non-linear Dense: Dense(eye)
        L.Dense(4), L.Activation("softsign"),
        L.Dense(4), L.Activation("hard_sigmoid"),
        L.Dense(4, activation=L.LeakyReLU(negative_slope=0.15)),
        L.Dense(4, activation=L.ReLU(max_value=0.5)),
        L.Dense(3), L.Softmax(),
    ], name="activation_layers")
    return m, rng.normal(scale=2.0, size=(N, 3))


def normalization(rng):
    data = rng.normal(loc=[1.0, -2.0, 0.5], scale=[0.5, 2.0, 3.0], size=(50, 3)).astype("float32")
    norm = L.Normalization()
    norm.adapt(data)
    m = keras.Sequential([
        keras.Input((3,)),
        norm,
        L.Dense(4),
        L.BatchNormalization(),
        L.Dense(3, activation="tanh"),
        L.BatchNormalization(center=False, scale=False, epsilon=0.01),
        L.Normalization(mean=[0.5, -0.5, 1.0], variance=[4.0, 0.25, 1.0], invert=True),
        L.Dense(2),
    ], name="normalization")
    return m, rng.normal(size=(N, 3))


def nested(rng):
    inner = keras.Sequential([
        keras.Input((4,)),
        L.Dense(4, activation="relu"),
        L.BatchNormalization(),
        L.Dense(3, name="inner_out"),
    ], name="inner")
    frozen = L.Dense(3, activation="elu", name="frozen")
    frozen.trainable = False
    m = keras.Sequential([
        keras.Input((3,)),
        L.Flatten(),
        L.Dense(4, activation="tanh", name="a"),
        inner,
        frozen,
        L.Dense(2),
    ], name="nested")
    return m, rng.normal(size=(N, 3))


def functional(rng):
    inp = keras.Input((3,), name="x")
    h = L.Dense(5, activation="selu", name="f1")(inp)
    h = L.Dropout(0.2)(h)
    h = L.BatchNormalization(name="bn")(h)
    sub = keras.Sequential([keras.Input((5,)), L.Dense(4, activation="softplus"), L.Dense(3)], name="sub")
    h = sub(h)
    h = L.LeakyReLU(negative_slope=0.05)(h)
    out = L.Dense(2, activation="sigmoid", name="f2")(h)
    return keras.Model(inp, out, name="functional"), rng.normal(size=(N, 3))


def rnn_simple_rnn(rng):
    m = keras.Sequential([
        keras.Input((5, 2)),
        L.SimpleRNN(3, return_sequences=True),
        L.SimpleRNN(3, activation="relu", go_backwards=True),
        L.Dense(1),
    ], name="rnn_simple_rnn")
    return m, rng.normal(size=(N, 5, 2))


def rnn_lstm(rng):
    m = keras.Sequential([
        keras.Input((4, 2)),
        L.LSTM(3, return_sequences=True, go_backwards=True),
        L.LSTM(2, recurrent_activation="hard_sigmoid", use_bias=False),
        L.Dense(1, activation="sigmoid"),
    ], name="rnn_lstm")
    return m, rng.normal(size=(N, 4, 2))


def rnn_gru(rng):
    m = keras.Sequential([
        keras.Input((4, 3)),
        L.GRU(3, return_sequences=True),                          # reset_after=True: bias (2, 9)
        L.GRU(2, reset_after=False, go_backwards=True, return_sequences=True),
        L.Dense(2),
    ], name="rnn_gru")
    return m, rng.normal(size=(N, 4, 3))


MODELS = [dense_chain, activations, activation_layers, normalization, nested, functional, rnn_simple_rnn, rnn_lstm, rnn_gru]


def write_fixture(stem, model, x, rng) -> str:
    """Save ``model`` with random weights as .keras, .h5 and (other weights) .weights.h5, plus an .npz
    of inputs, Keras's outputs and the weights of both; returns the file sizes."""
    x = x.astype("float32")
    set_random_weights(model, rng)
    y = np.asarray(model.predict(x, verbose=0))
    model.save(f"{stem}.keras")
    model.save(f"{stem}.h5")
    arrays = {"x": x, "y": y, **weight_dict(model, "w")}
    saved = [layer.get_weights() for layer in leaves(model)]
    set_random_weights(model, rng)
    model.save_weights(f"{stem}.weights.h5")
    arrays.update({"y_alt": np.asarray(model.predict(x, verbose=0)), **weight_dict(model, "alt")})
    for layer, ws in zip(leaves(model), saved):
        layer.set_weights(ws)
    np.savez(f"{stem}.npz", allow_pickle=False, **arrays)
    return ", ".join(f"{p.name}: {p.stat().st_size // 1024} KB" for p in sorted(stem.parent.glob(f"{stem.name}.*")))


def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    for builder in MODELS:
        if names and builder.__name__ not in names:
            continue
        rng = np.random.default_rng(SEED + MODELS.index(builder))
        model, x = builder(rng)
        print(f"{builder.__name__}: {write_fixture(OUT / builder.__name__, model, x, rng)}")


if __name__ == "__main__":
    main(sys.argv[1:])
