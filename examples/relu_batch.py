"""No closed form: a ReLU network, a batch of targets, solved iteratively.

``relu`` maps a half-line to 0, so ``analytic_inverse`` refuses the model and
``reconstruct(method="auto")`` falls back to batched Gauss-Newton (then scipy
for the stragglers).  Every answer is re-checked by a forward pass; the
summary says how many targets reached the tolerance and which method
produced each.

Run: ``python examples/relu_batch.py --out out``
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import symrecon as sr  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    model = sr.Sequential([
        sr.Dense(rng.normal(size=(6, 24)) / np.sqrt(6), rng.normal(size=24) * 0.1, "relu", name="hidden"),
        sr.Dense(rng.normal(size=(24, 3)) / np.sqrt(24), name="out"),
    ])
    try:
        sr.analytic_inverse(model)
    except sr.NotInvertibleError as err:
        print(f"no closed form: {err}")

    x_true = rng.normal(size=(2000, 6))
    y = model(x_true)                      # reachable targets
    res = sr.reconstruct(model, y)         # method="auto"
    print(res.report())
    print("methods used:", res.summary()["methods"])

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.hist(np.log10(np.maximum(res.residual, 1e-18)), bins=40)
    ax.axvline(np.log10(res.tol), color="red", linestyle="--", label=f"tol = {res.tol:g}")
    ax.set_xlabel("log10 residual  max|model(x) - y|")
    ax.set_ylabel("targets")
    ax.set_title("ReLU network: re-checked residuals of 2000 reconstructions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "relu_residuals.png", dpi=110)
    print(f"wrote {out / 'relu_residuals.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"))
    main(parser.parse_args().out)
