"""Build the Keras fixture of the activations added through the activation table (mish, log_sigmoid).

Run from the repository root (Keras 3 on the torch backend)::

    KERAS_BACKEND=torch python tests/make_activation_fixtures.py

It writes ``tests/data/keras/keras3_activations.{keras,h5,weights.h5,npz}``
in the layout of :mod:`make_keras_fixtures` (whose helpers it reuses), so the
generic loader tests in ``test_keras_fixtures.py`` cover it too: ``x``
(float32 inputs), ``y`` (Keras's predictions), ``y_alt`` (predictions with
the perturbed weights saved in ``.weights.h5``) and every layer's weights.

The model uses Keras 3's ``mish`` and ``log_sigmoid`` both as Dense
activation strings and as an ``Activation`` layer, and ends in a square
``tanh`` -> ``log_sigmoid`` pair, which has a closed-form inverse.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from keras import layers as L
from make_keras_fixtures import OUT, write_fixture

STEM = "keras3_activations"
SEED = 20261201
N = 8


def build(rng):
    """The model and the inputs to predict on."""
    m = keras.Sequential([
        keras.Input((3,)),
        L.Dense(4, activation="mish", name="mish_dense"),
        L.Dense(3, activation="log_sigmoid", name="log_sigmoid_dense"),
        L.Activation("mish", name="mish_layer"),
        L.Dense(3, activation="tanh", name="square_tanh"),
        L.Dense(3, activation="log_sigmoid", name="square_log_sigmoid"),
    ], name=STEM)
    return m, rng.normal(scale=2.0, size=(N, 3))


def main() -> None:
    """Write the four files and print their sizes."""
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    model, x = build(rng)
    sizes = write_fixture(OUT / STEM, model, x, rng)
    print(f"{STEM} (keras {keras.__version__}): {sizes}")


if __name__ == "__main__":
    sys.exit(main())
