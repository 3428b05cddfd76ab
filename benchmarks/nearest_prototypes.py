"""Which search finds class prototypes reliably? The nearest-member strategies on the digits MLP, side by side.

Usage::

    python benchmarks/nearest_prototypes.py [--confidence 0.99]

For each digit of ``examples/data/digits_mlp.keras`` the target is ``p = 0.99``
on the digit (the others share 0.01), pixels in [0, 16], and the answer should
be the input nearest to the mean training image.  Strategies (all on the
reduced log-ratio model, all finished by the same Gauss-Newton polish):

* ``slsqp``       SLSQP from ``x_ref`` (moved into the bounds);
* ``projection``  SQP with the identity Hessian (box-bounded least-distance
  steps), up to 500 steps;
* ``proj+slsqp``  40 projection steps, then SLSQP;
* ``shipped``     what ``x_ref=`` runs: the nearer of ``slsqp`` and
  ``proj+slsqp`` (plus a feasible-point restart when both fail);
* ``newton``      any member, from random dim images (pixels in [0, 1]): the
  baseline the acceptance test compares distances with.

Printed per strategy: targets reached (re-checked by a forward pass), mean
distance to the mean image, ratio of that distance to the shipped one, and
time with one BLAS thread (the shipped setting) and with the default threads
(the ratio says what limiting BLAS to one thread buys on this machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds
from threadpoolctl import threadpool_limits

import symrecon as sr
from symrecon.classifier import class_probabilities
from symrecon.softmax import probability_tolerance, reduction
from symrecon.solvers import nearest as nr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "data"))
from train_digits_mlp import digits_split  # noqa: E402

LO, HI = np.zeros(64), np.full(64, 16.0)


def _slsqp(row, ref, tol):
    x, _ = nr._slsqp(row, ref, np.clip(ref, LO, HI), Bounds(LO, HI), 500)
    return nr._polish(row, np.clip(x, LO, HI), LO, HI, tol)


def _projection(row, ref, tol):
    x, _ = nr._projection(row, ref, LO, HI, tol, 500)
    return nr._polish(row, x, LO, HI, tol)


def _proj_slsqp(row, ref, tol):
    start, _ = nr._projection(row, ref, LO, HI, tol, nr.PROJECTION_STEPS)
    x, _ = nr._slsqp(row, ref, start, Bounds(LO, HI), 500)
    return nr._polish(row, np.clip(x, LO, HI), LO, HI, tol)


def _shipped(row, ref, tol):
    return nr.nearest_row(row.model, row.y, ref, LO, HI, tol, 500)[0]


STRATEGIES = {"slsqp": _slsqp, "projection": _projection, "proj+slsqp": _proj_slsqp, "shipped": _shipped}


def _run(strategy, model, r, mean, tol):
    return np.stack([strategy(nr._Row(model, r[d]), mean, tol[d]) for d in range(r.shape[0])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confidence", type=float, default=0.99)
    args = parser.parse_args(argv)
    model = sr.load_keras(ROOT / "examples" / "data" / "digits_mlp.keras")
    red = reduction(model)
    x_train, _, _, _ = digits_split()
    mean = x_train.mean(axis=0)
    p = class_probabilities(10, np.arange(10), args.confidence)
    r = red.coordinates(p)
    tol = np.full(r.shape, red.inner_tol(1e-9))
    p_tol = probability_tolerance(p, atol=1e-9, rtol=1e-12)

    rows = {}
    for name, strategy in STRATEGIES.items():
        with threadpool_limits(limits=1, user_api="blas"):
            t0 = time.perf_counter()
            x = _run(strategy, red.reduced, r, mean, tol)
            one = time.perf_counter() - t0
        t0 = time.perf_counter()
        _run(strategy, red.reduced, r, mean, tol)
        default = time.perf_counter() - t0
        rows[name] = (x, one, default)
    starts = np.random.default_rng(0).uniform(0.0, 1.0, size=(10, 64))
    t0 = time.perf_counter()
    newton = sr.reconstruct(model, p, method="newton", x0=starts, bounds=(0.0, 16.0))
    rows["newton"] = (newton.x, time.perf_counter() - t0, float("nan"))

    shipped = float(np.mean(np.linalg.norm(rows["shipped"][0] - mean, axis=1)))
    print(f"digits MLP, 10 prototypes (p = {args.confidence}), pixels in [0, 16], nearest to the mean image\n")
    print(f"{'strategy':12s} {'reached':>7s} {'mean dist':>9s} {'/ shipped':>9s} {'worst / best':>12s} "
          f"{'time 1 BLAS thread':>18s} {'default threads':>15s} {'ratio':>6s}")
    best = np.min([np.linalg.norm(x - mean, axis=1) for x, _, _ in rows.values()], axis=0)
    for name, (x, one, default) in rows.items():
        reached = int(np.sum(np.all(np.abs(model(x) - p) <= p_tol, axis=1) & np.all((x >= LO) & (x <= HI), axis=1)))
        dist = np.linalg.norm(x - mean, axis=1)
        ratio = default / one if np.isfinite(default) else float("nan")
        print(f"{name:12s} {reached:5d}/10 {dist.mean():9.3f} {dist.mean() / shipped:9.3f} "
              f"{np.max(dist / best):12.3f} {one:17.2f}s {default:14.2f}s {ratio:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
