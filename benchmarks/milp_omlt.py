"""method="milp" against OMLT: same ReLU nets, same targets (half reachable, half not), same box.

OMLT (the existing tool for "find the input that gives this output" of a ReLU
network) builds a Pyomo model of the network (here from the weights, with its
``NetworkDefinition``/``DenseLayer`` API, big-M ReLU formulation) and solves it
with HiGHS (``appsi_highs``).  symrecon's ``milp`` runs per target too, with
the same time limit.  For every target we record the time, the verdict
(witness / infeasible / undecided) and whether a witness is re-checked by a
forward pass; agreement counts targets where both decided and said the same.

Run ``python benchmarks/milp_omlt.py`` (``--quick`` for a short run); it also
decides the 20 000-target ReLU problem of ``benchmarks/run.py`` (a subsample
in ``--quick`` mode, extrapolated, and said so).  Needs the ``bench`` extra
(``pip install -e ".[bench]"``: omlt, pyomo, highspy).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import symrecon as sr  # noqa: E402
from symrecon.errors import InfeasibleTargetError  # noqa: E402

BOX = 5.0
TIME_LIMIT = 10.0
WITNESS, INFEASIBLE, UNDECIDED = "witness", "infeasible", "undecided"


def make_net(widths, seed):
    """``[(W, b, activation)]``: ReLU hidden layers, linear output, 1/sqrt(fan-in) weights (as benchmarks/run.py)."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        act = "relu" if i < len(widths) - 2 else "linear"
        layers.append((rng.normal(size=(a, b)) / np.sqrt(a), 0.1 * rng.normal(size=b), act))
    return layers


def targets(model, n_in, k, seed, k_off=None):
    """``k`` reachable targets (outputs of data-like inputs in the box) and ``k_off`` (default ``k``) perturbed ones
    (mostly not reachable)."""
    k_off = k if k_off is None else k_off
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(size=(k, n_in)), -BOX, BOX)
    y = model(x)
    y_off = (y + rng.normal(size=y.shape) * y.std(axis=0))[:k_off]
    return np.vstack([y, y_off]), np.r_[np.ones(k, bool), np.zeros(k_off, bool)]


# ----------------------------------------------------------------------------- OMLT
def omlt_solve(layers, y, time_limit):
    """OMLT big-M model with HiGHS: (verdict, seconds, x or None)."""
    import pyomo.environ as pyo
    from omlt import OmltBlock
    from pyomo.contrib.appsi.solvers import Highs
    from omlt.neuralnet import NetworkDefinition, ReluBigMFormulation
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    n_in = layers[0][0].shape[0]
    t0 = time.perf_counter()
    net = NetworkDefinition(scaled_input_bounds={i: (-BOX, BOX) for i in range(n_in)})
    prev = InputLayer([n_in])
    net.add_layer(prev)
    for W, b, act in layers:
        layer = DenseLayer(prev.output_size, [W.shape[1]], W, b, activation=act)
        net.add_layer(layer)
        net.add_edge(prev, layer)
        prev = layer
    m = pyo.ConcreteModel()
    m.nn = OmltBlock()
    m.nn.build_formulation(ReluBigMFormulation(net))
    m.fit = pyo.Constraint(range(len(y)), rule=lambda mm, j: mm.nn.outputs[j] == float(y[j]))
    m.obj = pyo.Objective(expr=0.0)
    solver = Highs()
    solver.config.time_limit = time_limit
    solver.config.load_solution = False
    res = solver.solve(m)
    cond = str(res.termination_condition).lower()
    x = None
    if "optimal" in cond:
        res.solution_loader.load_vars()
        x = np.array([pyo.value(m.nn.inputs[i]) for i in range(n_in)])
        verdict = WITNESS
    elif "infeasible" in cond:
        verdict = INFEASIBLE
    else:
        verdict = UNDECIDED
    return verdict, time.perf_counter() - t0, x


# ----------------------------------------------------------------------------- symrecon
def symrecon_solve(model, y, time_limit):
    """symrecon ``milp``: (verdict, seconds, x or None); an IBP refusal counts as a proof."""
    t0 = time.perf_counter()
    try:
        res = sr.reconstruct(model, y, method="milp", bounds=(-BOX, BOX), time_limit=time_limit)
    except InfeasibleTargetError:
        return INFEASIBLE, time.perf_counter() - t0, None
    dt = time.perf_counter() - t0
    if res.success:
        return WITNESS, dt, np.asarray(res.x)
    return (INFEASIBLE if res.status is sr.Status.INFEASIBLE else UNDECIDED), dt, None


def compare_net(name, widths, k, time_limit, k_off=None, run_omlt=True):
    layers = make_net(widths, seed=len(widths) * 100 + widths[1])
    model = sr.Sequential([sr.Dense(W, b, act) for W, b, act in layers])
    ys, reach = targets(model, widths[0], k, seed=widths[1], k_off=k_off)
    rows = []
    for y in ys:
        v_s, t_s, x_s = symrecon_solve(model, y, time_limit)
        ok_s = x_s is None or float(np.max(np.abs(model(x_s) - y))) <= 1e-9
        v_o, t_o, x_o = omlt_solve(layers, y, time_limit) if run_omlt else (UNDECIDED, np.nan, None)
        ok_o = x_o is None or float(np.max(np.abs(model(x_o) - y))) <= 1e-5
        rows.append((v_s, t_s, ok_s, v_o, t_o, ok_o))
    return name, reach, rows


def report(name, reach, rows, time_limit):
    v_s = np.array([r[0] for r in rows]); t_s = np.array([r[1] for r in rows])
    v_o = np.array([r[3] for r in rows]); t_o = np.array([r[4] for r in rows])
    both = (v_s != UNDECIDED) & (v_o != UNDECIDED)
    print(f"\n## {name}  ({len(rows)} targets: {reach.sum()} reachable by construction, box [-{BOX:g}, {BOX:g}], "
          f"time limit {time_limit:g} s)")
    print("| solver | median s (all) | median s (reachable) | max s (reachable) | median s (perturbed) | median s "
          "(proved infeasible) | witnesses | proved infeasible | undecided | witnesses re-checked |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, v, t, ok in (("symrecon milp", v_s, t_s, [r[2] for r in rows]), ("OMLT big-M + HiGHS", v_o, t_o,
                                                                                [r[5] for r in rows])):
        proved = t[v == INFEASIBLE]
        print(f"| {label} | {np.median(t):.3f} | {np.median(t[reach]):.3f} | {np.max(t[reach]):.3f} | "
              f"{np.median(t[~reach]):.3f} | {np.median(proved) if proved.size else np.nan:.3f} | "
              f"{int(np.sum(v == WITNESS))} | {int(np.sum(v == INFEASIBLE))} | {int(np.sum(v == UNDECIDED))} | "
              f"{int(np.sum(ok))}/{len(rows)} |")
    agree = int(np.sum(v_s[both] == v_o[both]))
    disagree = int(np.sum(both) - agree)
    ratio = np.median(t_o[reach]) / np.median(t_s[reach])
    print(f"agreement where both decided: {agree}/{int(np.sum(both))} (disagreements: {disagree}); "
          f"reachable targets with a certified symrecon witness: {int(np.sum(v_s[reach] == WITNESS))}/{reach.sum()}; "
          f"median-time ratio OMLT/symrecon on reachable targets: {ratio:.1f}x; on all targets: "
          f"{np.median(t_o) / np.median(t_s):.1f}x")
    return disagree


def lp_backends(k):
    """The tightening LPs of the 8 -> 32 -> 8 perturbed targets through highspy (warm starts) and SciPy, interleaved."""
    from symrecon.milp.search import PROOF_BAND, TIGHTEN_ROUNDS, Searcher
    from symrecon.milp.tighten import tighten_for_target

    widths = (8, 32, 8)
    layers = make_net(widths, seed=len(widths) * 100 + widths[1])
    model = sr.Sequential([sr.Dense(W, b, act) for W, b, act in layers])
    ys, reach = targets(model, widths[0], k, seed=widths[1])
    lo, hi = np.full(widths[0], -BOX), np.full(widths[0], BOX)
    s = Searcher.build(model, lo, hi)
    seconds, lps, same = {"highspy": 0.0, "scipy": 0.0}, {"highspy": 0, "scipy": 0}, 0
    for y in ys[~reach]:
        verdicts = []
        for backend in seconds:
            t0 = time.perf_counter()
            t = tighten_for_target(s.net, s.zbounds, lo, hi, y, np.full(len(y), PROOF_BAND), rounds=TIGHTEN_ROUNDS,
                                   backend=backend)
            seconds[backend] += time.perf_counter() - t0
            lps[backend] += t.n_lps
            verdicts.append(t.infeasible)
        same += verdicts[0] == verdicts[1]
    per = {b: 1e3 * seconds[b] / max(lps[b], 1) for b in seconds}
    print(f"\n## Tightening LPs, highspy vs SciPy (8 -> 32 -> 8, its {int((~reach).sum())} perturbed targets, "
          f"interleaved)")
    print(f"highspy: {lps['highspy']} LPs in {seconds['highspy']:.3f} s ({per['highspy']:.3f} ms/LP); scipy: "
          f"{lps['scipy']} LPs in {seconds['scipy']:.3f} s ({per['scipy']:.3f} ms/LP); ratio scipy/highspy per "
          f"target: {seconds['scipy'] / seconds['highspy']:.1f}x; same verdict: {same}/{int((~reach).sum())}")


def relu_problem(n_targets, full_size=20_000):
    """The 8 -> 32 ReLU -> 8 problem of benchmarks/run.py (targets from real inputs), decided in one batch call."""
    from run import make_problem

    model, x, y = make_problem("relu", n_targets)
    lim = float(np.max(np.abs(x))) + 1.0
    t0 = time.perf_counter()
    res = sr.reconstruct(model, y, method="milp", bounds=(-lim, lim), time_limit=TIME_LIMIT, progress=False)
    dt = time.perf_counter() - t0
    counts = res.summary()["status_counts"]
    stages = {k: v for k, v in res.stats.items() if k.startswith("n_")}
    scale = full_size / n_targets
    print(f"\n## ReLU benchmark problem (8 -> 32 ReLU -> 8, targets from real inputs, box [-{lim:.2f}, {lim:.2f}])")
    print(f"{n_targets} targets in {dt:.1f} s: {counts}; decided by stage {stages}; "
          f"all certified: {bool(np.all(res.success))}")
    if scale > 1:
        print(f"extrapolated to all {full_size} targets (x{scale:g}, linear): {dt * scale:.0f} s "
              f"(goal <= 600 s on this 2-core machine) — a subsample, not a full run")
    else:
        print(f"all {full_size} targets: {dt:.0f} s (goal <= 600 s)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few targets per net (a smoke run)")
    args = ap.parse_args(argv)
    k = 3 if args.quick else 10
    # the deeper nets: 10 reachable targets each (a percentage worth reading), 5 perturbed (both solvers time out on
    # those at 10 s each, so more would only lengthen the run)
    nets = [("8 -> 32 ReLU -> 8", (8, 32, 8), k, k), ("8 -> 64 -> 64 -> 8", (8, 64, 64, 8), k, max(2, k // 2)),
            ("16 -> 128 -> 128 -> 16", (16, 128, 128, 16), k, max(2, k // 2))]
    print("# symrecon milp vs OMLT (one run, same machine, interleaved per target)")
    from symrecon.milp.lp import default_backend

    print(f"LP backend of the tightening: {default_backend()}; load average at start (1/5/15 min): "
          f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} logical cores")
    warm = sr.Sequential([sr.Dense(np.eye(2), None, "relu"), sr.Dense(np.eye(2))])
    sr.reconstruct(warm, [0.5, 0.5], method="milp", bounds=(-1.0, 1.0))    # numba kernels loaded before timing
    for name, widths, kk, k_off in nets:
        report(*compare_net(name, widths, kk, TIME_LIMIT, k_off), TIME_LIMIT)
    lp_backends(3 if args.quick else 10)
    relu_problem(2000 if args.quick else 20_000)
    print(f"\nload average at the end (1/5/15 min): {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
