"""Command line: ``symrecon demo`` and ``symrecon invert MODEL --y ...``.

Examples
--------
``symrecon demo --out demo-out``
    Reproduce the motivating write-up (prints the comparison, writes .tex and .png).
``symrecon invert model.keras --y 100``
    Reconstruct the input of a Keras model for one target.
``symrecon invert model.keras --y 0.2,0.7 --y 0.4,0.1 --method newton --latex d.tex --plot r.png``
    Two targets of a two-output model, by Gauss-Newton.
``symrecon invert model.keras --y 100 --y 200 --out x.csv``
    Also write every reconstructed input (and its target, residual, method, n_iter) to a file.
``symrecon invert model.keras --targets y.zarr --out x.zarr [--scheduler tcp://host:8786]``
    Targets too many for memory, chunk by chunk through Dask (see :mod:`symrecon.cli_dask`).

Output files (``--latex``, ``--plot``, ``--out``) are checked before any work:
the folder must exist, the file must not exist (unless ``--force``), and a
symbolic link is never written through, with or without ``--force``.
"""

from __future__ import annotations

import argparse
import io
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import SymreconError

if TYPE_CHECKING:
    from .symbolic import AnalyticInverse

__all__ = ["main", "OutputPathError"]

EXIT_CODES = """\
exit codes:
  0    every target was reconstructed within the tolerance
  1    at least one target did not reach the tolerance (its row says which)
  2    bad arguments, unreadable model file, unreachable target, or an output
       path that cannot be written (outputs are checked before any work)
  130  interrupted (Ctrl-C)
"""

#: Batches longer than this print their first and last rows only (``--out`` writes all).
MAX_TABLE_ROWS = 20
#: Inputs wider than this print as one truncated vector column instead of one column each.
MAX_X_COLUMNS = 6
PLOT_FORMATS = (".png", ".pdf", ".svg")
OUT_FORMATS = (".csv", ".npy")


class OutputPathError(SymreconError, ValueError):
    """An output file of the command line cannot (or must not) be written."""


# ---------------------------------------------------------------------------
# arguments

def _parse_target(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", ",").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--y expects comma-separated numbers, e.g. 0.2,0.7; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("--y needs at least one number")
    return values


def _version() -> str:
    from . import __version__

    return f"symrecon {__version__}"


def _build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="symrecon", description="Reconstruct a network's input from its output.",
                                     epilog=EXIT_CODES, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="reproduce the motivating write-up end to end", epilog=EXIT_CODES,
                          formatter_class=fmt)
    demo.add_argument("--out", default="symrecon-demo", help="folder for the .tex and .png files (default: %(default)s)")
    demo.add_argument("--train", action="store_true", help="retrain the model with Keras (needs keras installed)")

    inv = sub.add_parser("invert", help="reconstruct the input of a Keras model for given outputs",
                         description="Reconstruct the input of a Keras model for given outputs; prints every "
                                     "reconstructed input x (a table for several targets).",
                         epilog=EXIT_CODES, formatter_class=fmt)
    inv.add_argument("model", type=Path, help=".keras or .h5 file")
    inv.add_argument("--y", action="append", type=_parse_target,
                     help="target output, comma-separated; repeat for several targets; write --y=-0.5,0.2 when "
                          "the first value is negative")
    inv.add_argument("--method", default="auto", help="auto, analytic, newton, gd, scipy, ... (default: %(default)s)")
    inv.add_argument("--tol", type=float, default=None, help="residual tolerance (default 1e-9)")
    inv.add_argument("--max-iter", type=int, default=None, help="iteration limit for iterative methods")
    inv.add_argument("--out", type=Path, help="write every target's reconstructed x to this file: .csv (with y, "
                                              "residual, success, method, n_iter) or .npy (x only, shape (N, n_in))")
    inv.add_argument("--latex", type=Path, help="write the analytic derivation to this .tex file "
                                                "(the model must have a closed form; checked first)")
    inv.add_argument("--plot", type=Path, help="write a figure of the reconstruction(s) to this .png/.pdf/.svg file")
    inv.add_argument("--force", action="store_true", help="overwrite existing output files (never symbolic links)")
    inv.add_argument("--no-progress", action="store_true", help="never show a progress bar (default: shown for "
                                                                "batches expected to take more than a few seconds)")
    from .cli_dask import add_arguments

    add_arguments(inv)  # --targets, --scheduler: batches too large for memory, through Dask
    return parser


# ---------------------------------------------------------------------------
# output files: checked before the work, written without following links

def _check_output(option: str, path: Path, *, force: bool, suffixes: tuple[str, ...] | None = None,
                  folder_ok: bool = False) -> Path:
    """Refuse an output path before any work is done; returns the absolute path.

    Raises
    ------
    OutputPathError
        Wrong suffix, missing or unwritable folder, a symbolic link, something
        that is not a regular file, or an existing file without ``--force``.
    """
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise OutputPathError(f"{option} {path}: expected a file name ending in {' or '.join(suffixes)}")
    path = Path(os.path.abspath(path))  # abspath, not resolve(): a link in the name must stay visible
    folder = path.parent
    if not folder.is_dir():
        raise OutputPathError(f"{option} {path}: the folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{option} {path}: the folder {folder} is not writable")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(st.st_mode):
        raise OutputPathError(f"{option} {path}: is a symbolic link; symrecon never writes through links "
                              "(remove it or choose another name)")
    if not (stat.S_ISREG(st.st_mode) or (folder_ok and stat.S_ISDIR(st.st_mode))):  # folder_ok: a .zarr store
        raise OutputPathError(f"{option} {path}: exists and is not a regular file")
    if not force:
        raise OutputPathError(f"{option} {path}: exists; pass --force to overwrite it")
    return path


def _check_outputs(args) -> dict[str, Path]:
    """Every requested output, checked; also refuses two options naming one file or the model itself."""
    wanted = {"--out": (args.out, OUT_FORMATS), "--latex": (args.latex, None), "--plot": (args.plot, PLOT_FORMATS)}
    paths = {opt: _check_output(opt, p, force=args.force, suffixes=sfx)
             for opt, (p, sfx) in wanted.items() if p is not None}
    seen: dict[Path, str] = {Path(os.path.abspath(args.model)): "the model"}
    for opt, path in paths.items():
        if path in seen:
            raise OutputPathError(f"{opt} {path}: is also {seen[path]}; choose another file name")
        seen[path] = opt
    return paths


def _write_new(path: Path, data: bytes, *, force: bool) -> Path:
    """Write ``data`` to ``path`` as a new regular file; never through a symbolic link.

    ``O_CREAT | O_EXCL`` fails on any existing name, links included (even with
    ``O_NOFOLLOW`` missing), so a link planted after the check is refused, not
    followed.  With ``force`` an existing regular file is unlinked first.
    """
    if force:
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except FileExistsError:
        raise OutputPathError(f"{path}: appeared while symrecon was working; not overwritten") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


# ---------------------------------------------------------------------------
# what invert prints and writes

def _vec(v) -> str:
    return np.array2string(np.asarray(v), precision=12, max_line_width=80, threshold=12)


def _single_block(res) -> str:
    rows = [("method", res.method), ("success", res.success), ("x", _vec(res.x)), ("y target", _vec(res.y_target)),
            ("y model(x)", _vec(res.y_pred)), ("residual", f"{res.residual:.3e} (tol {res.tol:.1e})"),
            ("kind", res.kind),
            ("n_iter", res.n_iter), ("elapsed", f"{res.elapsed:.4g} s"), ("message", res.message)]
    if res.affine_set is not None:
        rows.insert(3, ("solution set", f"affine, dimension {res.affine_set.dimension} (x is its min-norm point)"))
    return "\n".join(["[[Reconstruction]]", *(f"    {k:<13} {v}" for k, v in rows)])


def _batch_summary(res) -> str:
    s = res.summary()
    rows = [("targets", s["n_targets"]),
            ("within tol", f"{s['n_success']} ({100.0 * s['n_success'] / s['n_targets']:.2f} %)"),
            ("max residual", f"{s['max_residual']:.3e}"), ("tolerance", f"{s['tol']:.1e}"),
            ("methods", ", ".join(f"{k}: {v}" for k, v in s["methods"].items())),
            ("elapsed", f"{res.elapsed:.4g} s"), ("message", res.message)]
    kinds = getattr(res, "kind", None)  # per row; a Dask run's summary has counts only (symrecon.cli_dask)
    if kinds is not None:
        counts = zip(*np.unique(np.asarray(kinds).astype(str), return_counts=True))
        rows.insert(5, ("kind", ", ".join(f"{k}: {v}" for k, v in counts)))
    return "\n".join(["[[Reconstruction]]", *(f"    {k:<13} {v}" for k, v in rows)])


def _table_cells(res) -> tuple[list[str], list[list[str]]]:
    """Header and cells, one row per target: index, y, x (one column per input when few), status."""
    x, y = np.atleast_2d(res.x), np.atleast_2d(res.y_target)
    n_in = x.shape[1]
    x_head = [f"x[{j}]" for j in range(n_in)] if n_in <= MAX_X_COLUMNS else ["x"]
    header = ["target", "y", *x_head, "residual", "success", "method", "n_iter"]
    residual, success = np.atleast_1d(res.residual), np.atleast_1d(res.success)
    method, n_iter = np.atleast_1d(np.asarray(res.method, dtype=object)), np.atleast_1d(res.n_iter)
    rows = []
    for i in range(x.shape[0]):
        y_txt = ",".join(f"{v:.10g}" for v in y[i])
        x_txt = [f"{v:.10g}" for v in x[i]] if n_in <= MAX_X_COLUMNS else [_vec(x[i]).replace("\n", "")]
        rows.append([str(i), y_txt, *x_txt, f"{residual[i]:.2e}", "yes" if success[i] else "NO",
                     str(method[i]), str(int(n_iter[i]))])
    return header, rows


def inputs_table(res, max_rows: int = MAX_TABLE_ROWS) -> str:
    """Fixed-width table of the reconstructed inputs, one row per target.

    Parameters
    ----------
    res : Reconstruction
        Single or batch.
    max_rows : int
        More targets than this show the first ``max_rows // 2`` and the last
        ``max_rows // 4`` rows and say how many were left out.

    Returns
    -------
    str
    """
    header, rows = _table_cells(res)
    if len(rows) > max_rows:
        head, tail = max_rows // 2, max_rows // 4
        gap = ["..."] * len(header)
        note = f"({len(rows) - head - tail} rows not shown; --out FILE.csv writes all {len(rows)})"
        rows = rows[:head] + [gap] + rows[-tail:]
    else:
        note = ""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines.append("-" * len(lines[0]))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines + ([note] if note else []))


def _csv_bytes(res) -> bytes:
    import csv

    x, y = np.atleast_2d(res.x), np.atleast_2d(res.y_target)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*(f"y{j}" for j in range(y.shape[1])), *(f"x{j}" for j in range(x.shape[1])),
                     "residual", "success", "method", "n_iter"])
    residual, success = np.atleast_1d(res.residual), np.atleast_1d(res.success)
    method, n_iter = np.atleast_1d(np.asarray(res.method, dtype=object)), np.atleast_1d(res.n_iter)
    for i in range(x.shape[0]):
        # repr() of a float is the shortest string that reads back to the same float64.
        writer.writerow([*(repr(float(v)) for v in y[i]), *(repr(float(v)) for v in x[i]),
                         repr(float(residual[i])), bool(success[i]), method[i], int(n_iter[i])])
    return buf.getvalue().encode("utf-8")


def _npy_bytes(res) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.atleast_2d(np.asarray(res.x, dtype=np.float64)), allow_pickle=False)
    return buf.getvalue()


def _plot_bytes(model, res, suffix: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot

    axes = plot.overview(model, res)
    fig = axes[0].figure
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix.lstrip(".").lower(), dpi=110)
    plt.close(fig)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# commands

def _invert(args, out) -> int:
    import symrecon as sr

    if args.targets is not None:
        from .cli_dask import invert_targets

        return invert_targets(args, out)
    if not args.y:
        raise sr.InvalidParameterError("invert needs targets: --y VALUES (repeatable) or --targets FILE.zarr|.parquet")
    outputs = _check_outputs(args)  # before loading or solving: a bad path costs nothing
    model = sr.load_keras(args.model)
    lengths = {len(t) for t in args.y}
    if len(lengths) != 1:
        raise sr.ShapeError(f"all --y targets must have the same length; got lengths {sorted(lengths)}")
    inverse = None
    if "--latex" in outputs:
        try:
            inverse = sr.analytic_inverse(model)
        except sr.NotInvertibleError as exc:
            raise sr.NotInvertibleError(f"--latex needs a closed form, and this model has none: {exc}") from exc
    y = np.array(args.y, dtype=np.float64)
    target = y[0] if y.shape[0] == 1 else y
    res = sr.reconstruct(model, target, method=args.method, tol=args.tol, max_iter=args.max_iter,
                         progress=False if args.no_progress else None)
    if res.is_batch:
        print(_batch_summary(res), file=out)
        print(inputs_table(res), file=out)
    else:
        print(_single_block(res), file=out)

    writers = {"--out": lambda p: _csv_bytes(res) if p.suffix.lower() == ".csv" else _npy_bytes(res),
               "--latex": lambda p: _derivation_bytes(inverse),
               "--plot": lambda p: _plot_bytes(model, res, p.suffix)}
    labels = {"--out": "inputs", "--latex": "derivation", "--plot": "plot"}
    for option, path in outputs.items():
        _write_new(path, writers[option](path), force=args.force)
        print(f"wrote {labels[option]} {path}", file=out)
    return 0 if bool(np.all(res.success)) else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``symrecon`` console script; returns the exit code.

    Exit codes: 0 success, 1 reconstruction did not reach the tolerance,
    2 bad arguments, file, target or output path (the message says which),
    130 interrupted.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo(args.out, train=args.train)
            return 0
        return _invert(args, sys.stdout)
    except KeyboardInterrupt:
        print(f"symrecon {args.command}: interrupted", file=sys.stderr)
        return 130
    except (SymreconError, ValueError, OSError, ImportError) as exc:
        print(f"symrecon {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def _derivation_bytes(inverse: "AnalyticInverse | None") -> bytes:
    """The standalone LaTeX derivation (``--latex`` made sure a closed form exists before solving)."""
    assert inverse is not None
    return inverse.derivation.to_latex(standalone=True).encode("utf-8")
