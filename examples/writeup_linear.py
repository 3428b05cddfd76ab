"""The motivating write-up's linear case, step by step with the public API.

A one-unit linear model trained by Keras on ``y = 0.4 x - 50 U(0,1)`` ships
with symrecon.  For ``y0 = 100`` we reconstruct ``x0`` in closed form and by
the write-up's gradient descent on the input (constant learning rate 0.4, from
``x = 1``, 200 iterations), and write the derivation and a convergence plot.

Run: ``python examples/writeup_linear.py --out out``
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import symrecon as sr  # noqa: E402
from symrecon.demo import shipped_model_path  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model = sr.load_keras(shipped_model_path())
    w, b = model.layers[0].kernel[0, 0], model.layers[0].bias[0]
    print(f"trained weights: W = {w:.6f}, b = {b:.6f}")

    exact = sr.reconstruct(model, [100.0], method="analytic")
    descent = sr.reconstruct(model, [100.0], method="gd", x0=[1.0], max_iter=200,
                             learning_rate=0.4, optimizer="constant")
    print(exact.report())
    print(descent.report())
    print(f"closed form (y0 - b) / W = {(100.0 - b) / w:.10f}")

    tex = sr.analytic_inverse(model).derivation.save(out / "writeup_linear.tex")
    ax = sr.plot.convergence(descent)
    ax.figure.savefig(out / "writeup_convergence.png", dpi=110)
    print(f"wrote {tex} and {out / 'writeup_convergence.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"))
    main(parser.parse_args().out)
