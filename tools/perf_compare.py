"""Compare the newton solver's speed and compile time between source trees, interleaved.

Usage::

    python tools/perf_compare.py TREE [TREE ...] [--rounds 3]

For each tree (a checkout whose ``symrecon`` is put first on ``PYTHONPATH``)
and each round, in fresh subprocesses:

* ``compile``: the first ``newton`` solve (tanh problem, 64 targets) with an
  empty temporary ``NUMBA_CACHE_DIR``, and then the first damped solve
  (``structured=False``), which compiles the Levenberg–Marquardt kernel;
* ``tanh_100k`` / ``sigmoid_20k``: warm ``newton`` times (tol 1e-10) on the
  benchmark problems of ``benchmarks/run.py`` (same seeds), min of 3 solves.

Rounds alternate between the trees so that load from other processes on the
machine hits both alike; the report gives the min over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

_PROBLEMS = textwrap.dedent("""
    import numpy as np, symrecon as sr

    def orth(rng, n):
        q, r = np.linalg.qr(rng.normal(size=(n, n)))
        return q * np.sign(np.diag(r))

    def problem(name, n):
        # the problems of benchmarks/run.py, same seeds
        rng = np.random.default_rng({"tanh": 1, "sigmoid": 2}[name])
        if name == "tanh":
            model = sr.Sequential([sr.Dense(0.9 * orth(rng, 16), 0.1 * rng.normal(size=16), "tanh")
                                   for _ in range(3)])
            x = rng.normal(size=(n, 16))
        else:
            model = sr.Sequential([
                sr.Dense(rng.normal(size=(32, 64)) / np.sqrt(32), 0.1 * rng.normal(size=64), "sigmoid"),
                sr.Dense(rng.normal(size=(64, 8)) * 2 / np.sqrt(64), 0.1 * rng.normal(size=8), "sigmoid"),
            ])
            x = rng.normal(size=(n, 32))
        return model, model(x)
""")

_COMPILE = _PROBLEMS + textwrap.dedent("""
    import json, time
    model, y = problem("tanh", 64)
    t0 = time.perf_counter()
    a = sr.reconstruct(model, y, method="newton", tol=1e-10, progress=False)
    t1 = time.perf_counter()
    b = sr.reconstruct(model, y, method="newton", tol=1e-10, progress=False, structured=False)
    t2 = time.perf_counter()
    print(json.dumps({"first_solve": t1 - t0, "first_damped": t2 - t1,
                      "ok": bool(a.success.all() and b.success.all())}))
""")

_WARM = _PROBLEMS + textwrap.dedent("""
    import json, time
    out = {}
    for name, n in (("tanh", 100_000), ("sigmoid", 20_000)):
        model, y = problem(name, n)
        sr.reconstruct(model, y[:64], method="newton", tol=1e-10, progress=False)  # load the kernels
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            res = sr.reconstruct(model, y, method="newton", tol=1e-10, progress=False)
            times.append(time.perf_counter() - t0)
        out[f"{name}_{n // 1000}k"] = min(times)
        out[f"{name}_success"] = float(res.success.mean())
    print(json.dumps(out))
""")


def _run(tree: str, code: str, cache: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), NUMBA_CACHE_DIR=cache)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800,
                       cwd=tempfile.gettempdir())
    if p.returncode != 0:
        raise RuntimeError(f"{tree}: {p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def measure(tree: str) -> dict:
    """One round for one tree: compile on an empty cache, then warm timings from that cache."""
    with tempfile.TemporaryDirectory() as cache:
        result = _run(tree, _COMPILE, cache)
        result.update(_run(tree, _WARM, cache))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trees", nargs="+")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    rounds: dict[str, list[dict]] = {t: [] for t in args.trees}
    for r in range(args.rounds):
        for tree in args.trees if r % 2 == 0 else reversed(args.trees):
            rounds[tree].append(measure(tree))
            print(f"round {r + 1} {tree}: {json.dumps(rounds[tree][-1])}", flush=True)
    keys = ("first_solve", "first_damped", "tanh_100k", "sigmoid_20k")
    print(f"\n{'tree':40s} " + " ".join(f"{k:>13s}" for k in keys) + "   (min over rounds, seconds)")
    for tree, rs in rounds.items():
        print(f"{tree:40s} " + " ".join(f"{min(r[k] for r in rs):13.3f}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
