"""Invert a one-unit sigmoid model y = sigmoid(W x + b) in closed form, as the write-up did by hand.

Builds the model with readable numbers (W = 0.5, b = -1), prints the derivation
y = 1/(1 + e^-z) -> e^-z = 1/y - 1 -> z = -log(1/y - 1) -> x = (z - b)/W, the
reconstructed input x0 for a target y0, checks it by a forward pass, and writes
the derivation as a standalone LaTeX document.

Usage::

    python examples/sigmoid_inverse.py [--out DIR] [--y0 0.75]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import symrecon as sr

W, B = 0.5, -1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the files (default: out)")
    parser.add_argument("--y0", type=float, default=0.75, help="target output, in (0, 1) (default: 0.75)")
    args = parser.parse_args(argv)

    model = sr.Sequential([sr.Dense([[W]], [B], activation="sigmoid", name="unit")])
    inv = sr.analytic_inverse(model)
    print(f"model: y = sigmoid({W:g} x + ({B:g}))\n")
    print(inv.derivation)

    res = sr.reconstruct(model, [args.y0], method="analytic")
    x0 = float(res.x[0])
    print(f"\nreconstructed x0 = {x0:.12g} for y0 = {args.y0:g}")
    print(f"by hand: x0 = (-log(1/y0 - 1) - b) / W = {(-np.log(1 / args.y0 - 1) - B) / W:.12g}")
    print(f"check: model(x0) = {float(res.y_pred[0]):.15g} (residual {res.residual:.2g}, {res.message})")

    args.out.mkdir(parents=True, exist_ok=True)
    path = inv.derivation.save(args.out / "sigmoid_inverse.tex")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
