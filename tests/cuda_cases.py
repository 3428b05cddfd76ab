"""The CUDA kernels against the CPU kernels, run by tests/test_cuda.py in a subprocess.

Not collected by the main run (no ``test_`` prefix): numba reads
``NUMBA_ENABLE_CUDASIM`` once, when it is imported, so these cases run in a
process of their own, under the simulator (always) and on a GPU (where one is
present).  The simulator runs every thread as a Python thread: sizes stay tiny.

Tolerances: the closed form is exact arithmetic up to rounding, 1e-12
relative; the iterative kernels stop at their tolerance, so answers agree to
1e-7 relative (as the CPU kernels and their NumPy twins do, tests/test_kernels.py)
and statuses and iteration counts agree exactly on converged targets.  A
STALLED target is a run-off to a far, flat region where rounding decides the
path (the CPU kernels and their twin differ there too): its status must
agree, its point need not.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon.backends.cuda.target import cuda_module, device_problem, simulated
from symrecon.backends.numba.gauss_newton import gn_square_batch, lm_batch
from symrecon.backends.numba.pack import Outputs
from symrecon.reconstruct import make_problem
from symrecon.solvers._common import KernelRun
from symrecon.solvers.analytic import cached_inverse
from symrecon.solvers.newton import TOL_MARGIN
from symrecon.status import LaneState, Status
from symrecon.symbolic.numeric import evaluate_rows

assert device_problem() is None, f"these cases need the simulator or a GPU: {device_problem()}"
cuda = cuda_module()


def _square(act: str, seed: int = 0, n: int = 3, depth: int = 2) -> sr.Sequential:
    rng = np.random.default_rng(seed)
    return sr.Sequential([sr.Dense(rng.normal(size=(n, n)) * 0.6 + np.eye(n), rng.normal(size=n) * 0.3, act)
                          for _ in range(depth)])


def _wide(seed: int = 1) -> sr.Sequential:
    rng = np.random.default_rng(seed)
    return sr.Sequential([sr.Dense(rng.normal(size=(4, 2)), rng.normal(size=2) * 0.2, "tanh"),
                          sr.Dense(rng.normal(size=(2, 2)) + np.eye(2), None, "sigmoid")])


def _tall(seed: int = 2) -> sr.Sequential:
    rng = np.random.default_rng(seed)
    return sr.Sequential([sr.Dense(rng.normal(size=(2, 3)), rng.normal(size=3) * 0.2, "tanh"),
                          sr.Dense(rng.normal(size=(3, 3)) + np.eye(3), None, "linear")])


MODELS = {"square-tanh": lambda: _square("tanh"), "square-sigmoid": lambda: _square("sigmoid", 3),
          "wide": _wide, "tall": _tall}


def _targets(model: sr.Sequential, n: int = 6, scale: float = 0.7, seed: int = 5) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, model.n_in)) * scale
    return np.ascontiguousarray(model(x))


# ---------------------------------------------------------------------------
# Chunked transfers


@cuda.jit
def _plus_one(a, out):
    t = cuda.grid(1)
    if t < a.shape[0]:
        out[t, 0] = a[t, 0] + 1.0


def test_chunks_cover_every_row_and_kept_buffers_carry_nothing_over():
    from symrecon.backends.cuda.transfer import run_chunks

    def launch(stream, n, dev_in, dev_out):
        _plus_one[(n + 31) // 32, 32, stream](dev_in[0], dev_out[0])

    for n, offset in ((7, 0.0), (5, 100.0)):  # the second call reuses the first's buffers (same shapes)
        a = np.arange(n, dtype=np.float64)[:, None] + offset
        out = np.full((n, 1), np.nan)
        stats = run_chunks(cuda, launch, [a], [out], chunk=3)
        np.testing.assert_array_equal(out, a + 1.0)
        assert stats["device_chunks"] == -(-n // 3)


# ---------------------------------------------------------------------------
# The closed form


@pytest.mark.parametrize("name", ["square-tanh", "square-sigmoid", "wide", "tall"])
def test_closed_form_kernel_matches_the_cpu_kernel(name):
    from symrecon.backends.cuda.closed_form import closed_form_rows

    model = MODELS[name]()
    y = _targets(model)
    y[1, 0] = 5.0 if name != "tall" else y[1, 0] + 1.0  # outside the image / an inconsistent tall target
    plan = cached_inverse(model).plan
    before = y.copy()
    x, status, stats = closed_form_rows(plan, y)
    x_cpu, status_cpu = evaluate_rows(plan, y, backend="numba")
    x_ref, status_ref = evaluate_rows(plan, y, backend="numpy")  # the NumPy twin
    np.testing.assert_array_equal(y, before)
    np.testing.assert_array_equal(status, status_cpu)
    np.testing.assert_array_equal(status, status_ref)
    assert status[1] == Status.INFEASIBLE and np.isnan(x[1]).all()
    exact = status == Status.EXACT
    assert exact.sum() == len(y) - 1
    np.testing.assert_allclose(x[exact], x_cpu[exact], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x[exact], x_ref[exact], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model(x[exact]), y[exact], rtol=1e-10, atol=1e-10)
    assert stats["device_chunks"] == 1


@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1), act=st.sampled_from(["tanh", "sigmoid", "softplus", "leaky_relu", "elu"]))
def test_closed_form_kernel_inverts_the_model(seed, act):
    from symrecon.backends.cuda.closed_form import closed_form_rows

    model = _square(act, seed, n=2)
    x0 = np.random.default_rng(seed).normal(size=(3, 2))
    x, status, _ = closed_form_rows(cached_inverse(model).plan, model(x0))
    assert np.all(status == Status.EXACT)
    np.testing.assert_allclose(x, x0, rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------------------
# newton


def _cpu_newton(run: KernelRun) -> Outputs:
    """The CPU solver's two phases (as GaussNewton._gauss_newton runs them)."""
    pm, cfg, out = run.pm, run.cfg, run.out
    if not pm.structured:
        lm_batch(pm, cfg, run.x0, run.ys, 4, out)
        return out
    gn_square_batch(pm, cfg, run.x0, run.ys, 4, out)
    rest = np.flatnonzero(out.status == LaneState.HAND_OVER)
    if rest.size:
        x_r = np.ascontiguousarray(out.xs[rest])
        sub = Outputs(x_r, np.zeros(rest.size, dtype=np.int8), np.ascontiguousarray(out.iters[rest]), out.hist)
        lm_batch(pm, cfg._replace(tol=cfg.tol[rest]), x_r, np.ascontiguousarray(run.ys[rest]), 4, sub)
        out.xs[rest], out.status[rest], out.iters[rest] = sub.xs, sub.status, sub.iters
    return out


CASES = [("square-tanh", None, 0.7), ("square-sigmoid", None, 0.7), ("wide", None, 0.7), ("tall", None, 0.7),
         ("square-tanh", (-0.4, 0.4), 0.3), ("square-tanh", None, 2.5)]


@pytest.mark.parametrize("name, bounds, scale", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_newton_kernel_matches_the_cpu_kernels(name, bounds, scale):
    from symrecon.backends.cuda.newton import newton_rows

    model = MODELS[name]()
    y = _targets(model, n=7, scale=scale)
    problem = make_problem(model, y, bounds=bounds)
    run = KernelRun(problem, 60, inverses=not problem.has_bounds, tol_margin=TOL_MARGIN)
    x0, ys = run.x0.copy(), run.ys.copy()
    xs, status, iters, stats = newton_rows(run.pm, run.cfg, run.x0, run.ys, chunk=3)
    np.testing.assert_array_equal(run.x0, x0)
    np.testing.assert_array_equal(run.ys, ys)
    out = _cpu_newton(run)
    assert stats["device_chunks"] == 3  # 7 rows in chunks of 3: both streams, a short last chunk
    assert set(status.tolist()) <= {int(s) for s in Status if s != Status.NOT_RUN}
    np.testing.assert_array_equal(status, out.status)
    conv = status == Status.CONVERGED
    assert conv.sum() >= 3, "too few converged targets: the comparison would be vacuous"
    np.testing.assert_array_equal(iters[conv], out.iters[conv])
    np.testing.assert_allclose(xs[conv], out.xs[conv], rtol=1e-7, atol=1e-8)
    assert np.all(np.max(np.abs(model(xs[conv]) - y[conv]), axis=1) <= problem.row_tol[conv])
    if bounds is not None:
        assert np.all(xs >= bounds[0]) and np.all(xs <= bounds[1])


def test_structured_phase_hands_over_and_counts_its_iterations():
    from symrecon.backends.cuda.newton import newton_rows

    model = _square("tanh", seed=0)
    y = _targets(model, n=6, scale=1.5)
    run = KernelRun(make_problem(model, y), 100, inverses=True, tol_margin=TOL_MARGIN)
    assert run.pm.structured
    _, status, iters, stats = newton_rows(run.pm, run.cfg, run.x0, run.ys)
    out = _cpu_newton(run)
    assert 0 < stats["n_damped"] < len(y)
    np.testing.assert_array_equal(status, out.status)
    np.testing.assert_array_equal(iters[status == Status.CONVERGED], out.iters[status == Status.CONVERGED])


# ---------------------------------------------------------------------------
# reconstruct(device="cuda")


@pytest.mark.parametrize("method", ["analytic", "newton"])
def test_reconstruct_on_the_device_agrees_with_the_cpu(method):
    model = _square("tanh", seed=4)
    y = _targets(model, n=5)
    gpu = sr.reconstruct(model, y, method=method, device="cuda")
    cpu = sr.reconstruct(model, y, method=method)
    assert gpu.stats["device"] == "cuda" and "device" not in cpu.stats
    np.testing.assert_array_equal(gpu.status, cpu.status)
    assert np.all(gpu.success)
    np.testing.assert_allclose(gpu.x, cpu.x, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(model(gpu.x), y, atol=1e-9)


def test_a_single_target_gives_a_single_result():
    model = _square("tanh", seed=4)
    y = _targets(model, n=1)[0]
    res = sr.reconstruct(model, y, method="newton", device="cuda")
    assert res.x.shape == (model.n_in,) and res.success and res.method == "newton"


def test_the_pre_activation_retry_runs_on_the_device():
    # outputs near a sigmoid's 1: some targets need the CPU solver's second chance, in the output
    # layer's pre-activation (this seed gives two of four on the CPU)
    rng = np.random.default_rng(18)
    model = sr.Sequential([sr.Dense(rng.normal(size=(2, 2)) + np.eye(2), None, "tanh"),
                           sr.Dense(rng.normal(size=(2, 2)) * 3 + np.eye(2), None, "sigmoid")])
    y = model(rng.normal(size=(4, 2)) * 2)
    gpu = sr.reconstruct(model, y, method="newton", device="cuda")
    cpu = sr.reconstruct(model, y, method="newton")
    assert cpu.stats["n_pre_activation"] > 0
    assert gpu.stats["n_pre_activation"] == cpu.stats["n_pre_activation"]
    np.testing.assert_array_equal(gpu.status, cpu.status)
    np.testing.assert_array_equal(gpu.n_iter, cpu.n_iter)
    np.testing.assert_allclose(gpu.x, cpu.x, rtol=1e-7)


def test_the_simulator_is_what_ran_unless_a_gpu_did():
    assert simulated() or cuda.is_available()
