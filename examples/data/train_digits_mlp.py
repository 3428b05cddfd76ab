"""Train the classifier behind ``examples/digits_inversion.py`` and save it as ``digits_mlp.keras``.

A 64 -> 32 tanh -> 10 softmax MLP, trained by real Keras on scikit-learn's
bundled 8x8 digits, on raw pixel values (0 to 16, so the input range the
example bounds its prototypes to is the data's own).  Run it again with::

    KERAS_BACKEND=torch OMP_NUM_THREADS=1 python examples/data/train_digits_mlp.py

Seeded (``keras.utils.set_random_seed(0)`` and a fixed split); with one
thread and the same Keras/torch versions (3.x / 2.13.0 CPU) it writes the
same weights.  The shipped file is what this wrote (held-out accuracy 0.958).  Needs ``pip install scikit-learn keras torch``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
#: the held-out share and the seed of the split (the example's test image comes from the held-out part)
TEST_SIZE, SPLIT_SEED = 0.25, 0


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``x_train, x_test, y_train, y_test`` (pixels 0..16, float64; labels 0..9)."""
    data = load_digits()
    x = data.data.astype(np.float64)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED,
                                                        stratify=y)
    return x_train, x_test, y_train, y_test


def main() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras  # only training needs Keras; the example imports digits_split from here without it

    keras.utils.set_random_seed(0)
    x_train, x_test, y_train, y_test = digits_split()
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="tanh", name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="classes"),
    ], name="digits_mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=60, batch_size=32, verbose=0)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"held-out accuracy {acc:.3f} (loss {loss:.3f}) on {len(x_test)} images")
    model.save(HERE / "digits_mlp.keras")
    print(f"wrote {HERE / 'digits_mlp.keras'}")


if __name__ == "__main__":
    main()
