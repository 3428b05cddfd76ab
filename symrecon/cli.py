"""Command line: ``symrecon demo`` and ``symrecon invert MODEL --y ...``.

Examples
--------
``symrecon demo --out demo-out``
    Reproduce the motivating write-up (prints the comparison, writes .tex and .png).
``symrecon invert model.keras --y 100``
    Reconstruct the input of a Keras model for one target.
``symrecon invert model.keras --y 0.2,0.7 --y 0.4,0.1 --method newton --latex d.tex --plot r.png``
    Two targets of a two-output model, by Gauss-Newton.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _parse_target(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", ",").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--y expects comma-separated numbers, e.g. 0.2,0.7; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("--y needs at least one number")
    return values


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symrecon", description="Reconstruct a network's input from its output.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="reproduce the motivating write-up end to end")
    demo.add_argument("--out", default="symrecon-demo", help="folder for the .tex and .png files (default: %(default)s)")
    demo.add_argument("--train", action="store_true", help="retrain the model with Keras (needs keras installed)")

    inv = sub.add_parser("invert", help="reconstruct the input of a Keras model for given outputs")
    inv.add_argument("model", type=Path, help=".keras or .h5 file")
    inv.add_argument("--y", action="append", type=_parse_target, required=True,
                     help="target output, comma-separated; repeat for several targets")
    inv.add_argument("--method", default="auto", help="auto, analytic, newton, gd, scipy, ... (default: %(default)s)")
    inv.add_argument("--tol", type=float, default=None, help="residual tolerance (default 1e-9)")
    inv.add_argument("--max-iter", type=int, default=None, help="iteration limit for iterative methods")
    inv.add_argument("--latex", type=Path, help="write the analytic derivation to this .tex file")
    inv.add_argument("--plot", type=Path, help="write a plot of the (first) reconstruction to this .png file")
    return parser


def _invert(args, out) -> int:
    import symrecon as sr

    model = sr.load_keras(args.model)
    lengths = {len(t) for t in args.y}
    if len(lengths) != 1:
        raise sr.ShapeError(f"all --y targets must have the same length; got lengths {sorted(lengths)}")
    y = np.array(args.y, dtype=np.float64)
    target = y[0] if y.shape[0] == 1 else y
    res = sr.reconstruct(model, target, method=args.method, tol=args.tol, max_iter=args.max_iter)
    print(res.report(), file=out)
    if args.latex is not None:
        inv = sr.analytic_inverse(model)
        path = inv.derivation.save(args.latex)
        print(f"wrote derivation {path}", file=out)
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        single = res if not res.is_batch else sr.reconstruct(model, y[0], method=args.method, tol=args.tol,
                                                               max_iter=args.max_iter)
        ax = sr.plot.reconstruction(model, single)
        ax.figure.tight_layout()
        ax.figure.savefig(args.plot, dpi=110)
        print(f"wrote plot {args.plot}", file=out)
    ok = bool(np.all(res.success))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``symrecon`` console script; returns the exit code.

    Exit codes: 0 success, 1 reconstruction did not reach the tolerance,
    2 bad arguments, file or target (the message says which).
    """
    from .errors import SymreconError

    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo(args.out, train=args.train)
            return 0
        return _invert(args, sys.stdout)
    except (SymreconError, ValueError, OSError, ImportError) as exc:
        print(f"symrecon {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
