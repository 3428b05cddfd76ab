"""symrecon benchmark: one command, baselines tuned and measured in the same run, on the same criteria.

Usage::

    python benchmarks/run.py                  # everything at full size (slow on a small machine)
    python benchmarks/run.py --quick          # baselines on subsamples, times extrapolated (labelled)
    python benchmarks/run.py --symrecon-only  # only the symrecon rows (for comparing two checkouts)
    PYTHONPATH=/other/tree python benchmarks/run.py --symrecon-only --no-write

Problems (seeded, float64), from issue 3:

* ``linear``   the write-up's one-unit model, W = 0.4, b = -25, y0 = 100;
* ``tanh``     16-16-16-16 tanh MLP, orthogonal x 0.9 weights, 100 000 targets;
* ``sigmoid``  32 -> 64 -> 8 sigmoid MLP (underdetermined), 20 000 targets;
* ``relu``     8 -> 32 ReLU -> 8 linear, 20 000 targets (dead units: no local
  method solves all of them; reported as it is).

Targets are ``y = model(x_true)`` with ``x_true ~ N(0, 1)``, so every one is
reachable.  The residual of a target is the max-norm ``|model(x) - y|``,
computed by this script (never taken from a solver's own report).

Every method is measured on the same criteria (issue 14):

* time until 99.9 % of the targets are <= 1e-6, and separately <= 1e-10;
* time until the median target is <= 1e-6 (an extra column);
* the method's *best point*: the highest fraction <= 1e-6 it reached and when
  (iterative baselines can peak and fall back; the end of their iteration cap
  is shown in the note, never used as their time).

Baselines are what a user would otherwise write, tuned in the same run: a
batched PyTorch autograd loop on the input (Adam and plain gradient descent,
learning rate swept log-spaced over 0.01..1 on a 2 000-target subset, the best
per problem used; ``torch.optim.LBFGS`` with a strong-Wolfe line search), and
``scipy.optimize.least_squares`` per target with an analytic Jacobian computed
once per point (cached between ``fun`` and ``jac``), stopped as soon as the
target meets the criterion.  PyTorch loops check the residual every 10
iterations (that check is part of their time, as it is for a user).

Every time is the median of ``--repeats`` (>= 3) runs with the min-max range,
after a warm-up; the compile and cold-start rows run in fresh processes with an
empty and a warm numba cache.  The analytic throughput is timed through
``symrecon.reconstruct(model, Y, method="analytic")`` (what users call, re-check
included); the bare ``analytic_inverse`` call is a labelled extra.

Only symrecon's public API is used (``reconstruct``, ``analytic_inverse``,
``Sequential``, ``Dense`` and the result fields ``x``/``success``/``residual``/
``n_iter``/``method``), so ``--symrecon-only`` runs against other checkouts.

The report is printed and written to ``benchmarks/RESULTS.md`` and the README's
benchmark section (``--no-write``: print only).  torch is a benchmark-only
dependency (``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if not os.environ.get("PYTHONPATH"):  # PYTHONPATH=/other/tree selects another checkout
    sys.path.insert(0, str(ROOT))

import symrecon as sr  # noqa: E402

THRESH = 1e-6
TIGHT = 1e-10
CRIT = 0.999  # "99.9 % of targets"
LR_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # log-spaced, 0.01..1
SWEEP_TARGETS = 2000
CHECK_EVERY = 10

#: issue 3's targets, every one gets a verdict
TARGETS = {
    "tanh_newton_s": 1.0,  # >= 99.9 % to <= 1e-10 in <= 1 s
    "sigmoid_newton_s": 0.5,  # >= 99.9 % to <= 1e-10 in <= 0.5 s
    "adam_ratio": 40.0,  # tanh: Adam to its median 1e-6 / newton
    "scipy_ratio": 50.0,  # tanh: per-target scipy / newton
    "analytic_rate": 10e6,  # targets per second, 1e6 tanh targets
    "analytic_vs_numpy": 3.0,
    "compile_s": 10.0,  # first call on a fresh install (empty cache)
    "cold_start_s": 1.0,  # new process with the cache on disk: import + first solve
    "linear_gd_rel": 1e-6,
    "linear_newton_iter": 3,
}


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# ---------------------------------------------------------------------------
# problems: plain arrays (the baselines use these), the symrecon model built from them

def _orth(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


FULL_SIZE = {"linear": 1, "tanh": 100_000, "sigmoid": 20_000, "relu": 20_000}


def make_layers(name: str):
    """``(layers, rng)``: the problem's ``[(W, b, activation), ...]`` and its generator, positioned for x."""
    rng = np.random.default_rng({"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3}[name])
    if name == "linear":
        return [(np.array([[0.4]]), np.array([-25.0]), "linear")], rng
    if name == "tanh":
        return [(0.9 * _orth(rng, 16), 0.1 * rng.normal(size=16), "tanh") for _ in range(3)], rng
    if name == "sigmoid":
        return [(rng.normal(size=(32, 64)) / np.sqrt(32), 0.1 * rng.normal(size=64), "sigmoid"),
                (rng.normal(size=(64, 8)) * 2 / np.sqrt(64), 0.1 * rng.normal(size=8), "sigmoid")], rng
    if name == "relu":
        return [(rng.normal(size=(8, 32)) / np.sqrt(8), 0.1 * rng.normal(size=32), "relu"),
                (rng.normal(size=(32, 8)) / np.sqrt(32), 0.1 * rng.normal(size=8), "linear")], rng
    raise ValueError(name)


def make_problem(name: str, n_targets: int | None = None):
    """``(model, x_true, y)`` of a named benchmark problem (seeded; the first n targets of the full set)."""
    layers, rng = make_layers(name)
    model = sr.Sequential([sr.Dense(w, b, act) for w, b, act in layers])
    if name == "linear":
        return model, np.array([[312.5]]), np.array([[100.0]])
    n_full = FULL_SIZE[name]
    x = rng.normal(size=(n_full, layers[0][0].shape[0]))[: n_targets or n_full]
    return model, x, np_forward(layers, x)


_NP_ACT = {"tanh": np.tanh, "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),
           "relu": lambda z: np.maximum(z, 0.0), "linear": lambda z: z}
_NP_DACT = {"tanh": lambda z, a: 1.0 - a * a, "sigmoid": lambda z, a: a * (1.0 - a),
            "relu": lambda z, a: (z > 0).astype(float), "linear": lambda z, a: np.ones_like(z)}


def np_forward(layers, x):
    a = np.asarray(x, dtype=np.float64)
    for w, b, act in layers:
        a = _NP_ACT[act](a @ w + b)
    return a


def residuals(layers, x, y) -> np.ndarray:
    """Max-norm residual per target (inf where x or the output is not finite)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    with np.errstate(all="ignore"):
        r = np.max(np.abs(np_forward(layers, x) - y), axis=1)
    return np.where(np.isfinite(r), r, np.inf)


# ---------------------------------------------------------------------------
# timings: median of runs with the range

@dataclass
class Timing:
    values: list

    @property
    def median(self) -> float:
        return float(np.median(self.values))

    def scaled(self, factor: float) -> "Timing":
        return Timing([v * factor for v in self.values])

    def __str__(self) -> str:
        if len(self.values) == 1:
            return fmt_t(self.values[0]) + " (1 run)"
        return f"{fmt_t(self.median)} [{fmt_t(min(self.values), unit=False)}–{fmt_t(max(self.values))}]"


def fmt_t(t, unit: bool = True):
    if t is None:
        return "—"
    s = f"{t:.3g}" if t >= 0.01 else f"{t * 1e3:.2g}"
    if unit:
        s += " s" if t >= 0.01 else " ms"
    elif t < 0.01:
        s += " ms"
    return s


def timed_runs(fn, repeats: int, warmup: bool = True):
    """``(Timing, last result)`` of ``fn()`` called ``repeats`` times, after one untimed call."""
    if warmup:
        fn()
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return Timing(times), out


@dataclass
class Row:
    problem: str
    method: str
    n_targets: int
    t999_6: Timing | None = None  # time to 99.9 % <= 1e-6
    t999_10: Timing | None = None  # time to 99.9 % <= 1e-10
    tmed_6: Timing | None = None  # time to median <= 1e-6
    best_frac6: float = 0.0  # best fraction <= 1e-6 reached
    t_best: Timing | None = None  # time to that best fraction
    best_frac10: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def _pct(f):
    return "—" if f is None else f"{100 * f:.2f} %"


def table(rows: list[Row]) -> list[str]:
    lines = ["| problem | method | targets | 99.9 % <= 1e-6 | 99.9 % <= 1e-10 | median <= 1e-6 | "
             "best fraction <= 1e-6 (at) | best fraction <= 1e-10 | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def cell(t):
            return "not reached" if t is None else str(t)
        lines.append(f"| {r.problem} | {r.method} | {r.n_targets:,} | {cell(r.t999_6)} | {cell(r.t999_10)} | "
                     f"{cell(r.tmed_6)} | {_pct(r.best_frac6)} ({'—' if r.t_best is None else fmt_t(r.t_best.median)})"
                     f" | {_pct(r.best_frac10)} | {r.note} |")
    return lines


# ---------------------------------------------------------------------------
# symrecon (public API only)

def _rec(model, y, **kw):
    """``sr.reconstruct`` without a progress bar (older checkouts have no ``progress`` option)."""
    try:
        return sr.reconstruct(model, y, progress=False, **kw)
    except TypeError as err:
        if "progress" not in str(err):
            raise
        return sr.reconstruct(model, y, **kw)


def symrecon_rows(problem: str, model, layers, y, repeats: int, method: str = "newton",
                  label: str = "symrecon newton") -> Row:
    n = y.shape[0]
    out = {}
    for tol in (THRESH, TIGHT):
        # warm-up on a batch big enough to take every code path, then the timed runs
        _rec(model, y[:5000], method=method, tol=tol)
        timing, res = timed_runs(lambda: _rec(model, y, method=method, tol=tol),
                                 repeats, warmup=False)
        r = residuals(layers, res.x, y)
        out[tol] = (timing, r, res)
    t6, r6, res6 = out[THRESH]
    t10, r10, res10 = out[TIGHT]
    f6, f10 = float(np.mean(r6 <= THRESH)), float(np.mean(r10 <= TIGHT))
    methods = np.atleast_1d(res10.method)
    names, counts = np.unique(methods, return_counts=True)
    used = ", ".join(f"{a}: {c:,}" for a, c in zip(names, counts))
    row = Row(problem, label, n, t999_6=t6 if f6 >= CRIT else None, t999_10=t10 if f10 >= CRIT else None,
              tmed_6=t6 if f6 >= 0.5 else None, best_frac6=f6, t_best=t6,
              best_frac10=f10,
              note=f"mean {np.mean(res10.n_iter):.1f} iterations; one call returns every target (median time = "
                   f"whole call); {used}")
    row.extra = {"t6": t6, "t10": t10, "f6": f6, "f10": f10}
    return row


def linear_rows(repeats: int) -> list[Row]:
    model, _, y = make_problem("linear")
    layers, _ = make_layers("linear")
    rows = []
    t, res = timed_runs(lambda: sr.reconstruct(model, y[0], method="gd", x0=[1.0], learning_rate=0.4,
                                               optimizer="constant", max_iter=200, tol=1e-12), repeats)
    x = float(np.asarray(res.x).ravel()[0])
    rel = abs(x - 312.5) / 312.5
    res_r = residuals(layers, [x], y)[0]
    ok, ok10 = res_r <= THRESH, res_r <= TIGHT
    rows.append(Row("linear", "symrecon gd (lr 0.4 from x = 1, 200 it max: the write-up)", 1,
                    t999_6=t if ok else None, tmed_6=t if ok else None, best_frac6=float(ok), t_best=t,
                    t999_10=t if ok10 else None, best_frac10=float(ok10),
                    note=f"x = {x:.10g}, rel. error {rel:.1e}, {int(np.max(res.n_iter))} iterations",
                    extra={"rel": rel}))
    t, res = timed_runs(lambda: sr.reconstruct(model, y[0], method="newton", x0=[1.0]), repeats)
    x = float(np.asarray(res.x).ravel()[0])
    res_r = residuals(layers, [x], y)[0]
    ok, ok10 = res_r <= THRESH, res_r <= TIGHT
    rows.append(Row("linear", "symrecon newton (from x = 1)", 1, t999_6=t if ok else None,
                    t999_10=t if ok10 else None, best_frac10=float(ok10),
                    tmed_6=t if ok else None, best_frac6=float(ok), t_best=t,
                    note=f"{int(np.max(res.n_iter))} iteration(s), x = {x:.10g}",
                    extra={"n_iter": int(np.max(res.n_iter))}))
    return rows


# ---------------------------------------------------------------------------
# PyTorch baselines: a batched loop on the input, residual checked every CHECK_EVERY iterations

def _torch_forward(layers):
    import torch

    acts = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "linear": lambda z: z}
    tl = [(torch.tensor(w), torch.tensor(b), acts[a]) for w, b, a in layers]

    def forward(x):
        for w, b, f in tl:
            x = f(x @ w + b)
        return x

    return forward


@dataclass
class Trajectory:
    iters: np.ndarray  # iteration count at each check
    frac6: np.ndarray
    frac10: np.ndarray
    times: np.ndarray  # (runs, checks) seconds since the loop started; NaN after a run stopped

    def first(self, values, level) -> int | None:
        hit = np.flatnonzero(values >= level)
        return int(hit[0]) if hit.size else None

    def timing(self, idx: int | None, scale: float = 1.0) -> Timing | None:
        if idx is None:
            return None
        col = self.times[:, idx]
        return Timing(list(col[np.isfinite(col)] * scale))


def torch_run(layers, y, kind: str, lr: float, max_iters: int, stop_at: int | None = None):
    """One run of a batched PyTorch loop; ``(iters, frac6, frac10, times)`` at every check."""
    import torch

    f = _torch_forward(layers)
    yt = torch.tensor(y)
    x = torch.zeros((y.shape[0], layers[0][0].shape[0]), dtype=torch.float64, requires_grad=True)
    if kind == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=CHECK_EVERY, history_size=20, tolerance_grad=1e-30,
                                tolerance_change=1e-30, line_search_fn="strong_wolfe")
    elif kind == "adam":
        opt = torch.optim.Adam([x], lr=lr)
    else:
        opt = torch.optim.SGD([x], lr=lr)

    def closure():
        opt.zero_grad()
        loss = ((f(x) - yt) ** 2).sum()  # a sum: every target gets its own, independent gradient
        loss.backward()
        return loss

    iters, f6, f10, times, meds = [], [], [], [], []
    limit = max_iters if stop_at is None else min(max_iters, stop_at)
    t0 = time.perf_counter()
    it = 0
    while it < limit:
        if kind == "lbfgs":
            opt.step(closure)
            it += CHECK_EVERY
        else:
            for _ in range(CHECK_EVERY):
                closure()
                opt.step()
            it += CHECK_EVERY
        with torch.no_grad():
            r = (f(x) - yt).abs().amax(dim=1).numpy()
        r = np.where(np.isfinite(r), r, np.inf)
        times.append(time.perf_counter() - t0)
        iters.append(it)
        f6.append(float(np.mean(r <= THRESH)))
        f10.append(float(np.mean(r <= TIGHT)))
        meds.append(float(np.median(r)))
        if f10[-1] >= CRIT:  # both criteria met: nothing left to gain
            break
    return np.array(iters), np.array(f6), np.array(f10), np.array(times), np.array(meds)


def torch_trajectory(layers, y, kind, lr, max_iters, repeats) -> Trajectory:
    """The first run goes to the cap (or both criteria); the others stop at the last point reported."""
    torch_run(layers, y[: min(len(y), 500)], kind, lr, 2 * CHECK_EVERY)  # warm-up
    iters, f6, f10, t, _ = torch_run(layers, y, kind, lr, max_iters)
    traj = Trajectory(iters, f6, f10, np.full((repeats, len(iters)), np.nan))
    traj.times[0] = t
    marks = [traj.first(f6, CRIT), traj.first(f10, CRIT), traj.first(f6, 0.5), int(np.argmax(f6))]
    last = max(m for m in marks if m is not None)
    for k in range(1, repeats):
        tk = torch_run(layers, y, kind, lr, max_iters, stop_at=int(iters[last]))[3]
        traj.times[k, : len(tk)] = tk
    return traj


def torch_scale(layers, y_full, y_sub, kind, lr, repeats, k_checks: int = 3) -> float:
    """Full-size time per iteration / subsample time per iteration (median of runs, first k checks)."""
    n_it = k_checks * CHECK_EVERY
    full, sub = [], []
    for _ in range(repeats):
        full.append(torch_run(layers, y_full, kind, lr, n_it)[3][-1])
        sub.append(torch_run(layers, y_sub, kind, lr, n_it)[3][-1])
    return float(np.median(full) / np.median(sub))


def trajectory_row(problem, label, n_full, traj: Trajectory, scale: float, max_iters: int, extrapolated: str) -> Row:
    i6, i10, imed = traj.first(traj.frac6, CRIT), traj.first(traj.frac10, CRIT), traj.first(traj.frac6, 0.5)
    ib = int(np.argmax(traj.frac6))
    end = len(traj.iters) - 1
    note = [f"best at iteration {traj.iters[ib]}"]
    if traj.frac10[end] < CRIT:
        note.append(f"at its cap ({max_iters} it): {_pct(traj.frac6[end])} <= 1e-6")
        if traj.frac6[end] < traj.frac6[ib] - 1e-12:
            note.append("fell back after its best")
    else:
        note.append(f"stopped at iteration {traj.iters[end]}: 99.9 % <= 1e-10")
    if extrapolated:
        note.append(extrapolated)
    return Row(problem, label, n_full, t999_6=traj.timing(i6, scale), t999_10=traj.timing(i10, scale),
               tmed_6=traj.timing(imed, scale), best_frac6=float(traj.frac6[ib]), t_best=traj.timing(ib, scale),
               best_frac10=float(np.max(traj.frac10)), note="; ".join(note))


def _sweep_key(res):
    """Fewest iterations to 99.9 % <= 1e-6; else the highest best fraction; else the lowest median residual.

    Iterations, not seconds: every rate costs the same per iteration, and counts do not depend on the load."""
    iters, f6, f10, t, meds = res
    hit = np.flatnonzero(f6 >= CRIT)
    if hit.size:
        return (0, float(iters[hit[0]]), 0.0)
    return (1, -float(np.max(f6)), float(np.min(meds)))


def lr_sweep(layers, y, kind, max_iters):
    """Learning-rate sweep on a subset (one run each); ``(best lr, printable lines)``."""
    ys = y[:SWEEP_TARGETS]
    results = {lr: torch_run(layers, ys, kind, lr, max_iters) for lr in LR_GRID}
    best = min(LR_GRID, key=lambda lr: _sweep_key(results[lr]))

    def at(iters, t, idx):
        return f"it {iters[idx[0]]} ({fmt_t(t[idx[0]])})" if idx.size else "not reached"

    lines = []
    for lr in LR_GRID:
        iters, f6, f10, t, meds = results[lr]
        ib = int(np.argmax(f6))
        lines.append(f"| {lr:g} | {_pct(f6[ib])} at it {iters[ib]} | {at(iters, t, np.flatnonzero(f6 >= 0.5))} | "
                     f"{at(iters, t, np.flatnonzero(f6 >= CRIT))} | {_pct(np.max(f10))} | {np.min(meds):.1e} |"
                     f"{' **chosen**' if lr == best else ''} |")
    return best, lines


def pick_torch_threads(layers, y, repeats: int) -> tuple[int, str]:
    """The faster of 1 and 2 torch threads for this problem (30 Adam iterations at full size, median)."""
    import torch

    times = {}
    torch_run(layers, y[:500], "adam", 0.1, 2 * CHECK_EVERY)  # warm-up
    for n_threads in (1, 2):
        torch.set_num_threads(n_threads)
        times[n_threads] = float(np.median([torch_run(layers, y, "adam", 0.1, 3 * CHECK_EVERY)[3][-1]
                                            for _ in range(repeats)]))
    best = min(times, key=times.get)
    torch.set_num_threads(best)
    return best, f"torch threads: 1 -> {fmt_t(times[1])}, 2 -> {fmt_t(times[2])} per 30 iterations; using {best}"


# ---------------------------------------------------------------------------
# scipy per target, natural form: residual and Jacobian computed once per point and cached

class _Reached(Exception):
    pass


def _np_residual_and_jacobian(layers, x, y):
    a = x
    jac = np.eye(x.size)
    for w, b, act in layers:
        z = a @ w + b
        a = _NP_ACT[act](z)
        jac = (jac @ w) * _NP_DACT[act](z, a)  # (n_in, n_l): d a / d x, transposed
    return a - y, jac.T


def scipy_per_target(layers, y, tol: float, rows: np.ndarray):
    """Per-target least_squares stopped at ``max |r| <= tol``; ``(durations, residuals)`` per target."""
    from scipy.optimize import least_squares

    n_in, n_out = layers[0][0].shape[0], y.shape[1]
    method = "lm" if n_out >= n_in else "trf"
    durations = np.empty(rows.size)
    xs = np.zeros((rows.size, n_in))
    for i, t in enumerate(rows):
        yt = y[t]
        cache = {}

        def fun(x):
            r, jac = _np_residual_and_jacobian(layers, x, yt)
            cache["x"], cache["jac"] = x.copy(), jac
            if np.max(np.abs(r)) <= tol:
                raise _Reached(x.copy())
            return r

        def jac(x):
            if "x" in cache and np.array_equal(cache["x"], x):
                return cache["jac"]
            return _np_residual_and_jacobian(layers, x, yt)[1]

        t0 = time.perf_counter()
        try:
            xs[i] = least_squares(fun, np.zeros(n_in), jac=jac, method=method, xtol=1e-15, ftol=1e-15,
                                  gtol=1e-15).x
        except _Reached as done:
            xs[i] = done.args[0]
        durations[i] = time.perf_counter() - t0
    return durations, residuals(layers, xs, y[rows])


def scipy_row(problem, layers, y, n_sub, repeats) -> Row:
    n = y.shape[0]
    rows = np.arange(n) if n_sub is None or n_sub >= n else np.sort(
        np.random.default_rng(9).choice(n, n_sub, replace=False))
    scale = n / rows.size
    scipy_per_target(layers, y, THRESH, rows[:20])  # warm-up
    cells = {}
    for tol in (THRESH, TIGHT):
        runs = [scipy_per_target(layers, y, tol, rows) for _ in range(repeats)]
        ok = runs[0][1] <= tol

        def time_to(level, runs=runs, ok=ok):
            need = math.ceil(level * rows.size)
            if ok.sum() < need:
                return None
            k = np.flatnonzero(ok)[need - 1]  # the target at which `need` of them are solved, in order
            return Timing([float(np.cumsum(d)[k]) * scale for d, _ in runs])

        cells[tol] = (time_to(CRIT), time_to(0.5), float(np.mean(ok)),
                      Timing([float(d.sum()) * scale for d, _ in runs]))
    t6, tmed, f6, whole6 = cells[THRESH]
    t10, _, f10, _ = cells[TIGHT]
    label = "scipy least_squares per target (cached Jacobian, stopped at the criterion)"
    note = f"{'lm' if y.shape[1] >= layers[0][0].shape[0] else 'trf'}; targets in order, each stopped at tol"
    if rows.size < n:
        note += f"; timed on {rows.size:,} targets, times x {scale:g} (extrapolated)"
    return Row(problem, label, n, t999_6=t6, t999_10=t10, tmed_6=tmed, best_frac6=f6, t_best=whole6,
               best_frac10=f10, note=note, extra={"extrapolated": rows.size < n})


# ---------------------------------------------------------------------------
# compile time and cold start, in fresh processes

_COLD = textwrap.dedent("""
    import sys, time, json
    t0 = time.perf_counter()
    import numba
    import symrecon as sr
    t_import = time.perf_counter() - t0
    sys.path.insert(0, {here!r})
    from run import make_problem
    model, x, y = make_problem("tanh", 64)
    t1 = time.perf_counter()
    res = sr.reconstruct(model, y, method="newton", tol=1e-10, progress=False)
    t_first = time.perf_counter() - t1
    t2 = time.perf_counter()
    try:
        res = sr.reconstruct(model, y, method="newton", tol=1e-10, progress=False, structured=False)
        t_damped = time.perf_counter() - t2
    except TypeError:
        t_damped = None
    print(json.dumps({{"import": t_import, "first_call": t_first, "damped_first_call": t_damped,
                      "success": bool(res.success.all())}}))
""")

_IMPORT_ONLY = textwrap.dedent("""
    import json, sys
    import symrecon
    # every numba dispatcher reachable from symrecon's modules, and how many signatures it compiled
    from numba.core.dispatcher import Dispatcher
    n = 0
    for name, mod in list(sys.modules.items()):
        if name.startswith("symrecon"):
            for obj in vars(mod).values():
                if isinstance(obj, Dispatcher):
                    n += len(obj.signatures)
    print(json.dumps({"signatures_after_import": n}))
""")


def _env(cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    paths = [p for p in (os.environ.get("PYTHONPATH"), None if os.environ.get("PYTHONPATH") else str(ROOT)) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _fresh(code, env):
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    # the whole process: a kernel compiling in the background (compile_ahead) finishes before it exits
    return dict(json.loads(p.stdout.strip().splitlines()[-1]), process=time.perf_counter() - t0)


def fresh_process_timings(repeats: int):
    """Compile (empty cache, one fresh cache per run) and cold start (cache on disk), ``repeats`` each."""
    code = _COLD.format(here=str(HERE))
    compile_runs, cold_runs = [], []
    with tempfile.TemporaryDirectory() as base:
        for k in range(repeats):
            cache = os.path.join(base, f"c{k}")
            compile_runs.append(_fresh(code, _env(cache)))
        for _ in range(repeats):
            cold_runs.append(_fresh(code, _env(cache)))
        imp = _fresh(_IMPORT_ONLY, _env(os.path.join(base, "empty")))

    def col(runs, key):
        vals = [r[key] for r in runs if r[key] is not None]
        return Timing(vals) if vals else None

    return {"compile_first": col(compile_runs, "first_call"), "compile_damped": col(compile_runs, "damped_first_call"),
            "compile_process": col(compile_runs, "process"),
            "cold_import": col(cold_runs, "import"), "cold_first": col(cold_runs, "first_call"),
            "cold_total": Timing([r["import"] + r["first_call"] for r in cold_runs]),
            "cold_damped": col(cold_runs, "damped_first_call"),
            "import_signatures": imp.get("signatures_after_import"),
            "success": all(r["success"] for r in compile_runs + cold_runs)}


# ---------------------------------------------------------------------------
# robustness: per-target success on reachable targets of random network families (issue 8)

ROBUST_METHODS = {"newton": {"method": "newton"}, "scipy lm": {"method": "scipy", "lsq_method": "lm"},
                  "scipy trf": {"method": "scipy", "lsq_method": "trf"}, "auto": {"method": "auto"}}


def robustness_section(quick: bool) -> list[str]:
    """Success per family (tests/robustness_families.py; larger samples than the test), scipy side by side."""
    sys.path.insert(0, str(ROOT / "tests"))
    from robustness_families import FAMILIES, SCALES, TOL, success_rates

    sample = {"n_models": 20 if quick else 60, "per_scale": 5}
    lines = ["", f"**Robustness** (reachable targets y = model(x_true), x_true ~ N(0, s^2), s in {SCALES}, start "
             f"x0 = 0, tol {TOL:g}, success = re-checked residual; {sample['n_models']} networks per family, "
             f"{sample['per_scale'] * len(SCALES)} targets each; `lm` needs n_out >= n_in and no bounds):", "",
             "| family | " + " | ".join(ROBUST_METHODS) + " | newton >= trf |", "|---" * (len(ROBUST_METHODS) + 2) + "|"]
    totals = {label: [0, 0] for label in ROBUST_METHODS}
    for family in FAMILIES:
        t0 = time.perf_counter()
        lm_ok = family not in ("wide_sigmoid", "bounded_box", "deep_narrow")
        methods = {k: v for k, v in ROBUST_METHODS.items() if lm_ok or k != "scipy lm"}
        counts = success_rates(family, methods, **sample)
        for label, (ok, n) in counts.items():
            totals[label][0] += ok
            totals[label][1] += n
        cells = [f"{counts[k][0] / counts[k][1]:.1%}" if k in counts else "n/a" for k in ROBUST_METHODS]
        lines.append(f"| {family} | " + " | ".join(cells) + f" | {verdict(counts['newton'][0] >= counts['scipy trf'][0])} |")
        print(f"  robustness {family}: {dict(zip(ROBUST_METHODS, cells))} ({time.perf_counter() - t0:.1f} s)", flush=True)
    overall = {k: ok / n for k, (ok, n) in totals.items() if n}
    lines.append("| **overall** | " + " | ".join(f"{overall[k]:.2%}" for k in ROBUST_METHODS) + " | |")
    lines += ["", f"- newton overall {overall['newton']:.2%} (target >= 99 %): {verdict(overall['newton'] >= 0.99)}; "
              f"auto {overall['auto']:.2%} (target >= 99.5 %): {verdict(overall['auto'] >= 0.995)}"]
    return lines


# ---------------------------------------------------------------------------
# analytic path: through reconstruct (what users call) and the bare inverse (labelled extra)

def interleaved_runs(fns: dict, repeats: int) -> tuple[dict, dict]:
    """``({name: Timing}, {name: last result})``: the functions in turn, ``repeats`` rounds.

    Interleaved so that a shared machine's load falls on every contender
    alike; each timed call right after an untimed call of the same function,
    so that it does not run next to the previous contender's worker threads
    (OpenBLAS's keep spinning for a while after a call: measured, NumPy's
    matrix products then slowed the next symrecon call from 73 to 110-124 ms).
    """
    out = {name: fn() for name, fn in fns.items()}
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            fn()
            t0 = time.perf_counter()
            out[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: Timing(v) for name, v in times.items()}, out


def analytic_throughput(repeats: int, n: int = 1_000_000):
    model, _, _ = make_problem("tanh", 10)
    layers, _ = make_layers("tanh")
    y = np_forward(layers, np.random.default_rng(11).normal(size=(n, 16)))
    inv = sr.analytic_inverse(model)
    inverses = [np.linalg.inv(w) for w, _, _ in layers]

    def numpy_closed_form():
        a = y
        for (w, b, _), winv in zip(reversed(layers), reversed(inverses)):
            a = (np.arctanh(a) - b) @ winv
        return a

    times, out = interleaved_runs({"reconstruct": lambda: _rec(model, y, method="analytic"),
                                   "numpy": numpy_closed_form, "inverse": lambda: inv(y)}, max(repeats, 5))
    res, x, x_np = out["reconstruct"], out["inverse"], out["numpy"]
    ok = bool(np.all(res.success))
    pairs = [a / b for a, b in zip(times["numpy"].values, times["reconstruct"].values)]
    err = float(max(np.max(np.abs(np.asarray(res.x) - x_np)), np.max(np.abs(np.asarray(x) - x_np))))
    return {"n": n, **times, "err": err, "success": ok, "pair_ratios": [round(r, 2) for r in pairs]}


_ONE_CORE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {here!r})
    import run
    ana = run.analytic_throughput({repeats}, {n})
    print(json.dumps({{"reconstruct": ana["reconstruct"].median, "numpy": ana["numpy"].median}}))
""")


def analytic_one_core(repeats: int, n: int) -> dict:
    """The analytic comparison again in a fresh process with one thread everywhere (numba, BLAS, OpenMP).

    The ratio per core: NumPy's elementwise passes run on one thread
    whatever the machine, the fused kernel on every core, so this is the
    ratio's floor on any machine and the 2-core figure is not.
    """
    one = {k: "1" for k in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env = dict(os.environ, **one)
    code = _ONE_CORE.format(here=str(HERE), repeats=repeats, n=n)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def rate(n, t: Timing) -> str:
    return f"{n / t.median / 1e6:.2f} M/s [{n / max(t.values) / 1e6:.2f}–{n / min(t.values) / 1e6:.2f}]"


# ---------------------------------------------------------------------------

def machine() -> str:
    import numba

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    try:
        import torch
        tv = torch.__version__
    except ImportError:
        tv = "not installed"
    return (f"{cpu}, {os.cpu_count()} logical cores, numba threads {numba.get_num_threads()}; "
            f"Python {platform.python_version()}, NumPy {np.__version__}, numba {numba.__version__}, torch {tv}; "
            f"symrecon from {Path(sr.__file__).resolve().parent.parent}")


def load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def ratio_cell(label, base: Timing | None, ours: Timing | None, target: float | None = None) -> str:
    """``label`` **ratio** (range), or why there is none; with a verdict where the issue sets a target."""
    tgt = f" (target >= {target:g}x: " if target else ""
    if ours is None:
        return f"{label} — (newton did not reach it)" + (tgt + "NOT met)" if target else "")
    if base is None:
        return f"{label} — (never reached by the baseline)" + (
            tgt + "met, the baseline never reached it within its cap)" if target else "")
    r = base.median / ours.median
    lo, hi = min(base.values) / max(ours.values), max(base.values) / min(ours.values)
    return f"{label} **{r:.1f}x** ({lo:.1f}–{hi:.1f})" + (tgt + verdict(r >= target) + ")" if target else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="baselines on subsamples (torch: fractions from a subsample, times scaled by the measured "
                         "full-size/subsample time per iteration; scipy: 1,000 targets, times scaled); labelled")
    ap.add_argument("--symrecon-only", action="store_true",
                    help="only symrecon's rows: newton tanh/sigmoid, analytic throughput, compile and cold start")
    ap.add_argument("--no-write", action="store_true", help="print only; do not rewrite RESULTS.md or the README")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (median and range; default 3)")
    ap.add_argument("--torch-iters", type=int, default=1200, help="iteration cap of the PyTorch Adam/GD loops")
    ap.add_argument("--lbfgs-iters", type=int, default=300, help="iteration cap of torch.optim.LBFGS")
    ap.add_argument("--problems", default="tanh,sigmoid,relu", help="comma-separated subset (development)")
    ap.add_argument("--max-targets", type=int, default=None,
                    help="development only: cut every problem (and the analytic batch) to this many targets")
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--readme", default=str(ROOT / "README.md"),
                    help="README whose benchmark section (between the benchmark markers) is replaced; '' to skip")
    args = ap.parse_args(argv)
    if args.repeats < 3:
        print(f"warning: --repeats {args.repeats} < 3: not a publishable measurement", file=sys.stderr)

    have_torch = False
    if not (args.no_torch or args.symrecon_only):
        try:
            import torch
            torch.set_num_threads(2)
            have_torch = True
        except ImportError:
            print("torch not installed: PyTorch baselines skipped (pip install torch==2.13.0)", file=sys.stderr)

    reps = args.repeats
    problems = [p for p in args.problems.split(",") if p]
    if args.symrecon_only:
        problems = [p for p in problems if p in ("tanh", "sigmoid")]
    started = time.perf_counter()
    mach, load_start = machine(), load()
    print("machine:", mach, flush=True)
    print("load average (1/5/15 min) at start:", load_start, flush=True)

    rows: list[Row] = []
    sweeps: list[str] = []
    newton = {}
    base = {}
    if not args.symrecon_only:
        rows += linear_rows(reps)

    fresh = fresh_process_timings(reps)
    print("compile / cold start:", {k: str(v) for k, v in fresh.items()}, flush=True)

    for name in problems:
        model, _, y = make_problem(name, args.max_targets)
        layers, _ = make_layers(name)
        n = y.shape[0]
        print(f"[{name}] {n:,} targets", flush=True)
        row = symrecon_rows(name, model, layers, y, reps)
        rows.append(row)
        newton[name] = row
        print(f"  newton: {row.extra['t6']} to 1e-6 ({row.extra['f6']:.4%}), {row.extra['t10']} to 1e-10 "
              f"({row.extra['f10']:.4%})", flush=True)
        if name == "tanh" and not args.symrecon_only:
            rows.append(symrecon_rows(name, model, layers, y, reps, method="auto", label="symrecon auto (closed form)"))
        if args.symrecon_only:
            continue

        base[name] = {}
        if have_torch:
            n_torch = min(n, {"tanh": 10_000, "sigmoid": 5_000, "relu": 5_000}[name]) if args.quick else n
            y_t = y[:n_torch]
            n_threads, thread_note = pick_torch_threads(layers, y, reps)
            print("  " + thread_note, flush=True)
            sweeps += [f"**{name}**: {thread_note}.", ""]
            for kind, title in (("adam", "Adam"), ("gd", "GD")):
                lr, lines = lr_sweep(layers, y, kind, args.torch_iters)
                sweeps += [f"**{name}, PyTorch {title}**, {SWEEP_TARGETS:,} targets, {args.torch_iters} it max "
                           f"(one run each; the rate with the fewest iterations to 99.9 % is chosen, else the highest "
                           f"best fraction):", "",
                           "| lr | best fraction <= 1e-6 | median <= 1e-6 at | 99.9 % <= 1e-6 at | best <= 1e-10 | "
                           "lowest median residual | |", "|---|---|---|---|---|---|---|", *lines, ""]
                print("\n".join(sweeps[-len(lines) - 5:]), flush=True)
                traj = torch_trajectory(layers, y_t, kind, lr, args.torch_iters, reps)
                scale, extra = 1.0, ""
                if n_torch < n:
                    scale = torch_scale(layers, y, y_t, kind, lr, reps)
                    extra = (f"fractions from {n_torch:,} targets, times x {scale:.2f} = measured full-size / "
                             f"subsample time per iteration (extrapolated)")
                r = trajectory_row(name, f"PyTorch {title} (lr {lr:g}, swept; {args.torch_iters} it max)", n, traj,
                                   scale, args.torch_iters, extra)
                rows.append(r)
                base[name][kind] = r
                print(f"  torch {kind} lr {lr}: best {r.best_frac6:.4%} at {r.t_best}", flush=True)
            traj = torch_trajectory(layers, y_t, "lbfgs", 1.0, args.lbfgs_iters, reps)
            scale, extra = 1.0, ""
            if n_torch < n:
                scale = torch_scale(layers, y, y_t, "lbfgs", 1.0, reps)
                extra = (f"fractions from {n_torch:,} targets, times x {scale:.2f} = measured full-size / "
                         f"subsample time per iteration (extrapolated)")
            r = trajectory_row(name, f"PyTorch LBFGS (whole batch, strong Wolfe, {args.lbfgs_iters} it max)", n,
                               traj, scale, args.lbfgs_iters, extra)
            rows.append(r)
            base[name]["lbfgs"] = r
            print(f"  torch lbfgs: best {r.best_frac6:.4%} at {r.t_best}", flush=True)

        r = scipy_row(name, layers, y, 1000 if args.quick else None, reps)
        rows.append(r)
        base[name]["scipy"] = r
        print(f"  scipy: 99.9 % <= 1e-6 {r.t999_6}, <= 1e-10 {r.t999_10}", flush=True)

    ana = analytic_throughput(reps, min(1_000_000, args.max_targets or 1_000_000))
    print("analytic:", {k: str(v) for k, v in ana.items()}, flush=True)
    ana_one = analytic_one_core(reps, ana["n"])
    print("analytic, one thread:", ana_one, flush=True)
    total = time.perf_counter() - started
    load_end = load()

    # ---- ratios on like criteria
    out = []
    if base:
        out += ["", "**Ratios measured in this run** (baseline time / symrecon newton time, same criterion; "
                "medians, range = slowest/fastest combinations):", ""]
        for name in base:
            nr = newton[name]
            for key, title in (("adam", "PyTorch Adam (tuned)"), ("gd", "PyTorch GD (tuned)"),
                               ("lbfgs", "PyTorch LBFGS"), ("scipy", "per-target scipy")):
                if key not in base[name]:
                    continue
                b = base[name][key]
                best = f" (its best: {_pct(b.best_frac6)} <= 1e-6 at {fmt_t(b.t_best.median if b.t_best else None)})"
                ext = " (extrapolated)" if "extrapolated" in b.note else ""
                tgt_m = TARGETS["adam_ratio"] if (name, key) == ("tanh", "adam") else None
                tgt_s = TARGETS["scipy_ratio"] if (name, key) == ("tanh", "scipy") else None
                parts = [ratio_cell("median <= 1e-6", b.tmed_6, nr.tmed_6, tgt_m),
                         ratio_cell("99.9 % <= 1e-6", b.t999_6, nr.t999_6, None),
                         ratio_cell("99.9 % <= 1e-10", b.t999_10, nr.t999_10, tgt_s)]
                out.append(f"- {name}, {title}{ext} / newton: " + "; ".join(parts) + best)
    if sweeps:
        out += ["", "**Learning-rate sweeps** (the chosen rate is used for the row above):", "", *sweeps]

    out += robustness_section(args.quick)
    # ---- a verdict on every target
    v = ["", "**Issue targets** (medians of the runs; every target has a verdict):", ""]
    for name, limit in (("tanh", TARGETS["tanh_newton_s"]), ("sigmoid", TARGETS["sigmoid_newton_s"])):
        if name in newton:
            e = newton[name].extra
            ok = e["f10"] >= CRIT and e["t10"].median <= limit
            v.append(f"- {name} {newton[name].n_targets:,} targets: newton {e['f10']:.3%} to <= 1e-10 in {e['t10']} "
                     f"(target >= 99.9 % in <= {limit:g} s): {verdict(ok)}")
    for r in rows:
        if r.problem == "linear" and "gd" in r.method:
            v.append(f"- write-up linear, gd: rel. error {r.extra['rel']:.1e} (target <= 1e-6): "
                     f"{verdict(r.extra['rel'] <= TARGETS['linear_gd_rel'])}")
        if r.problem == "linear" and "newton" in r.method:
            v.append(f"- write-up linear, newton: {r.extra['n_iter']} iteration(s) (target <= 3): "
                     f"{verdict(r.extra['n_iter'] <= TARGETS['linear_newton_iter'] and r.best_frac6 == 1)}")
    n_a = ana["n"]
    rate_rec = n_a / ana["reconstruct"].median
    rate_np = n_a / ana["numpy"].median
    v.append(f"- analytic path, {n_a:,} tanh targets through `reconstruct(model, Y, method=\"analytic\")` (re-check "
             f"included): {rate(n_a, ana['reconstruct'])} (target >= 10 M/s): "
             f"{verdict(rate_rec >= TARGETS['analytic_rate'] and ana['success'])}")
    v.append(f"- analytic path vs a straightforward NumPy closed form ({rate(n_a, ana['numpy'])}): "
             f"**{rate_rec / rate_np:.1f}x** (target >= 3x; per interleaved pair {np.median(ana['pair_ratios']):.2f}x "
             f"[{min(ana['pair_ratios']):.2f}–{max(ana['pair_ratios']):.2f}]): "
             f"{verdict(rate_rec / rate_np >= TARGETS['analytic_vs_numpy'])}")
    v.append(f"- the same on one core (fresh process, one thread for numba and BLAS): reconstruct "
             f"{n_a / ana_one['reconstruct'] / 1e6:.2f} M/s, NumPy {n_a / ana_one['numpy'] / 1e6:.2f} M/s: "
             f"**{ana_one['numpy'] / ana_one['reconstruct']:.1f}x** per core (information: NumPy's elementwise "
             f"passes stay on one thread on any machine, the kernel uses every core)")
    v.append(f"- extra, not a target: the bare `analytic_inverse(model)(Y)` call: {rate(n_a, ana['inverse'])} "
             f"({n_a / ana['inverse'].median / rate_np:.1f}x NumPy); max |dx| against NumPy {ana['err']:.1e}")
    cf, cd = fresh["compile_first"], fresh["compile_damped"]
    v.append(f"- numba compile, empty cache, fresh process, first newton call (square net): {cf} "
             f"(target <= 10 s): {verdict(cf.median <= TARGETS['compile_s'])}")
    if cd is not None:
        v.append(f"- numba compile of the damped (unstructured) newton kernel, same process (what is left of its "
                 f"background compile, started by the first call): {cd} "
                 f"(target <= 10 s): {verdict(cd.median <= TARGETS['compile_s'])}")
    else:
        v.append("- numba compile of the damped kernel: this checkout has no `structured=False` option: NOT measured")
    v.append(f"- the whole fresh process on an empty cache (import, data, both calls, exit): {fresh['compile_process']}")
    v.append(f"- cold start, new process, cache on disk, `import symrecon` + first solve: {fresh['cold_total']} "
             f"(import {fresh['cold_import']}, first solve {fresh['cold_first']}) (target: solving within <= 1 s): "
             f"{verdict(fresh['cold_total'].median <= TARGETS['cold_start_s'])}")
    v.append(f"- cold start, first solve alone: {fresh['cold_first']} (<= 1 s): "
             f"{verdict(fresh['cold_first'].median <= TARGETS['cold_start_s'])}")
    sig = fresh["import_signatures"]
    v.append(f"- kernels compiled by `import symrecon`: {sig} (target 0): {verdict(sig == 0)}")

    mode = (f"--max-targets {args.max_targets}: DEVELOPMENT RUN, not a measurement. " if args.max_targets else "") + (
        "--symrecon-only: symrecon rows only. " if args.symrecon_only else "") + (
        "--quick: baselines on subsamples, extrapolated times labelled in the rows. " if args.quick else "")
    tail = ["", f"Whole benchmark: {total:.0f} s; {reps} timed runs per row after a warm-up. {mode}"
                f"Load average (1/5/15 min): {load_start} at start, {load_end} at the end "
                f"(the machine is shared; a load near the core count inflates every time)."]
    body = "\n".join(table(rows) + out + v + tail)
    command = " ".join(["python benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
    print()
    print(body)
    if args.no_write:
        return 0
    how = ("Residual = max-norm |model(x) - y| per target, computed by the benchmark; every target is reachable "
           "(y = model(x_true)). Every method is timed to the same criteria: 99.9 % of the targets <= 1e-6, "
           "99.9 % <= 1e-10, and the median target <= 1e-6. Times are wall-clock medians of the runs [min–max], "
           "after a warm-up, except the compile and cold-start rows (fresh processes). \"best fraction\" is the "
           "highest fraction a method reached and when; \"not reached\" means never within its iteration cap. "
           "PyTorch learning rates are swept in the same run (tables below) and the best per problem is used; "
           "scipy computes residual and Jacobian once per point and stops each target at the criterion.\n\n")
    header = f"# symrecon benchmark results\n\nRegenerate with `{command}`.\n\nMachine: {mach}\n\n"
    Path(args.output).write_text(header + how + body + "\n")
    print(f"\nwritten to {args.output}")
    if args.readme:
        update_readme(Path(args.readme), f"Measured with `{command}` on: {mach}\n\n" + how + body)
    return 0


README_START = "<!-- benchmark:start (written by benchmarks/run.py) -->"
README_END = "<!-- benchmark:end -->"


def update_readme(readme: Path, section: str) -> None:
    """Replace the README's benchmark section (between the two markers) with ``section``."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        print(f"{readme}: benchmark markers not found; README left unchanged", file=sys.stderr)
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{section}\n{README_END}{tail}", encoding="utf-8")
    print(f"benchmark section of {readme} updated")


if __name__ == "__main__":
    raise SystemExit(main())
