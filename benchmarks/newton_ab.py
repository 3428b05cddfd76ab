"""newton against an earlier checkout, interleaved in one run: ``python benchmarks/newton_ab.py OLD_TREE``.

The issue's speed criterion: the benchmark's newton times (tanh 100k, sigmoid
20k, tol 1e-10, see :mod:`run`) within 10 % of the previous main, measured in
one run against it checked out beside this tree (``git worktree add --detach
/tmp/old <commit>``).  Each round runs both trees in fresh processes, one
after the other, each building its problems with its own ``benchmarks/run.py``
(so both solve identical targets) and timing ``reconstruct`` after a warm-up.
Process CPU time is the figure (robust to other load on the machine; numba on
one thread, ``NUMBA_NUM_THREADS=1``); wall time is printed beside it.  Prints
min and median per tree and the ratios this tree / old tree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ("tanh", "sigmoid")


def child(tree: str, repeats: int) -> None:
    sys.path.insert(0, str(Path(tree) / "benchmarks"))
    from run import make_problem  # the tree's own run.py puts its symrecon first on sys.path
    import symrecon as sr

    if not Path(sr.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"{tree}: imported symrecon from {sr.__file__}")
    out = {}
    for name in PROBLEMS:
        model, _, y = make_problem(name)
        sr.reconstruct(model, y[:5000], method="newton", tol=1e-10, progress=False)
        cpu, wall = [], []
        for _ in range(repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            res = sr.reconstruct(model, y, method="newton", tol=1e-10, progress=False)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        out[name] = {"cpu": cpu, "wall": wall, "success": float(res.success.mean())}
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="the earlier checkout (a worktree of the previous main)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per problem and process")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.old, args.repeats)
        return
    trees = {"old": str(Path(args.old).resolve()), "this": str(ROOT)}
    runs: dict[str, dict[str, dict[str, list[float]]]] = {k: {p: {"cpu": [], "wall": []} for p in PROBLEMS} for k in trees}
    for _ in range(args.rounds):
        for key, tree in trees.items():
            env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=tree)
            p = subprocess.run([sys.executable, __file__, tree, "--child", "--repeats", str(args.repeats)],
                               env=env, capture_output=True, text=True, cwd=tree, check=True)
            for name, row in json.loads(p.stdout.strip().splitlines()[-1]).items():
                for m in ("cpu", "wall"):
                    runs[key][name][m] += row[m]
    for name in PROBLEMS:
        for m in ("cpu", "wall"):
            old, new = runs["old"][name][m], runs["this"][name][m]
            print(f"{name:8s} {m:4s} old min {min(old):.3f} s med {statistics.median(old):.3f} s | "
                  f"this min {min(new):.3f} s med {statistics.median(new):.3f} s | "
                  f"ratio min {min(new) / min(old):.3f} med {statistics.median(new) / statistics.median(old):.3f}")


if __name__ == "__main__":
    main()
