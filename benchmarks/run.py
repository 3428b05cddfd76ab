"""symrecon benchmark: one command, baselines measured in the same run.

Usage::

    python benchmarks/run.py            # everything, per-target scipy on every target (~5 min)
    python benchmarks/run.py --quick    # per-target baselines on a subsample, extrapolated (labelled)

Problems (seeded, float64), from issue 3:

* ``linear``   the write-up's one-unit model, W = 0.4, b = -25, y0 = 100;
* ``tanh``     16-16-16-16 tanh MLP, orthogonal x 0.9 weights, 100 000 targets;
* ``sigmoid``  32 -> 64 -> 8 sigmoid MLP (underdetermined), 20 000 targets;
* ``relu``     8 -> 32 ReLU -> 8 linear, 20 000 targets (dead units: no local
  method solves all of them; reported as it is).

Targets are ``y = model(x_true)`` with ``x_true ~ N(0, 1)``, so every one is
reachable.  For every method the table gives the wall time to bring targets to
a max-norm residual <= 1e-6 and the fraction that got there; symrecon's
``newton`` is also run to 1e-10 (the issue's target).  Baselines are what a
user would otherwise write: a batched PyTorch autograd loop on the input (Adam,
plain gradient descent, ``torch.optim.LBFGS``) and ``scipy.optimize.least_squares``
per target.  numba compile time (empty cache) and cold start (a new process
loading the cache) are measured in fresh processes.  The analytic path is
timed on 1 000 000 tanh targets against a straightforward NumPy closed form.

The table is printed and written to ``benchmarks/RESULTS.md`` with the machine
description.  torch is a benchmark-only dependency (``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT))

import symrecon as sr  # noqa: E402

THRESH = 1e-6
TIGHT = 1e-10


# ---------------------------------------------------------------------------
# problems

def _orth(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def make_problem(name: str, n_targets: int | None = None):
    """``(model, x_true, y)`` of a named benchmark problem (seeded)."""
    rng = np.random.default_rng({"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3}[name])
    if name == "linear":
        model = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
        x = np.array([[312.5]])
        return model, x, np.array([[100.0]])
    if name == "tanh":
        model = sr.Sequential([sr.Dense(0.9 * _orth(rng, 16), 0.1 * rng.normal(size=16), "tanh") for _ in range(3)])
        n = n_targets or 100_000
        x = rng.normal(size=(n, 16))
    elif name == "sigmoid":
        model = sr.Sequential([
            sr.Dense(rng.normal(size=(32, 64)) / np.sqrt(32), 0.1 * rng.normal(size=64), "sigmoid"),
            sr.Dense(rng.normal(size=(64, 8)) * 2 / np.sqrt(64), 0.1 * rng.normal(size=8), "sigmoid"),
        ])
        n = n_targets or 20_000
        x = rng.normal(size=(n, 32))
    elif name == "relu":
        model = sr.Sequential([
            sr.Dense(rng.normal(size=(8, 32)) / np.sqrt(8), 0.1 * rng.normal(size=32), "relu"),
            sr.Dense(rng.normal(size=(32, 8)) / np.sqrt(32), 0.1 * rng.normal(size=8), "linear"),
        ])
        n = n_targets or 20_000
        x = rng.normal(size=(n, 8))
    else:
        raise ValueError(name)
    return model, x, model(x)


def residuals(model, x, y) -> np.ndarray:
    with np.errstate(all="ignore"):
        r = np.max(np.abs(model(x) - y), axis=1) if np.all(np.isfinite(x)) else np.full(len(y), np.inf)
    return np.where(np.isfinite(r), r, np.inf)


# ---------------------------------------------------------------------------
# one row of the table

@dataclass
class Row:
    problem: str
    method: str
    n_targets: int
    time_1e6: float | None  # seconds to reach the reported fraction at <= 1e-6 (None: never)
    frac_1e6: float
    time_tight: float | None = None
    frac_tight: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# symrecon

def run_symrecon(problem, model, y, method, tol, **opts):
    # warm up with a batch big enough to take every code path (the closed form switches to its
    # numba kernel for large batches), so that no compilation lands in the timed call
    sr.reconstruct(model, y[:5000], method=method, tol=tol, progress=False, **opts)
    t0 = time.perf_counter()
    res = sr.reconstruct(model, y, method=method, tol=tol, progress=False, **opts)
    el = time.perf_counter() - t0
    r = residuals(model, np.atleast_2d(res.x), y)
    return el, r, res


# ---------------------------------------------------------------------------
# torch baselines

def _torch_model(model):
    import torch

    layers = []
    acts = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "linear": lambda z: z}
    for layer in model.layers:
        layers.append((torch.tensor(layer.kernel), torch.tensor(layer.bias), acts[layer.activation.name]))

    def forward(x):
        for w, b, f in layers:
            x = f(x @ w + b)
        return x

    return forward


def torch_loop(model, y, kind: str, lr: float, max_iters: int, check_every: int = 10):
    """Batched input optimisation in PyTorch; returns (time to median <= 1e-6, final fraction, time log)."""
    import torch

    f = _torch_model(model)
    yt = torch.tensor(y)
    x = torch.zeros((y.shape[0], model.n_in), dtype=torch.float64, requires_grad=True)
    opt = {"adam": lambda: torch.optim.Adam([x], lr=lr), "gd": lambda: torch.optim.SGD([x], lr=lr)}[kind]()
    t_median = t_999 = None
    frac = 0.0
    t0 = time.perf_counter()
    for it in range(max_iters):
        opt.zero_grad()
        out = f(x)
        loss = ((out - yt) ** 2).sum()  # a sum: every target gets its own, independent gradient
        loss.backward()
        opt.step()
        if it % check_every == check_every - 1 or it == max_iters - 1:
            with torch.no_grad():
                r = (f(x) - yt).abs().amax(dim=1).numpy()
            frac = float(np.mean(r <= THRESH))
            now = time.perf_counter() - t0
            if t_median is None and frac >= 0.5:
                t_median = now
            if t_999 is None and frac >= 0.999:
                t_999 = now
                break
    return t_median, t_999, frac, time.perf_counter() - t0


def torch_lbfgs(model, y, max_iters: int = 500):
    import torch

    f = _torch_model(model)
    yt = torch.tensor(y)
    x = torch.zeros((y.shape[0], model.n_in), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=max_iters, history_size=20, tolerance_grad=1e-30,
                            tolerance_change=1e-30, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((f(x) - yt) ** 2).sum()
        loss.backward()
        return loss

    t0 = time.perf_counter()
    opt.step(closure)
    el = time.perf_counter() - t0
    with torch.no_grad():
        r = (f(x) - yt).abs().amax(dim=1).numpy()
    return el, r


# ---------------------------------------------------------------------------
# scipy per target

def scipy_per_target(model, y, n_sub: int | None):
    from scipy.optimize import least_squares

    from symrecon.solvers.scipy_opt import residual_and_jacobian

    rows = np.arange(y.shape[0]) if n_sub is None or n_sub >= y.shape[0] else \
        np.random.default_rng(9).choice(y.shape[0], n_sub, replace=False)
    method = "lm" if model.n_out >= model.n_in else "trf"
    xs = np.zeros((rows.size, model.n_in))
    t0 = time.perf_counter()
    for i, t in enumerate(rows):
        yt = y[t]
        sol = least_squares(lambda x: residual_and_jacobian(model, x, yt)[0], np.zeros(model.n_in),
                            jac=lambda x: residual_and_jacobian(model, x, yt)[1], method=method,
                            xtol=1e-15, ftol=1e-15, gtol=1e-15)
        xs[i] = sol.x
    el = time.perf_counter() - t0
    r = residuals(model, xs, y[rows])
    scale = y.shape[0] / rows.size
    return el * scale, r, rows.size


# ---------------------------------------------------------------------------
# compile time and cold start, in fresh processes

_COLD = textwrap.dedent("""
    import sys, time, json
    t0 = time.perf_counter()
    sys.path.insert(0, {root!r})
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
    res = sr.reconstruct(model, y, method="newton", tol=1e-10, progress=False, structured=False)
    t_damped = time.perf_counter() - t2
    print(json.dumps({{"import": t_import, "first_call": t_first, "damped_first_call": t_damped,
                      "success": bool(res.success.all())}}))
""")

_IMPORT_ONLY = textwrap.dedent("""
    import sys, json
    sys.path.insert(0, {root!r})
    import symrecon
    from symrecon.backends.numba import gauss_newton as gn, gd, forward, activations
    n = sum(len(f.signatures) for f in (gn._lm_chunk, gn._gn_chunk, gd._gd_prange, forward.forward_batch,
                                        activations.act_vec))
    print(json.dumps({{"signatures_after_import": n}}))
""")


def fresh_process_timings():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        code = _COLD.format(root=str(ROOT), here=str(HERE))
        out = {}
        for label in ("compile", "cold_start"):
            p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
            if p.returncode != 0:
                raise RuntimeError(p.stderr[-2000:])
            out[label] = json.loads(p.stdout.strip().splitlines()[-1])
        p = subprocess.run([sys.executable, "-c", _IMPORT_ONLY.format(root=str(ROOT))], env=env, capture_output=True,
                           text=True, timeout=300)
        out["import"] = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {"error": p.stderr}
    return out


# ---------------------------------------------------------------------------
# analytic path

def analytic_throughput(n: int = 1_000_000):
    model, _, _ = make_problem("tanh", 10)
    rng = np.random.default_rng(11)
    y = model(rng.normal(size=(n, 16)))
    inv = sr.analytic_inverse(model)
    inv(y[:100_000])  # compile / load
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        x = inv(y)
        best = min(best, time.perf_counter() - t0)
    inverses = [np.linalg.inv(layer.kernel) for layer in model.layers]

    def numpy_closed_form(yy):
        a = yy
        for layer, winv in zip(reversed(model.layers), reversed(inverses)):
            a = (np.arctanh(a) - layer.bias) @ winv
        return a

    best_np = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        x_np = numpy_closed_form(y)
        best_np = min(best_np, time.perf_counter() - t0)
    err = float(np.max(np.abs(x - x_np)))
    return n / best, n / best_np, err


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} logical cores, numba threads {numba.get_num_threads()}; "
            f"Python {platform.python_version()}, NumPy {np.__version__}, numba {numba.__version__}, torch {tv}; "
            f"load average at start {load:.2f}")


def fmt_t(t):
    return "—" if t is None else (f"{t:.3g} s" if t >= 0.01 else f"{t * 1e3:.2g} ms")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="per-target scipy on a 2,000-target subsample, time extrapolated (labelled in the table)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines")
    ap.add_argument("--torch-iters", type=int, default=1200,
                    help="iteration cap of the PyTorch Adam/GD loops (LBFGS gets a third of it); default 1200, "
                         "as in the issue's reference measurement")
    ap.add_argument("--lbfgs-iters", type=int, default=None,
                    help="iteration cap of torch.optim.LBFGS (default: a third of --torch-iters)")
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--readme", default=str(HERE.parent / "README.md"),
                    help="README whose benchmark section (between the benchmark markers) is replaced; '' to skip")
    args = ap.parse_args(argv)

    try:
        import torch
        torch.set_num_threads(2)
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        print("torch not installed: PyTorch baselines skipped (pip install torch==2.13.0)", file=sys.stderr)

    sub = 2000 if args.quick else None
    rows: list[Row] = []
    started = time.perf_counter()
    mach = machine()
    print("machine:", mach, flush=True)

    # -- write-up linear case
    model, x_true, y = make_problem("linear")
    res = sr.reconstruct(model, y[0], method="gd", x0=[1.0], learning_rate=0.4, optimizer="constant", max_iter=200,
                         tol=1e-12)
    rel = abs(res.x[0] - 312.5) / 312.5
    rows.append(Row("linear", "symrecon gd (lr 0.4, 200 it, write-up)", 1, res.elapsed, float(res.residual <= THRESH),
                    note=f"x = {res.x[0]:.10g}, rel. error {rel:.1e}"))
    res = sr.reconstruct(model, y[0], method="newton", x0=[1.0])
    rows.append(Row("linear", "symrecon newton", 1, res.elapsed, float(res.residual <= THRESH),
                    note=f"{res.n_iter} iteration(s), x = {res.x[0]:.10g}"))

    fresh = fresh_process_timings()
    print("compile / cold start:", fresh, flush=True)

    summary = {}
    for name in ("tanh", "sigmoid", "relu"):
        model, x_true, y = make_problem(name)
        n = y.shape[0]
        print(f"[{name}] {n} targets", flush=True)
        el6, r6, _ = run_symrecon(name, model, y, "newton", THRESH)
        el10, r10, res10 = run_symrecon(name, model, y, "newton", TIGHT)
        rows.append(Row(name, "symrecon newton", n, el6, float(np.mean(r6 <= THRESH)), el10,
                        float(np.mean(r10 <= TIGHT)), note=f"mean {np.mean(res10.n_iter):.1f} iterations"))
        summary[name] = {"newton_1e6": el6, "newton_1e10": el10, "frac_1e10": float(np.mean(r10 <= TIGHT))}
        if name == "tanh":
            el, r, res = run_symrecon(name, model, y, "auto", TIGHT)
            rows.append(Row(name, "symrecon auto (closed form)", n, el, float(np.mean(r <= THRESH)), el,
                            float(np.mean(r <= TIGHT)), note=str(res.summary()["methods"])))
        print(f"  newton: {el6:.3g} s to 1e-6, {el10:.3g} s to 1e-10 ({np.mean(r10 <= TIGHT):.4%})", flush=True)

        if have_torch:
            lr_adam = {"tanh": 0.05, "sigmoid": 0.1, "relu": 0.05}[name]
            iters = args.torch_iters
            t_med, t_999, frac, total = torch_loop(model, y, "adam", lr_adam, iters)
            rows.append(Row(name, f"PyTorch Adam (lr {lr_adam}, untuned, {iters} it max)", n, t_999 if t_999 else total, frac,
                            note=f"median <= 1e-6 at {fmt_t(t_med)}" + ("" if t_999 else "; never 99.9 %")))
            summary[name]["adam_median"] = t_med
            summary[name]["adam_total"] = total
            lr_gd = {"tanh": 0.2, "sigmoid": 0.5, "relu": 0.2}[name]
            t_med_g, t_999_g, frac_g, total_g = torch_loop(model, y, "gd", lr_gd, iters)
            rows.append(Row(name, f"PyTorch GD (lr {lr_gd}, {iters} it max)", n, t_999_g if t_999_g else total_g,
                            frac_g, note=f"median <= 1e-6 at {fmt_t(t_med_g)}"))
            lbfgs_iters = args.lbfgs_iters or max(1, iters // 3)
            el_l, r_l = torch_lbfgs(model, y, lbfgs_iters)
            rows.append(Row(name, f"PyTorch LBFGS (whole batch, strong Wolfe, {lbfgs_iters} it max)", n, el_l, float(np.mean(r_l <= THRESH))))
            print(f"  torch done: adam median {t_med}, lbfgs {el_l:.3g}s", flush=True)

        el_s, r_s, n_run = scipy_per_target(model, y, sub)
        label = "scipy least_squares per target" + (f" (timed on {n_run}, extrapolated)" if n_run < n else "")
        rows.append(Row(name, label, n, el_s, float(np.mean(r_s <= THRESH)), None, float(np.mean(r_s <= TIGHT))))
        summary[name]["scipy"] = el_s
        summary[name]["scipy_extrapolated"] = n_run < n
        print(f"  scipy: {el_s:.3g} s", flush=True)

    tps, tps_np, err = analytic_throughput()
    total = time.perf_counter() - started

    # ---- table
    lines = ["| problem | method | targets | time to <= 1e-6 | fraction <= 1e-6 | time to <= 1e-10 | "
             "fraction <= 1e-10 | note |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.problem} | {r.method} | {r.n_targets:,} | {fmt_t(r.time_1e6)} | {r.frac_1e6:.2%} | "
                     f"{fmt_t(r.time_tight)} | {'—' if r.frac_tight is None else f'{r.frac_tight:.2%}'} | {r.note} |")
    ratios = ["", "**Ratios measured in this run** (baseline time / symrecon newton time):", ""]
    t = summary["tanh"]
    if "adam_median" in t:
        adam_ref = t["adam_median"] if t["adam_median"] else t["adam_total"]
        tag = "" if t["adam_median"] else " (Adam never reached the median: its whole run)"
        ratios.append(f"- tanh, PyTorch Adam to median 1e-6{tag} / newton to 99.9 % at 1e-10: "
                      f"**{adam_ref / t['newton_1e10']:.1f}x** (target >= 40x)")
    ratios.append(f"- tanh, per-target scipy{' (extrapolated)' if t['scipy_extrapolated'] else ''} / newton to 1e-10: "
                  f"**{t['scipy'] / t['newton_1e10']:.1f}x** (target >= 50x)")
    s = summary["sigmoid"]
    ratios.append(f"- sigmoid, per-target scipy{' (extrapolated)' if s['scipy_extrapolated'] else ''} / newton to 1e-10: "
                  f"**{s['scipy'] / s['newton_1e10']:.1f}x**")
    if "adam_total" in s:
        ratios.append(f"- sigmoid, PyTorch Adam run / newton to 1e-10: **{s['adam_total'] / s['newton_1e10']:.1f}x**")
    ratios += [
        "", "**Issue targets**:", "",
        f"- tanh 100,000: newton {t['frac_1e10']:.3%} to <= 1e-10 in {t['newton_1e10']:.3g} s "
        f"(target >= 99.9 % in <= 1 s): {'met' if t['frac_1e10'] >= 0.999 and t['newton_1e10'] <= 1 else 'NOT met'}",
        f"- sigmoid 20,000: newton {s['frac_1e10']:.3%} to <= 1e-10 in {s['newton_1e10']:.3g} s "
        f"(target >= 99.9 % in <= 0.5 s): {'met' if s['frac_1e10'] >= 0.999 and s['newton_1e10'] <= 0.5 else 'NOT met'}",
        f"- analytic path, 1,000,000 tanh targets: {tps / 1e6:.2f} M targets/s vs straightforward NumPy "
        f"{tps_np / 1e6:.2f} M/s = **{tps / tps_np:.1f}x** (max |dx| {err:.1e}; target >= 10 M/s and >= 3x)",
        f"- numba compile (empty cache, fresh process, first newton call on a square net): "
        f"{fresh['compile']['first_call']:.2f} s + {fresh['compile']['damped_first_call']:.2f} s for the damped "
        f"kernel (target <= 10 s)",
        f"- cold start (new process, cache on disk): import {fresh['cold_start']['import']:.2f} s, first solve "
        f"{fresh['cold_start']['first_call']:.2f} s (+{fresh['cold_start']['damped_first_call']:.2f} s damped) "
        f"(target <= 1 s); kernels compiled by `import symrecon`: "
        f"{fresh['import'].get('signatures_after_import', 'n/a')}",
        "", f"Whole benchmark: {total:.0f} s.{' --quick: per-target baselines subsampled and extrapolated.' if args.quick else ''}",
    ]
    body = "\n".join(lines + ratios)
    command = " ".join(["python benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
    header = ("# symrecon benchmark results\n\n"
              f"Regenerate with `{command}`.\n\nMachine: {mach}\n\n"
              "Residual = max-norm |model(x) - y| per target; every target is reachable (y = model(x_true)). "
              "Times are wall-clock after compilation unless stated.\n\n")
    print()
    print(body)
    Path(args.output).write_text(header + body + "\n")
    print(f"\nwritten to {args.output}")
    if args.readme:
        update_readme(Path(args.readme), f"Measured with `{command}` on: {mach}\n\n" + body)
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
