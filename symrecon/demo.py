"""The motivating write-up, reproduced end to end (``symrecon demo``).

The write-up trained a one-unit linear Keras model on ``y = 0.4 x - 50 U(0,1)``
with ``x ~ U(0, 1000)`` (100 points), then ran gradient descent on the *input*
(weights frozen, constant learning rate, from ``x = 1`` for 200 iterations)
and found ``x0 ≈ 312`` for ``y0 = 100``.  It then inverted a sigmoid by hand.
This module does the same with symrecon: the closed form next to gradient
descent, the derivation in LaTeX, and the plots.

A model trained by real Keras on the seeded data set ships with the package
(``symrecon/data/writeup_linear.keras``), so the demo runs without Keras;
``--train`` retrains it when Keras is installed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

import numpy as np

__all__ = ["writeup_dataset", "train_writeup_model", "shipped_model_path", "run_demo", "DemoResult"]

#: The write-up's target output and gradient-descent settings (its code uses 0.4).
Y0 = 100.0
LEARNING_RATE = 0.4
X_START = 1.0
N_ITER = 200
#: Target for the sigmoid variant (any value in (0, 1)).
Y0_SIGMOID = 0.75
DATASET_SEED = 2018


def writeup_dataset(seed: int = DATASET_SEED, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The write-up's data set: ``x ~ U(0, 1000)``, ``y = 0.4 x - 50 U(0, 1)``.

    Returns
    -------
    x, y : ndarray, shape (n, 1)
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1000.0, size=(n, 1))
    y = 0.4 * x - 50.0 * rng.random(size=(n, 1))
    return x, y


def shipped_model_path() -> Path:
    """Path of the Keras-trained ``Dense(1)`` model that ships with symrecon."""
    return Path(str(resources.files("symrecon") / "data" / "writeup_linear.keras"))


def train_writeup_model(path: str | Path, *, seed: int = DATASET_SEED, epochs: int = 3000) -> Path:
    """Train ``Dense(1)`` on :func:`writeup_dataset` with real Keras and save it.

    Needs ``keras`` with a backend (e.g. ``KERAS_BACKEND=torch``).  The
    write-up used Adam for 100 000 epochs at the default learning rate; a
    larger learning rate reaches the same least-squares line in far fewer.
    """
    try:
        import keras
    except ImportError as exc:
        raise ImportError("--train needs Keras: pip install torch==2.13.0 keras  (KERAS_BACKEND=torch)") from exc
    keras.utils.set_random_seed(seed)
    x, y = writeup_dataset(seed)
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(learning_rate=1.0))
    model.fit(x, y, epochs=epochs, batch_size=100, verbose=0)
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(learning_rate=0.01))
    model.fit(x, y, epochs=epochs // 3, batch_size=100, verbose=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


@dataclass(frozen=True)
class DemoResult:
    """What the demo computed and wrote (used by the tests)."""

    kernel: float
    bias: float
    analytic: object
    gradient_descent: object
    sigmoid: object
    files: dict


def run_demo(out_dir: str | Path = "symrecon-demo", *, train: bool = False, stream: TextIO | None = None) -> DemoResult:
    """Reproduce the write-up; print the comparison and write ``.tex`` and ``.png`` files.

    Parameters
    ----------
    out_dir : path
        Folder for the outputs (created if missing).
    train : bool
        Retrain the model with Keras instead of loading the shipped one.
    stream : file, optional
        Where to print (default ``sys.stdout``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import symrecon as sr
    from .solvers.gd import GradientDescent

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_outputs(out)  # before any work: a planted link costs nothing and is never followed
    say = (lambda *a: print(*a, file=stream or sys.stdout))

    x_train, y_train = writeup_dataset()
    model_path = train_writeup_model(out / "writeup_linear.keras") if train else shipped_model_path()
    model = sr.load_keras(model_path)
    dense = model.layers[0]
    assert isinstance(dense, sr.Dense)  # the shipped write-up model is one Dense unit
    w, b = float(dense.kernel[0, 0]), float(dense.bias[0])
    say(f"Model {model_path.name}: y = W x + b with W = {w:.8g}, b = {b:.8g} (trained by Keras on "
        f"y = 0.4 x - 50 U(0,1), 100 points)")
    say(f"Reconstructing x0 for y0 = {Y0:g}: closed form vs the write-up's gradient descent "
        f"(lr = {LEARNING_RATE}, from x = {X_START:g}, at most {N_ITER} iterations: it stops once the "
        f"residual is within the tolerance)\n")

    gd = GradientDescent(learning_rate=LEARNING_RATE, optimizer="constant")
    res_a = sr.reconstruct(model, [Y0], method="analytic")
    res_g = sr.reconstruct(model, [Y0], method=gd, x0=[X_START], max_iter=N_ITER)
    cmp = sr.compare(model, [Y0], methods=("analytic", gd), x0=[X_START], max_iter=N_ITER)
    say(str(cmp))
    say(f"\nanalytic x0 = {res_a.x[0]:.10g}  (the closed form (y0 - b) / W)")
    say(f"gd x0 = {res_g.x[0]:.10g}  (gradient descent, {res_g.n_iter} iterations; agreement "
        f"{abs(res_g.x[0] - res_a.x[0]) / abs(res_a.x[0]):.1e} relative)")
    say(f"(The write-up's x0 ~ 312 is its own fit's answer; the data's underlying line W = 0.4, b = -25 gives "
        f"(100 + 25) / 0.4 = 312.5.  This model was fitted to another random sample of the same distribution, "
        f"so (y0 - b) / W = {res_a.x[0]:.7g}.)")

    inv = sr.analytic_inverse(model)
    files = {"linear_tex": _save_tex(inv.derivation, out / "linear_derivation.tex")}

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter(x_train[:, 0], y_train[:, 0], s=12)
    ax.set_title("Training dataset - linear")
    ax.set_xlabel("x_train")
    ax.set_ylabel("y_train")
    files["dataset_png"] = _save(fig, out / "dataset.png")
    files["reconstruction_png"] = _save(
        sr.plot.reconstruction(model, res_a, data=(x_train, y_train)).figure, out / "reconstruction.png")
    files["convergence_png"] = _save(sr.plot.convergence(res_g, model=model).figure, out / "convergence.png")

    sig_model = sr.Sequential([sr.Dense([[w]], [b], "sigmoid", name="dense")], name="sigmoid_variant")
    res_s = sr.reconstruct(sig_model, [Y0_SIGMOID], method="analytic")
    sig_inv = sr.analytic_inverse(sig_model)
    files["sigmoid_tex"] = _save_tex(sig_inv.derivation, out / "sigmoid_derivation.tex")
    say(f"\nSigmoid variant y = sigmoid(W x + b): x0 = {res_s.x[0]:.10g} for y0 = {Y0_SIGMOID:g}; derivation:")
    say(str(sig_inv.derivation))
    plt.close("all")

    say("\nWrote:")
    for path in files.values():
        say(f"  {path}")
    return DemoResult(kernel=w, bias=b, analytic=res_a, gradient_descent=res_g, sigmoid=res_s,
                      files={k: Path(v) for k, v in files.items()})


#: The files the demo writes into its output folder (``--train`` adds the Keras model).
OUTPUT_NAMES = ("linear_derivation.tex", "sigmoid_derivation.tex", "dataset.png", "reconstruction.png",
                "convergence.png")


def _check_outputs(out: Path) -> None:
    """Refuse links and non-files among the demo's output names (its own old files are replaced).

    Raises
    ------
    symrecon.cli.OutputPathError
    """
    import os
    import stat

    from .cli import OutputPathError

    for name in OUTPUT_NAMES:
        try:
            mode = os.lstat(out / name).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            raise OutputPathError(f"{out / name}: is a symbolic link; the demo never writes through links "
                                  "(remove it or choose another --out folder)")
        if not stat.S_ISREG(mode):
            raise OutputPathError(f"{out / name}: exists and is not a regular file")


def _save(fig, path: Path) -> Path:
    import io

    from .cli import _write_new

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return _write_new(path, buf.getvalue(), force=True)


def _save_tex(derivation, path: Path) -> Path:
    from .cli import _write_new

    return _write_new(path, derivation.to_latex(standalone=True).encode("utf-8"), force=True)
