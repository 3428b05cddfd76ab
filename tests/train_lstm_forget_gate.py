"""Train the small LSTM that examples/lstm_forget_gate.py inspects (real Keras, torch backend).

Toy task "sum since the last reset": each step carries a value ``v_t ~ U(-1, 1)``
and a reset flag ``r_t`` (1 with probability 0.2); the target after the last
step is the sum of the values since the last reset (scaled by 1/4).  Solving
it needs the cell state to be wiped at a reset: the forget gate must learn to
shut when ``r_t = 1``.

Run: ``KERAS_BACKEND=torch python tests/train_lstm_forget_gate.py [--out examples/data/lstm_forget_gate.keras]
[--epochs 25]``.  Deterministic (seeded); prints the final training and test losses.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

STEPS, UNITS = 12, 4
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "examples" / "data" / "lstm_forget_gate.keras"


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sequences ``(n, STEPS, 2)`` of (value, reset flag) and targets ``(n, 1)``."""
    values = rng.uniform(-1.0, 1.0, size=(n, STEPS))
    resets = (rng.random(size=(n, STEPS)) < 0.2).astype(float)
    total = np.zeros(n)
    for t in range(STEPS):
        total = np.where(resets[:, t] > 0, 0.0, total) + values[:, t]
    return np.stack([values, resets], axis=-1), total[:, None] / 4.0


def train(out: Path, epochs: int, n: int = 3000) -> tuple[float, float]:
    """Train, save to ``out``; returns (final training loss, test loss)."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = make_data(n, rng)
    x_test, y_test = make_data(1000, rng)
    model = keras.Sequential([keras.Input((STEPS, 2)), keras.layers.LSTM(UNITS, name="lstm"),
                              keras.layers.Dense(1, name="head")], name="lstm_forget_gate")
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    hist = model.fit(x.astype("float32"), y.astype("float32"), epochs=epochs, batch_size=100, verbose=0)
    test = float(model.evaluate(x_test.astype("float32"), y_test.astype("float32"), verbose=0))
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return float(hist.history["loss"][-1]), test


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--n", type=int, default=3000, help="training sequences")
    args = parser.parse_args()
    loss, test = train(args.out, args.epochs, args.n)
    print(f"trained {args.out}: final training loss {loss:.5f}, test loss {test:.5f} "
          f"(predicting the mean scores {float(np.var(make_data(1000, np.random.default_rng(1))[1])):.5f})")
