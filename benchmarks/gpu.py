"""symrecon on the GPU against what a PyTorch user writes on the same GPU (issue 13).  One command::

    python benchmarks/gpu.py                       # 10^5, 10^6 and 10^7 targets
    python benchmarks/gpu.py --sizes 100000        # a quick look

Problem: the 16-16-16-16 tanh MLP of ``benchmarks/run.py`` (orthogonal x 0.9
weights, seeded), float64, targets ``y = model(x_true)`` with
``x_true ~ N(0, 1)``, every method started at 0.  Residuals are the max-norm
``|model(x) - y|`` computed here on the GPU with PyTorch (never a solver's word).

Rows, per size:

* symrecon ``newton`` with ``device="cuda"``: the device phase (host arrays in,
  host arrays out: chunked transfers on two streams overlapping the kernels)
  and the kernel time alone (CUDA events); the whole ``reconstruct`` call too,
  whose independent re-check of every answer runs on the CPU;
* a batched Levenberg–Marquardt written in PyTorch (below, ~40 lines):
  Jacobian by the chain rule, ``torch.linalg.solve`` per target, Marquardt
  damping, converged rows dropped; timed from host arrays to host arrays and
  on the device alone;
* PyTorch Adam on the input (lr 0.1, 3000 steps, residual checked every 10
  steps): when the median target first reaches 1e-6, and the fractions at the end;
* symrecon ``newton`` on the CPU (numba, every core) for reference (up to 10^6).

Closed form at the largest size: symrecon's kernel against PyTorch's
``(atanh(y) - b) @ W^-1`` per layer, in targets per second (device only, and
with transfers).

The acceptance lines of the issue are printed at the end, measured in this
run.  Without a CUDA device (or without PyTorch's CUDA build) the script says
so and exits 0.  Needs ``pip install symrecon[cuda]`` and a CUDA build of torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import symrecon as sr  # noqa: E402
from symrecon.backends.cuda.target import device_problem  # noqa: E402

TIGHT, LOOSE = 1e-10, 1e-6
#: where the PyTorch baselines run
DEVICE = "cuda"


def no_gpu_reason() -> str | None:
    """Why nothing can be measured here, or None."""
    missing = device_problem()
    if missing is not None:
        return missing
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed (the baselines need its CUDA build)"
    return None if torch.cuda.is_available() else "PyTorch has no CUDA device (a CPU-only build?)"


def tanh_problem(n: int):
    """``(model, layers, y)``: the benchmark's tanh MLP and ``n`` reachable targets (seeded)."""
    from run import make_layers

    layers, rng = make_layers("tanh")
    model = sr.Sequential([sr.Dense(w, b, act) for w, b, act in layers])
    x_true = np.random.default_rng(7).normal(size=(n, 16))
    return model, layers, np.ascontiguousarray(model(x_true))


# ---------------------------------------------------------------------------
# PyTorch baselines (float64, on the GPU)


class TorchNet:
    def __init__(self, layers, dev):
        import torch

        self.torch = torch
        self.w = [torch.tensor(w, device=dev) for w, _, _ in layers]
        self.b = [torch.tensor(b, device=dev) for _, b, _ in layers]
        self.w_inv = [torch.linalg.inv(w) for w in self.w]  # once, as a user would

    def forward(self, x):
        for w, b in zip(self.w, self.b):
            x = self.torch.tanh(x @ w + b)
        return x

    def forward_jac(self, x):
        jac = None
        for w, b in zip(self.w, self.b):
            x = self.torch.tanh(x @ w + b)
            step = w.T[None] * (1.0 - x * x)[:, :, None]  # d a_l / d a_{l-1}, (n, out, in)
            jac = step if jac is None else self.torch.bmm(step, jac)
        return x, jac

    def residual(self, x, y):
        return (self.forward(x) - y).abs().amax(dim=1)


def torch_lm(net, y, max_iter=100, tol=TIGHT):
    """Batched Levenberg–Marquardt from 0: accept/reject per row, drop rows once within ``tol``."""
    torch = net.torch
    x = torch.zeros_like(y)
    lam = torch.full((y.shape[0],), 1e-3, dtype=y.dtype, device=y.device)
    active = torch.arange(y.shape[0], device=y.device)
    for _ in range(max_iter):
        out, jac = net.forward_jac(x[active])
        r = out - y[active]
        todo = r.abs().amax(dim=1) > tol
        active, r, jac = active[todo], r[todo], jac[todo]
        if active.numel() == 0:
            break
        jt = jac.transpose(1, 2)
        a = jt @ jac
        a = a + lam[active, None, None] * torch.diag_embed(torch.diagonal(a, dim1=1, dim2=2))
        step = torch.linalg.solve(a, -(jt @ r[:, :, None]))[:, :, 0]
        trial = x[active] + step
        better = ((net.forward(trial) - y[active]) ** 2).sum(1) < (r * r).sum(1)
        x[active[better]] = trial[better]
        lam[active] = torch.where(better, lam[active] / 3.0, lam[active] * 2.0)
    return x


def torch_adam(net, y, steps=3000, lr=0.1):
    """Adam on the input from 0; ``(seconds until the median <= 1e-6 or None, final x)``."""
    torch = net.torch
    x = torch.zeros_like(y, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    t0, t_median = time.perf_counter(), None
    for k in range(steps):
        opt.zero_grad()
        loss = ((net.forward(x) - y) ** 2).sum()
        loss.backward()
        opt.step()
        if t_median is None and k % 10 == 9:
            with torch.no_grad():
                if float(net.residual(x, y).median()) <= LOOSE:
                    t_median = time.perf_counter() - t0
    return t_median, x.detach()


def torch_closed_form(net, y):
    torch = net.torch
    a = y
    for w_inv, b in zip(reversed(net.w_inv), reversed(net.b)):
        a = (torch.atanh(a) - b) @ w_inv
    return a


# ---------------------------------------------------------------------------
# measuring


def timed(fn, sync, repeats):
    """Median wall seconds of ``fn()`` over ``repeats`` runs after one warm-up, and its last result."""
    out = fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def fractions(net, x, y_dev):
    torch = net.torch
    with torch.no_grad():
        x = torch.tensor(x, device=y_dev.device) if isinstance(x, np.ndarray) else x  # a copy: results are read-only
        res = net.residual(x, y_dev)
        return float((res <= TIGHT).double().mean()), float((res <= LOOSE).double().mean())


def run_size(n, repeats, report, cpu_too):
    import torch

    from symrecon.backends.cuda.newton import newton_rows
    from symrecon.backends.numba.pack import pack, settings

    model, layers, y = tanh_problem(n)
    dev = torch.device(DEVICE)
    net = TorchNet(layers, dev)
    y_dev = torch.as_tensor(y, device=dev)
    sync = torch.cuda.synchronize
    pm = pack(model, inverses=True)
    cfg = settings(0.5 * TIGHT, 100, n_in=16)  # what reconstruct(tol=1e-10) gives the kernels
    x0 = np.zeros((len(y), 16))
    t_dev, (x, _, _, stats) = timed(lambda: newton_rows(pm, cfg, x0, y), sync, repeats)
    tight, _ = fractions(net, x, y_dev)
    report(n, "symrecon newton, CUDA: transfers + kernels", t_dev, tight, f"kernels {_seconds(stats['kernel_s'])}")
    t_call, res = timed(lambda: sr.reconstruct(model, y, method="newton", tol=TIGHT, device=DEVICE), sync, 1)
    report(n, "symrecon newton, CUDA: whole reconstruct() call", t_call, fractions(net, res.x, y_dev)[0],
           "includes the CPU re-check of every answer")
    t_lm = t_lm_dev = float("nan")
    try:
        t_lm, x_lm = timed(lambda: torch_lm(net, torch.as_tensor(y, device=dev)).cpu().numpy(), sync, repeats)
        report(n, "PyTorch batched LM, host to host", t_lm, fractions(net, x_lm, y_dev)[0], "")
        t_lm_dev, _ = timed(lambda: torch_lm(net, y_dev), sync, repeats)
        report(n, "PyTorch batched LM, on the device", t_lm_dev, None, "")
    except torch.cuda.OutOfMemoryError as exc:
        print(f"  {n:>11,}  PyTorch batched LM: out of GPU memory ({str(exc).splitlines()[0][:80]})")
        torch.cuda.empty_cache()
    t0 = time.perf_counter()  # once: 3000 steps (its kernels are warm from the LM runs)
    t_median, x_adam = torch_adam(net, y_dev)
    sync()
    t_adam = time.perf_counter() - t0
    tight_a, loose_a = fractions(net, x_adam, y_dev)
    median = "never" if t_median is None else f"{t_median:.2f} s"
    report(n, "PyTorch Adam (lr 0.1, 3000 steps)", t_adam, tight_a, f"median <= 1e-6 after {median}; "
           f"{100 * loose_a:.1f} % <= 1e-6 at the end")
    if cpu_too:
        t_cpu, res_cpu = timed(lambda: sr.reconstruct(model, y, method="newton", tol=TIGHT), sync, 1)
        report(n, "symrecon newton, CPU (numba, all cores)", t_cpu, fractions(net, res_cpu.x, y_dev)[0], "")
    return {"dev": t_dev, "kernel": stats["kernel_s"], "lm": t_lm, "lm_dev": t_lm_dev, "tight": tight}


def run_closed_form(n, repeats):
    import torch

    from symrecon.backends.cuda.closed_form import closed_form_rows
    from symrecon.solvers.analytic import cached_inverse

    model, layers, y = tanh_problem(n)
    net = TorchNet(layers, torch.device(DEVICE))
    y_dev = torch.as_tensor(y, device=DEVICE)
    sync = torch.cuda.synchronize
    plan = cached_inverse(model).plan
    t_host, (x, _, stats) = timed(lambda: closed_form_rows(plan, y), sync, repeats)
    t_torch_dev, _ = timed(lambda: torch_closed_form(net, y_dev), sync, repeats)
    t_torch_host, x_t = timed(lambda: torch_closed_form(net, torch.as_tensor(y, device=DEVICE)).cpu().numpy(),
                              sync, repeats)
    kernel_rate = n / stats["kernel_s"] if stats["kernel_s"] else float("nan")
    rows = [("symrecon closed form, kernel", kernel_rate, fractions(net, x, y_dev)[0]),
            ("symrecon closed form, host to host", n / t_host, None),
            ("PyTorch closed form, on the device", n / t_torch_dev, fractions(net, x_t, y_dev)[0]),
            ("PyTorch closed form, host to host", n / t_torch_host, None)]
    print(f"\nclosed form, {n:,} targets")
    for name, rate, tight in rows:
        share = "" if tight is None else f"  {100 * tight:.2f} % <= 1e-10"
        print(f"  {name:<40} {rate / 1e9:7.3f} G targets/s{share}")
    return kernel_rate


def _seconds(value):
    return "n/a" if value is None else f"{value:.4f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reason = no_gpu_reason()
    if reason is not None:
        print(f"benchmarks/gpu.py: nothing measured, no GPU to measure on: {reason}")
        return 0
    import torch

    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; float64; start 0")

    def report(n, name, seconds, tight, note):
        share = "" if tight is None else f"{100 * tight:7.2f} % <= 1e-10"
        print(f"  {n:>11,}  {name:<50} {seconds:9.4f} s  {share}  {note}")

    found = {}
    for n in args.sizes:
        try:
            found[n] = run_size(n, args.repeats, report, cpu_too=n <= 1_000_000)
        except torch.cuda.OutOfMemoryError as exc:
            print(f"  {n:>11,}  out of GPU memory ({str(exc).splitlines()[0]})")
            torch.cuda.empty_cache()
    rate = run_closed_form(max(args.sizes), args.repeats)
    print("\nacceptance (issue 13), measured above:")
    if 1_000_000 in found:
        f = found[1_000_000]
        print(f"  newton vs PyTorch LM at 10^6, counting transfers: {f['lm'] / f['dev']:.1f}x (target >= 5x)")
        kernels = f["lm_dev"] / (f["kernel"] or float("nan"))
        print(f"  newton kernels vs PyTorch LM on the device at 10^6: {kernels:.1f}x (target >= 20x)")
    for n, f in found.items():
        print(f"  {n:,} targets in one call: {100 * f['tight']:.2f} % <= 1e-10 (target 100 %)")
    print(f"  closed form: {rate / 1e9:.2f} G targets/s (target >= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
