"""``symrecon invert MODEL --targets data.zarr --out x.zarr [--scheduler ADDRESS]``: targets too big for memory.

The targets are read and the inputs written by Dask's own I/O (Zarr, Parquet),
chunk by chunk: every chunk is solved once, written, and counted into the
summary in the same pass, so neither ``y`` nor ``x`` is ever whole in memory.

Inputs (``--targets``)
    ``*.zarr``: a 2-D Zarr array (N, n_out), or a group holding one under
    ``y``; its chunks along rows are the tasks.  ``*.parquet``: a Parquet file
    or folder whose columns are the outputs (every column, in order, as
    float64); its partitions are the tasks.
Outputs (``--out``, must not exist unless ``--force``)
    ``*.zarr``: a group with arrays ``x`` (N, n_in), ``residual``, ``status``,
    ``n_iter``, ``success`` and ``method`` (codes; the group's attributes
    ``status_names`` and ``method_names`` name them, ``summary`` holds the
    counts).  ``*.parquet``: columns ``x0..x{n_in-1}``, ``residual``,
    ``status`` (the name), ``n_iter``, ``success`` and ``method``.
Scheduler
    Without ``--scheduler``, Dask's local threaded scheduler; with it, the
    ``dask.distributed`` scheduler at that address (``tcp://host:8786``).
    A progress bar (Dask's diagnostics, on stderr) appears when the run
    takes longer than a few seconds, unless ``--no-progress``.

Examples
--------
>>> import numpy as np, dask.array as da
>>> from pathlib import Path
>>> from symrecon.cli import main
>>> from symrecon.cli_dask import read_targets
>>> da.to_zarr(da.from_array(np.linspace(50.0, 150.0, 6).reshape(6, 1), chunks=2), "y.zarr")
>>> read_targets(Path("y.zarr")).chunks
((2, 2, 2), (1,))
>>> import symrecon as sr
>>> model = sr.__file__.replace("__init__.py", "data/writeup_linear.keras")
>>> main(["invert", model, "--targets", "y.zarr", "--out", "x.zarr"])  # doctest: +ELLIPSIS
[[Reconstruction]]
    targets       6
    within tol    6 (100.00 %)
...
wrote inputs .../x.zarr
0
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import AUTO_THRESHOLD
from .errors import InvalidParameterError
from .status import Status

__all__ = ["add_arguments", "invert_targets", "STORE_FORMATS"]

#: suffix of a --targets / --out path -> format
STORE_FORMATS = {".zarr": "zarr", ".parquet": "parquet"}
#: per-row fields written beside x
FIELDS = ("residual", "status", "n_iter", "success", "method")


def add_arguments(parser: Any) -> None:
    """The options of the Dask path, on the ``invert`` sub-command's parser."""
    parser.add_argument("--targets", type=Path, help="read the targets from a .zarr array or a .parquet file/folder "
                                                     "(instead of --y): solved chunk by chunk with Dask; --out then "
                                                     "names a .zarr or .parquet output")
    parser.add_argument("--scheduler", help="with --targets: address of a dask.distributed scheduler, e.g. "
                                            "tcp://10.0.0.5:8786 (default: Dask's local threads)")


def _store_format(option: str, path: Path) -> str:
    fmt = STORE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidParameterError(f"{option} {path}: expected a name ending in {' or '.join(STORE_FORMATS)}")
    return fmt


def read_targets(path: Path) -> Any:
    """The targets of ``--targets`` as a dask array (N, n_out), float64, chunked along rows only."""
    import dask.array as da

    if not path.exists():
        raise FileNotFoundError(f"--targets {path}: no such file or folder")
    if _store_format("--targets", path) == "zarr":
        import zarr

        node = zarr.open(str(path), mode="r")
        component = None
        if isinstance(node, zarr.Group):
            component = "y"
            if "y" not in node:
                raise InvalidParameterError(f"--targets {path}: a Zarr group without an array 'y'; "
                                            f"it holds {sorted(node.array_keys())}")
        return da.from_zarr(str(path), component=component).astype(np.float64)
    import dask.dataframe as dd

    return dd.read_parquet(str(path)).to_dask_array(lengths=True).astype(np.float64)


def _zarr_writes(res: Any, path: Path) -> list[Any]:
    import dask.array as da

    fields = {"x": res.x, "residual": res.residual, "status": res.status, "n_iter": res.n_iter,
              "success": res.success, "method": res._col("method").astype(np.int8)}
    return [da.to_zarr(arr, str(path), component=name, overwrite=True, compute=False)
            for name, arr in fields.items()]


def _frame(block: np.ndarray, n_in: int, n_out: int, method_names: tuple[str, ...]) -> Any:
    """One chunk of the packed result as a pandas DataFrame (the Parquet output's rows)."""
    import pandas as pd

    from .distributed import COLUMNS

    base = n_in + n_out
    cols = {f"x{j}": block[:, j] for j in range(n_in)}
    per_row = {name: block[:, base + k] for k, name in enumerate(COLUMNS)}
    cols["residual"] = per_row["residual"]
    cols["status"] = pd.array([Status(int(c)).name for c in per_row["status"]], dtype="string")
    cols["n_iter"] = per_row["n_iter"].astype(np.int64)
    cols["success"] = per_row["success"].astype(bool)
    cols["method"] = pd.array(np.asarray(method_names, dtype=object)[per_row["method"].astype(np.intp)],
                              dtype="string")
    return pd.DataFrame(cols)


def _parquet_writes(res: Any, path: Path) -> list[Any]:
    import dask
    import dask.dataframe as dd

    if path.is_dir():
        shutil.rmtree(path)  # --force was given (checked before any work)
    elif path.exists():
        path.unlink()
    parts = [dask.delayed(_frame)(block, res.n_in, res.n_out, res.method_names)
             for block in res.packed.to_delayed().ravel()]
    meta = _frame(np.zeros((0, res.packed.shape[1])), res.n_in, res.n_out, res.method_names)
    return [dd.from_delayed(parts, meta=meta).to_parquet(str(path), write_index=False, compute=False)]


WRITERS = {"zarr": _zarr_writes, "parquet": _parquet_writes}


def _compute(client: Any, collections: list[Any], progress: bool) -> list[Any]:
    """``dask.compute`` of everything in one pass, with Dask's progress bar on runs of more than a few seconds."""
    import dask

    with ExitStack() as stack:
        # a Parquet write (a dataframe expression) beside the array summary: Dask warns that it
        # materialises the expression, which is what lets both share each chunk's solver task
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message="Computing mixed collections", category=UserWarning)
        if client is None:
            if progress:
                from dask.diagnostics import ProgressBar

                stack.enter_context(ProgressBar(minimum=AUTO_THRESHOLD, out=sys.stderr))
            return list(dask.compute(*collections))
        import distributed

        futures = client.compute(collections)
        if progress:
            try:
                distributed.wait(futures, timeout=AUTO_THRESHOLD)
            except distributed.TimeoutError:
                distributed.progress(futures)
        return list(client.gather(futures))


def invert_targets(args: Any, out: Any) -> int:
    """``symrecon invert MODEL --targets ... --out ...``; returns the exit code (0: every target reached)."""
    import symrecon as sr

    from .cli import OutputPathError, _batch_summary, _check_output

    if args.y:
        raise InvalidParameterError("give the targets either with --y or with --targets, not both")
    for option in ("latex", "plot"):
        if getattr(args, option) is not None:
            raise InvalidParameterError(f"--{option} is not available with --targets (a batch too large for memory)")
    if args.out is None:
        raise OutputPathError("--targets needs --out: a .zarr or .parquet output for the reconstructed inputs")
    fmt = _store_format("--out", args.out)
    out_path = _check_output("--out", args.out, force=args.force, folder_ok=True)
    if out_path == Path(os.path.abspath(args.targets)):
        raise OutputPathError(f"--out {out_path}: is also the --targets input; choose another name")
    model = sr.load_keras(args.model)
    y = read_targets(args.targets)
    with ExitStack() as stack:
        client = None
        if args.scheduler:
            import distributed

            client = stack.enter_context(distributed.Client(args.scheduler, set_as_default=False))
        res = sr.reconstruct(model, y, method=args.method, tol=args.tol, max_iter=args.max_iter)
        writes = WRITERS[fmt](res, out_path)
        parts = res.summary_parts()
        t0 = time.perf_counter()
        done = _compute(client, [*writes, *parts], progress=not args.no_progress)
        elapsed = time.perf_counter() - t0
    summary = res.summary_from_parts(*done[len(writes):])
    if fmt == "zarr":
        _annotate(out_path, res, summary)
    print(_batch_summary(_Summarised(summary, elapsed)), file=out)
    print(f"wrote inputs {out_path}", file=out)
    return 0 if summary["n_success"] == summary["n_targets"] else 1


def _annotate(path: Path, res: Any, summary: dict[str, Any]) -> None:
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    group.attrs.update({"status_names": {str(int(s)): s.name for s in Status}, "method_names": list(res.method_names),
                        "summary": summary, "tol": res.tol, "rtol": res.rtol})


class _Summarised:
    """What the text summary of :mod:`symrecon.cli` reads, from a computed summary (no per-row arrays)."""

    def __init__(self, summary: dict[str, Any], elapsed: float):
        self._summary = summary
        self.elapsed = elapsed
        counts = ", ".join(f"{name}: {n}" for name, n in summary["status_counts"].items())
        self.message = f"{summary['n_success']} of {summary['n_targets']} targets within tolerance " \
                       f"{summary['tol']:g}. Status counts: {counts}."

    def summary(self) -> dict[str, Any]:
        return self._summary
