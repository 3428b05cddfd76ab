"""Ask a trained digit classifier which 8x8 image it calls each digit, and how little it takes to change its mind.

The network (``data/digits_mlp.keras``: 64 pixels -> 32 tanh -> 10 softmax)
was trained by real Keras on scikit-learn's bundled 8x8 digits
(``data/train_digits_mlp.py`` wrote it).  For every digit the example finds
the image the network calls that digit with probability 0.99 (the other nine
share the remaining 0.01) within the pixel range [0, 16], nearest to the
mean image of the data: ``symrecon.prototype``, solved on the logits.  It
draws those prototypes as a 2x5 grid next to the class means, and, for one
held-out image, finds the smallest change (L2) that makes the network call
it another digit.

Usage::

    python examples/digits_inversion.py [--out DIR]

Needs scikit-learn (``pip install scikit-learn``; the ``test`` extra has it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import symrecon as sr  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA))
from train_digits_mlp import digits_split  # noqa: E402

CONFIDENCE = 0.99
PIXELS = (0.0, 16.0)


def _image(ax, pixels: np.ndarray, title: str) -> None:
    ax.imshow(pixels.reshape(8, 8), cmap="gray_r", vmin=PIXELS[0], vmax=PIXELS[1])
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _diff_image(ax, diff: np.ndarray, title: str, lim: float) -> None:
    ax.imshow(diff.reshape(8, 8), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def grid_figure(means: np.ndarray, prototypes: np.ndarray, mean: np.ndarray, path: Path) -> Path:
    """Class means, prototypes and prototype - mean image, each a 2x5 grid of digits 0..9."""
    fig = plt.figure(figsize=(14.0, 3.6), layout="constrained")
    panels = fig.subfigures(1, 3, wspace=0.02)
    lim = float(np.max(np.abs(prototypes - mean)))
    headings = ("class means (data)", f"prototypes: p = {CONFIDENCE}, pixels in [0, 16], nearest to the mean image",
                "prototype - mean image (red: brighter)")
    for k, (sub, heading) in enumerate(zip(panels, headings)):
        for digit, ax in enumerate(sub.subplots(2, 5).ravel()):
            if k == 0:
                _image(ax, means[digit], f"mean {digit}")
            elif k == 1:
                _image(ax, prototypes[digit], f"prototype {digit}")
            else:
                _diff_image(ax, prototypes[digit] - mean, f"{digit} - mean", lim)
        sub.suptitle(heading, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def change_figure(x: np.ndarray, change: sr.ClassChange, path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    _image(axes[0], x, f"test image: called {change.from_class}")
    _image(axes[1], change.x, f"changed: called {change.to_class}")
    diff = change.x - x
    _diff_image(axes[2], diff, f"change (L2 {change.distance:.2f})", float(np.max(np.abs(diff))) or 1.0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the figures (default: out)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    model = sr.load_keras(DATA / "digits_mlp.keras")
    x_train, x_test, y_train, y_test = digits_split()
    right = model(x_test).argmax(axis=1) == y_test
    accuracy = float(np.mean(right))
    print(f"model: {model}\nheld-out accuracy {accuracy:.3f} on {len(x_test)} images")

    mean = x_train.mean(axis=0)
    means = np.stack([x_train[y_train == d].mean(axis=0) for d in range(10)])
    res = sr.prototype(model, np.arange(10), confidence=CONFIDENCE, bounds=PIXELS, x_ref=mean)
    p = model(res.x)
    print(f"\nprototypes (p = {CONFIDENCE} on the digit, pixels in [0, 16], nearest to the mean image):")
    print("digit  p(digit)  distance to mean  distance of class mean  within tol")
    for d in range(10):
        print(f"{d:5d}  {p[d, d]:.6f}  {np.linalg.norm(res.x[d] - mean):16.3f}  "
              f"{np.linalg.norm(means[d] - mean):22.3f}  {bool(res.success[d])}")
    in_box = bool(np.all((res.x >= PIXELS[0]) & (res.x <= PIXELS[1])))
    print(f"all within [0, 16]: {in_box}; all reached: {bool(np.all(res.success))}")

    # Any member of the preimage will do for newton; from random dim images (pixels in [0, 1]) it finds one
    # for every digit (from brighter random images, tanh units saturate and it stalls).
    rng = np.random.default_rng(0)
    newton = sr.reconstruct(model, res.y_target, method="newton", x0=rng.uniform(0.0, 1.0, size=(10, 64)),
                            bounds=PIXELS)
    far = np.linalg.norm(newton.x - mean, axis=1)
    print(f"newton from random starts reaches the same probabilities ({int(np.sum(newton.success))} of 10) at "
          f"mean distance {far.mean():.1f} from the mean image; the nearest prototypes: "
          f"{np.linalg.norm(res.x - mean, axis=1).mean():.1f}")

    index = int(np.flatnonzero(right)[0])  # the first held-out image the network gets right
    x = x_test[index]
    change = sr.smallest_class_change(model, x, bounds=PIXELS)
    print(f"\nheld-out image {index} (a {y_test[index]}) is called {change.from_class} with p = "
          f"{model(x)[change.from_class]:.4f}; the smallest change (L2 {change.distance:.3f}, largest pixel change "
          f"{np.max(np.abs(change.x - x)):.2f}) makes it a {change.to_class} "
          f"(p = {change.probabilities[change.to_class]:.4f})")

    for path in (grid_figure(means, res.x, mean, args.out / "digits_prototypes.png"),
                 change_figure(x, change, args.out / "digits_class_change.png")):
        print(f"wrote {path}")
    return 0 if in_box and bool(np.all(res.success)) else 1


if __name__ == "__main__":
    sys.exit(main())
