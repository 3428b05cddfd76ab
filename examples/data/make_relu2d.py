"""Train the small ReLU network that examples/relu_preimage.py inverts, with real Keras.

Run from the repository root (Keras 3 on the torch backend)::

    KERAS_BACKEND=torch python examples/data/make_relu2d.py

Writes ``examples/data/relu2d.keras`` (2 -> 8 relu -> 8 relu -> 2 linear) and
``examples/data/relu2d.npz`` (inputs ``x`` and Keras's own predictions ``y``,
so a test can check that symrecon reads the file exactly).

The toy task: inputs in the box [-3, 3]^2, outputs
``(|x1| + 0.5 x2, x1 - |x2|)`` — piecewise linear, so a small ReLU net fits it
and its preimages are visible polygons.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # a tiny net: threads only contend

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 20261201


def task(x: np.ndarray) -> np.ndarray:
    return np.stack([np.abs(x[:, 0]) + 0.5 * x[:, 1], x[:, 0] - np.abs(x[:, 1])], axis=1)


def main() -> None:
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    x = rng.uniform(-3.0, 3.0, size=(4000, 2)).astype("float32")
    y = task(x).astype("float32")
    model = keras.Sequential([
        keras.Input(shape=(2,)),
        keras.layers.Dense(8, activation="relu", name="hidden1"),
        keras.layers.Dense(8, activation="relu", name="hidden2"),
        keras.layers.Dense(2, activation="linear", name="out"),
    ], name="relu2d")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    history = model.fit(x, y, epochs=60, batch_size=100, verbose=0)
    print(f"final training loss {history.history['loss'][-1]:.4g}")
    model.save(HERE / "relu2d.keras")
    probe = rng.uniform(-3.0, 3.0, size=(64, 2)).astype("float32")
    np.savez(HERE / "relu2d.npz", x=probe, y=model.predict(probe, verbose=0))
    print(f"wrote {HERE / 'relu2d.keras'} and {HERE / 'relu2d.npz'}")


if __name__ == "__main__":
    main()
