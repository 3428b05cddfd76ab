"""Dask scale-out benchmark (issue 12): a LocalCluster of 2 single-threaded workers against the in-memory path.

Usage::

    python benchmarks/dask_scale.py            # 10**7 targets in 100 chunks (the issue's size; ~8 GB in memory)
    python benchmarks/dask_scale.py --quick    # 10**6 targets in 100 chunks
    python benchmarks/dask_scale.py --n 2000000 --chunk 50000 --repeats 3

Problem: the 16-16-16-16 tanh net of ``benchmarks/run.py`` (orthogonal x 0.9
weights, seed 1), targets ``y = model(x)`` with ``x ~ N(0, 1)``, solved by
``method="newton"`` (default tolerance).  The targets are written once to a
Zarr store on disk (chunk by chunk, never whole); both paths start from it:

* **in memory** (a fresh process, so its peak RSS is its own): read all of
  ``y``, ``sr.reconstruct(model, y)``; its numba kernels use both cores.
* **Dask**: ``sr.reconstruct(model, da.from_zarr(...))`` on a ``LocalCluster``
  of 2 worker processes (spawned) with 1 thread each and
  ``NUMBA_NUM_THREADS=1``, computing the summary (every chunk solved; ``x``
  never gathered).

Both are timed after a warm-up (kernels loaded), interleaved, ``--repeats``
times; the medians give throughput (targets/s) and the overhead
``t_dask / t_memory - 1`` (target: <= 20 %).  Peak RSS: the in-memory
process's, and each worker's (before the run and its peak), next to the size
of one chunk's arrays and of the whole of ``x``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import symrecon as sr  # noqa: E402
from run import make_layers, np_forward  # noqa: E402

TARGET_OVERHEAD = 0.20
MB = 1 << 20


def tanh_model():
    layers, _ = make_layers("tanh")
    return layers, sr.Sequential([sr.Dense(w, b, act) for w, b, act in layers])


def _targets_block(x_block: np.ndarray) -> np.ndarray:
    layers, _ = make_layers("tanh")
    return np_forward(layers, x_block)


def write_targets(path: Path, n: int, chunk: int) -> None:
    """``y = model(x)``, ``x ~ N(0, 1)``, written to Zarr chunk by chunk (local threads)."""
    import dask.array as da

    x = da.random.default_rng(1).standard_normal((n, 16), chunks=(chunk, 16))
    y = x.map_blocks(_targets_block, dtype=np.float64)
    da.to_zarr(y, str(path), overwrite=True, compute=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def in_memory_child(store: str) -> None:
    """Run in a fresh process: warm up, then time reading all of y and solving it; print JSON."""
    import zarr

    _, model = tanh_model()
    arr = zarr.open_array(store, mode="r")
    sr.reconstruct(model, arr[:1000], method="newton", progress=False)  # kernels loaded
    t0 = time.perf_counter()
    y = arr[:]
    res = sr.reconstruct(model, y, method="newton", progress=False)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"t": elapsed, "rss": peak_rss_mb(), "n_success": int(np.sum(res.success)),
                      "x_mb": res.x.nbytes / MB}))


def run_in_memory(store: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", str(store)], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "") or
                                           str(HERE.parent)})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_dask(client, store: Path) -> dict:
    import dask.array as da

    _, model = tanh_model()
    client.run(lambda: __import__("resource"))  # every worker up
    t0 = time.perf_counter()
    summary = sr.reconstruct(model, da.from_zarr(str(store)), method="newton").summary()
    elapsed = time.perf_counter() - t0
    return {"t": elapsed, "n_success": summary["n_success"], "rss": client.run(peak_rss_mb)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10**6 targets instead of 10**7")
    parser.add_argument("--n", type=int, help="number of targets (overrides --quick)")
    parser.add_argument("--chunks", type=int, default=100, help="number of chunks (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each path (default: %(default)s)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        in_memory_child(args.child)
        return 0
    import dask
    import distributed

    n = args.n or (1_000_000 if args.quick else 10_000_000)
    chunk = -(-n // args.chunks)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "y.zarr"
        write_targets(store, n, chunk)
        print(f"{n:,} targets of the 16-16-16-16 tanh problem in {args.chunks} chunks of {chunk:,} rows; "
              f"method newton; {os.cpu_count()} cores")
        # spawn, never fork: numba holds threads; one numba thread per single-threaded worker
        with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}), \
                distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                         env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
                distributed.Client(cluster) as client:
            base_rss = client.run(peak_rss_mb)
            warm = sr.reconstruct(tanh_model()[1], dask.array.from_zarr(str(store))[: 4 * chunk // 100 + 4],
                                  method="newton")
            warm.summary()  # kernels loaded in every worker
            memory, dasked = [], []
            for _ in range(args.repeats):  # interleaved A/B
                memory.append(run_in_memory(store))
                dasked.append(run_dask(client, store))
        report(n, chunk, memory, dasked, base_rss)
    return 0


def report(n: int, chunk: int, memory: list[dict], dasked: list[dict], base_rss: dict) -> None:
    t_mem = float(np.median([m["t"] for m in memory]))
    t_dask = float(np.median([d["t"] for d in dasked]))
    overhead = t_dask / t_mem - 1.0
    pairs = [d["t"] / m["t"] for m, d in zip(memory, dasked)]  # each A/B pair ran back to back
    assert all(m["n_success"] == n for m in memory) and all(d["n_success"] == n for d in dasked)
    print(f"in memory : {t_mem:.3g} s  ({n / t_mem:,.0f} targets/s)  runs {[round(m['t'], 3) for m in memory]}")
    print(f"dask 2x1  : {t_dask:.3g} s  ({n / t_dask:,.0f} targets/s)  runs {[round(d['t'], 3) for d in dasked]}")
    print(f"overhead  : {overhead:+.1%} (t_dask / t_memory - 1; target <= {TARGET_OVERHEAD:.0%}): "
          f"{'met' if overhead <= TARGET_OVERHEAD else 'NOT met'}; per A/B pair: "
          f"{', '.join(f'{r - 1:+.0%}' for r in pairs)} (median {float(np.median(pairs)) - 1:+.1%})")
    chunk_mb = chunk * (16 + 16 + 16 + 5) * 8 / MB  # y, x, y_pred and the per-row columns of one chunk
    print(f"one chunk's arrays ~{chunk_mb:.0f} MB; all of x {n * 16 * 8 / MB:.0f} MB")
    print(f"peak RSS, in-memory process: {max(m['rss'] for m in memory):.0f} MB")
    for addr, peak in dasked[-1]["rss"].items():
        print(f"peak RSS, worker {addr}: {peak:.0f} MB (at start {base_rss.get(addr, float('nan')):.0f} MB)")


if __name__ == "__main__":
    sys.exit(main())
