"""First-solve compile time against an earlier checkout, interleaved: ``python benchmarks/compile_ab.py OLD_TREE``.

The architecture issue's criterion "numba compile time of the first solve does
not grow", measured per method: every case runs in a fresh process on an
empty numba cache (``NUMBA_CACHE_DIR`` a new temporary folder), once per tree
and round, the trees interleaved so that other load on the machine falls on
both alike.  Printed per case and tree: the first ``reconstruct`` call (wall
seconds, what a new user waits for) and the whole process (import, the call,
and a kernel still compiling in the background when the call returns, which
the process finishes before it exits); then the ratio this tree / old tree of
the medians.

Cases: the benchmark's square tanh problem (``run.make_problem("tanh", 64)``,
structured newton, no target handed to the damped phase), a square tanh
chain where some targets need the damped phase, a wide-then-tall chain
(damped kernel only), and ``gd`` on the square chain.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r'''
import json, sys, time
import numpy as np
sys.path.insert(0, {bench!r})
import symrecon as sr
from run import make_problem
case = {case!r}
rng = np.random.default_rng(0)
method = "gd" if case == "gd square" else "newton"
if case == "benchmark tanh":
    model, _, y = make_problem("tanh", 64)
else:
    if case == "wide-tall":
        model = sr.Sequential([sr.Dense(rng.normal(size=(4, 6)) * 0.8, rng.normal(size=6) * 0.1, "tanh"),
                               sr.Dense(rng.normal(size=(6, 3)), rng.normal(size=3) * 0.1, "tanh")])
    else:
        model = sr.Sequential([sr.Dense(rng.normal(size=(4, 4)) * 0.8, rng.normal(size=4) * 0.1, "tanh")
                               for _ in range(3)])
    y = model(rng.normal(size=(64, 4)) * 0.5)
t0 = time.perf_counter()
res = sr.reconstruct(model, y, method=method, progress=False)
print(json.dumps({{"first": time.perf_counter() - t0, "n_damped": res.stats.get("n_damped", 0)}}))
'''

CASES = ("benchmark tanh", "square, damped phase needed", "wide-tall", "gd square")


def run_case(tree: str, case: str) -> dict:
    cache = tempfile.mkdtemp(prefix="symrecon-compile-ab-")
    try:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=tree)
        code = _CHILD.format(bench=str(ROOT / "benchmarks"), case=case)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True,
                           timeout=900)
        process = time.perf_counter() - t0
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if p.returncode != 0:
        raise RuntimeError(f"{tree} {case}: {p.stderr[-2000:]}")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]), process=process)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="the earlier checkout (e.g. git worktree add --detach /tmp/old 2053a4e)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    trees = {"old": str(Path(args.old).resolve()), "this": str(ROOT)}
    runs: dict = {(case, name): [] for case in CASES for name in trees}
    for r in range(args.rounds):
        for case in CASES:
            for name, tree in trees.items():
                out = run_case(tree, case)
                runs[case, name].append(out)
                print(f"round {r + 1} {case:28s} {name:4s} first {out['first']:6.2f} s  process "
                      f"{out['process']:6.2f} s  (targets to the damped phase: {out['n_damped']})", flush=True)
    print(f"\n| case | old first call (s) | this first call (s) | ratio | old process (s) | this process (s) |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        med = {name: statistics.median(o["first"] for o in runs[case, name]) for name in trees}
        proc = {name: statistics.median(o["process"] for o in runs[case, name]) for name in trees}
        print(f"| {case} | {med['old']:.2f} | {med['this']:.2f} | {med['this'] / med['old']:.2f} | "
              f"{proc['old']:.2f} | {proc['this']:.2f} |")


if __name__ == "__main__":
    main()
