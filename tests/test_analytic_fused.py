"""The closed form at kernel speed: one packed model, the fused forward re-check, and the vectorising exp/log."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import INVERTIBLE_NAMES, inputs_for, invertible_networks, wide_first_networks

import symrecon as sr
from symrecon import activations
from symrecon.backends.numba.inverse import NEAR, block_rows, inverse_rows
from symrecon.backends.numba.inverse import _near
from symrecon.recheck import DeferredOutput, forward_rows
from symrecon.backends.numba.pack import pack
from symrecon.backends.numba.recheck import forward_block
from symrecon.backends.numba.vecmath import artanh as vartanh
from symrecon.backends.numba.vecmath import exp as vexp
from symrecon.backends.numba.vecmath import exp_capped as vexp_capped
from symrecon.backends.numba.vecmath import log as vlog
from symrecon.reconstruct import make_problem

from symrecon.solvers._common import KernelRun
from symrecon.solvers.analytic import AnalyticSolver, cached_inverse
from symrecon.status import Status
from symrecon.symbolic.numeric import checked_reference, evaluate_checked
from symrecon.tolerance import unit_tolerance
from numba import njit

ULP_BOUND = 2.0  # both sides are within about one ulp of the true value


#: the vectorising formulas by number (a jitted function takes no function argument without a recompile each)
LOG, EXP, ARTANH, EXP_CAPPED = range(4)


@njit(cache=True, error_model="numpy")
def _map(v, which):
    """One of the vectorising formulas (``LOG``, ``EXP``, ``ARTANH``, ``EXP_CAPPED``) elementwise."""
    out = np.empty_like(v)
    for i in range(v.size):
        x = v[i]
        if which == LOG:
            out[i] = vlog(x)
        elif which == EXP:
            out[i] = vexp(x)
        elif which == ARTANH:
            out[i] = vartanh(x)
        else:
            out[i] = vexp_capped(x)
    return out


def _map_artanh(v):
    return _map(v, ARTANH)


def _map_exp_capped(v):
    return _map(v, EXP_CAPPED)


def _map_exp(v):
    return _map(v, EXP)


def _map_log(v):
    return _map(v, LOG)


def _ulps(a, b):
    """|a - b| in units of the last place of b (where b is finite and nonzero)."""
    with np.errstate(all="ignore"):
        return np.abs(a - b) / np.spacing(np.abs(b))


# -- one packing ----------------------------------------------------------


def test_the_analytic_solver_and_newton_read_the_same_packed_model():
    rng = np.random.default_rng(0)
    model = sr.Sequential([sr.Dense(np.linalg.qr(rng.normal(size=(3, 3)))[0], rng.normal(size=3), "tanh")
                           for _ in range(2)])
    y = model(rng.normal(size=(4, 3)))
    packed = cached_inverse(model).plan.packed
    newton = KernelRun(make_problem(model, y), 10, inverses=True).pm
    assert newton is packed and pack(model, inverses=True) is packed
    assert packed.winv is packed.back  # a square chain: the structured phase's inverses are the back-matrices
    for lp in cached_inverse(model).plan.layers:  # the plan's matrices are views into the packed form
        assert np.shares_memory(lp.back, packed.back) and not lp.back.flags.writeable
        np.testing.assert_allclose(lp.back @ lp.kernel, np.eye(3), atol=1e-13)


def test_a_wide_or_tall_model_packs_pseudo_inverses_and_no_structured_inverses():
    wide = sr.Sequential([sr.Dense([[1.0, 0.5], [0.0, 1.0], [2.0, 1.0]], [0.1, 0.2], "sigmoid")])
    pm = pack(wide, inverses=True)
    assert pm.winv.size == 0 and pm.has_back
    np.testing.assert_allclose(pm.back.reshape(2, 3), np.linalg.pinv(wide.layers[0].kernel), atol=1e-14)
    assert pack(wide).back.size == 0  # solvers that need no inverses pay for no SVD
    np.testing.assert_array_equal(pm.image, [[0.0, 1.0, 0.0, 0.0]])


# -- the fused kernel against its NumPy twin ----------------------------------


def _assert_same_check(model, y, atol=1e-9, rtol=1e-12):
    plan = cached_inverse(model).plan
    x, status, check = evaluate_checked(plan, model, y, atol, rtol, backend="numba")
    x_ref, status_ref, ref = checked_reference(plan, model, y, atol, rtol)
    np.testing.assert_array_equal(status, status_ref)
    ok = status == Status.EXACT
    scale = np.maximum(1.0, np.abs(x_ref[ok]))
    assert np.all(np.abs(x[ok] - x_ref[ok]) <= 1e-12 * scale)
    assert np.all(np.isnan(x[~ok])) and np.all(np.isnan(check.y_pred[~ok]))
    assert np.all(np.isinf(check.residual[~ok])) and not np.any(check.within[~ok])
    # the kernel's forward pass: within a few ulps of the reference's, from (nearly) the same x
    assert np.all(np.abs(check.y_pred[ok] - ref.y_pred[ok]) <= 1e-13 * np.maximum(1.0, np.abs(ref.y_pred[ok])))
    assert np.all(np.abs(check.residual[ok] - ref.residual[ok]) <= 1e-13 * np.maximum(1.0, np.abs(y[ok])).max(axis=1))
    # the verdicts agree wherever the residual is not within rounding of the tolerance
    tol = np.min(unit_tolerance(model, y, atol=atol, rtol=rtol), axis=1)
    clear = np.abs(ref.residual - tol) > 1e-13 * np.maximum(1.0, np.max(np.abs(y), axis=1))
    np.testing.assert_array_equal(check.within[clear], ref.within[clear])
    return status, check


@settings(max_examples=40, deadline=None)
@given(st.one_of(invertible_networks(), wide_first_networks()), st.data())
def test_fused_kernel_agrees_with_its_numpy_twin(model, data):
    x = data.draw(inputs_for(model, n_rows=6))
    _assert_same_check(model, model(x))


@pytest.mark.parametrize("atol", [1e-9, 1e-16])
def test_fused_kernel_statuses_and_verdicts_on_mixed_rows(atol):
    rng = np.random.default_rng(3)
    model = sr.Sequential([sr.Dense(np.eye(2), [0.0, 0.1], "tanh"),
                           sr.Dense([[30.0, 3.0], [0.0, 1.0]], [0.1, 0.0], "sigmoid")])
    x = rng.normal(0.0, 0.5, size=(300, 2))
    x[7] = [1.4, 0.0]            # output unit 0 = 1 - 2.6e-12: a tolerance of 1e-15 near the end of the image
    y = model(x)
    y[5] = [1.0 / (1.0 + np.exp(-40.0)), 0.5]  # the hidden tanh would have to output 1.33: infeasible
    status, check = _assert_same_check(model, y, atol=atol)
    assert status[5] == Status.INFEASIBLE and np.sum(status == Status.EXACT) == 299
    assert 1.0 - y[7, 0] < 1e-11
    if atol == 1e-9:
        assert np.all(check.within[status == Status.EXACT])


def test_tall_layer_consistency_in_the_fused_kernel():
    model = sr.Sequential([sr.Dense([[1.0, 2.0, 0.5]], [0.0, 0.1, -0.1], "tanh")])  # 1 -> 3: tall
    y = model(np.linspace(-0.5, 0.5, 40)[:, None])
    y[3, 0] += 1e-3  # no input gives this one
    status, _ = _assert_same_check(model, y)
    assert status[3] == Status.INFEASIBLE and np.sum(status == Status.EXACT) == 39


def test_without_a_recheck_the_kernel_writes_only_x_and_status():
    model = sr.Sequential([sr.Dense([[0.5]], [0.1], "tanh")])
    x, status, check = inverse_rows(pack(model, inverses=True), 1e-8, np.array([[0.2], [1.5]]))
    assert check is None and status.tolist() == [Status.EXACT, Status.INFEASIBLE] and np.isnan(x[1, 0])
    with pytest.raises(ValueError, match="inverses=True"):
        inverse_rows(pack(model), 1e-8, np.array([[0.2]]))


def _sigmoid_ld(z):
    return 1.0 / (1.0 + np.exp(-z))


#: (series, activation in 80-bit, its inverse in float64, its derivative by its value, range of z inside the image)
SERIES = {"tanh": (lambda *a: _near(*a, True), np.tanh, np.arctanh, lambda h: 1.0 - h * h, 17.0),
          "sigmoid": (lambda *a: _near(*a, False), _sigmoid_ld, lambda h: np.log(h) - np.log1p(-h), lambda h: h * (1.0 - h), 30.0)}


@pytest.mark.parametrize("name", sorted(SERIES))
def test_the_series_forms_are_the_activation_to_rounding_within_near(name):
    series, f_ld, f_inv, slope, z_max = SERIES[name]
    rng = np.random.default_rng(12)
    n = 20_000
    z = np.concatenate([rng.uniform(-3.0, 3.0, n - 2000), rng.uniform(-z_max, z_max, 1000),
                        rng.uniform(-1e-6, 1e-6, 1000)])
    bias = rng.normal(size=n)
    h = f_ld(np.longdouble(z)).astype(np.float64)
    u = f_inv(h) - bias  # what the inverse leaves: f^{-1}(h) - b
    d = rng.uniform(-NEAR, NEAR, n) * 10.0 ** -rng.integers(0, 12, n)
    col = u + d
    d_exact = col - u  # the change the kernel sees (col is rounded)
    ref = f_ld(np.longdouble(f_inv(h)) + np.longdouble(d_exact)).astype(np.float64)  # 80-bit where there is one
    got, far = col.copy().reshape(1, n), np.zeros(n)
    series(got, h.reshape(1, n), u.reshape(1, n), far, 1, n)
    err = np.abs(got[0] - ref)
    # the series' error is below 1e-24; what is left is the expansion point's: f(f^{-1}(h)) is h only up to
    # the rounding of z = f^{-1}(h) (a few ulps of z, times f'), as any forward pass from a rounded
    # pre-activation, plus an ulp or two of the result
    z_ulps = 4.0 * slope(h) * np.spacing(np.abs(u + bias))
    assert np.all(err <= 3.0 * np.spacing(np.maximum(np.abs(h), np.abs(ref))) + z_ulps)
    np.testing.assert_array_equal(far, np.abs(d_exact))


def test_the_series_tanh_flags_nan_and_far_rows():
    col = np.array([[0.5 + 2.0 * NEAR, np.nan, 0.5]])
    h, u, far = np.full((1, 3), np.tanh(0.5)), np.full((1, 3), 0.5), np.zeros(3)
    _near(col, h, u, far, 1, 3, True)
    assert far[0] > NEAR and np.isinf(far[1]) and far[2] == 0.0


def test_rows_too_far_for_the_series_get_the_full_forward_formula():
    # an ill-conditioned first layer: the inverse's x misses its pre-activations by up to ~1e-2
    w = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-14]])
    model = sr.Sequential([sr.Dense(w, [0.0, 0.1], "tanh"), sr.Dense([[0.5, 0.2], [-0.3, 0.8]], [0.0, 0.0], "tanh")])
    y = model(np.random.default_rng(0).normal(0.0, 0.5, size=(400, 2)))
    x, status, check = evaluate_checked(cached_inverse(model).plan, model, y, 1e-9, 1e-12, backend="numba")
    u = np.arctanh(np.arctanh(y) @ np.linalg.inv(np.array([[0.5, 0.2], [-0.3, 0.8]]))) - [0.0, 0.1]
    far = np.max(np.abs(x @ w - u), axis=1) > NEAR
    assert np.all(status == Status.EXACT) and 10 <= np.sum(far) < 400  # blocks with and without a far row
    forward = forward_rows(model, x)  # the kernel's own x, forward by NumPy: the kernel must agree to rounding
    np.testing.assert_allclose(check.y_pred, forward, rtol=0, atol=1e-15)
    np.testing.assert_allclose(check.residual, np.max(np.abs(forward - y), axis=1), rtol=0, atol=1e-15)


def test_block_rows_shrink_for_deep_or_wide_models_and_stay_a_multiple_of_8():
    assert block_rows(3, 16) == 256 and block_rows(1, 1) == 256
    for layers, width in [(12, 64), (40, 512), (200, 4096)]:
        rows = block_rows(layers, width)
        assert rows % 8 == 0 and 8 <= rows < 256
    assert block_rows(12, 64) * 64 * (2 * 12 + 3) * 8 <= 1 << 19


def test_a_kernel_judged_result_computes_y_pred_when_first_read():
    rng = np.random.default_rng(4)
    model = sr.Sequential([sr.Dense(np.linalg.qr(rng.normal(size=(3, 3)))[0], 0.1 * rng.normal(size=3), "tanh")
                           for _ in range(2)])
    y = model(rng.normal(size=(5000, 3)))
    res = sr.reconstruct(model, y, method="analytic", progress=False)
    assert isinstance(res._y_pred, DeferredOutput)  # nothing written yet
    first = res.y_pred
    assert first is res.y_pred and not first.flags.writeable and first.shape == (5000, 3)
    np.testing.assert_array_equal(first, model(res.x))
    # the kernel's residual is the deferred output's to rounding
    np.testing.assert_allclose(res.residual, np.max(np.abs(first - y), axis=1), rtol=0, atol=4.5e-16)  # ulps of 1
    one = sr.reconstruct(model, y[7], method="analytic", progress=False)
    assert one.y_pred.shape == (3,)
    np.testing.assert_allclose(one.y_pred, y[7], rtol=0, atol=1e-14)


def test_a_result_with_a_deferred_output_pickles_before_and_after_the_read():
    import pickle

    model = sr.Sequential([sr.Dense([[0.5, 0.1], [0.2, 0.9]], [0.1, 0.0], "tanh")])
    y = model(np.random.default_rng(1).normal(size=(3000, 2)))
    res = sr.reconstruct(model, y, method="analytic", progress=False)
    before = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(before.y_pred, res.y_pred)
    after = pickle.loads(pickle.dumps(res))
    assert after._y_pred._value is not None  # the value read before the pickle travels with it
    np.testing.assert_array_equal(after.y_pred, res.y_pred)


def test_the_deferred_output_is_computed_once_for_many_readers():
    from concurrent.futures import ThreadPoolExecutor

    calls = []

    class Counting:
        n_out = 1

        def forward(self, x):
            calls.append(1)
            return 2.0 * x

    later = DeferredOutput(Counting(), np.ones((4, 1)))
    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda _: later.value(), range(32)))
    assert len(calls) == 1 and all(v is values[0] for v in values)


def test_without_keeping_outputs_the_kernel_judges_the_same():
    rng = np.random.default_rng(6)
    model = sr.Sequential([sr.Dense(rng.normal(size=(4, 4)), 0.1 * rng.normal(size=4), "tanh") for _ in range(3)])
    y = model(rng.normal(0.0, 0.3, size=(3000, 4)))
    pm = pack(model, inverses=True)
    x1, s1, kept = inverse_rows(pm, 1e-8, y, (1e-9, 1e-12))
    x2, s2, judged = inverse_rows(pm, 1e-8, y, (1e-9, 1e-12), keep_y_pred=False)
    assert judged.y_pred is None and kept.y_pred.shape == (3000, 4)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(kept.residual, judged.residual)
    np.testing.assert_array_equal(kept.within, judged.within)


# -- through reconstruct ----------------------------------------------------------


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_reconstruct_takes_the_kernels_recheck_in_every_block(executor, monkeypatch):
    rng = np.random.default_rng(5)
    model = sr.Sequential([sr.Dense(np.linalg.qr(rng.normal(size=(4, 4)))[0], 0.1 * rng.normal(size=4), "tanh")
                           for _ in range(3)])
    y = model(rng.normal(size=(5000, 4)))
    y[1234] = 0.9999999  # infeasible in a hidden layer
    monkeypatch.setattr(AnalyticSolver, "block_size", 2048)  # two blocks by the kernel, the last by the twin
    res = sr.reconstruct(model, y, method="analytic", executor=executor)
    ok = np.arange(5000) != 1234
    assert res.status[1234] == Status.INFEASIBLE and np.all(res.status[ok] == Status.EXACT)
    np.testing.assert_allclose(res.y_pred[ok], model(res.x[ok]), rtol=0, atol=1e-14)
    np.testing.assert_allclose(res.residual[ok], np.max(np.abs(model(res.x[ok]) - y[ok]), axis=1), rtol=0, atol=1e-14)
    assert np.all(res.success[ok]) and not res.success[1234] and np.isinf(res.residual[1234])
    assert not res.x.flags.writeable and not res.y_pred.flags.writeable


def test_the_results_arrays_are_frozen_in_place_and_the_users_are_untouched():
    model = sr.Sequential([sr.Dense([[0.5, 0.1], [0.2, 0.9]], [0.1, 0.0], "tanh")])
    y = model(np.random.default_rng(1).normal(size=(3000, 2)))
    before = y.copy()
    res = sr.reconstruct(model, y, method="analytic")
    assert y.flags.writeable and np.array_equal(y, before)
    assert res.method[0] == "analytic" and res.method.shape == (3000,)
    assert not any(a.flags.writeable for a in (res.x, res.y_pred, res.residual, res.status, res.y_target))


def test_the_problems_unit_tolerance_is_computed_only_when_read():
    model = sr.Sequential([sr.Dense([[0.5]], [0.1], "tanh")])
    problem = make_problem(model, [[0.2], [0.3]])
    assert problem.__dict__["_unit_tol"] is None
    np.testing.assert_array_equal(problem.unit_tol, unit_tolerance(model, problem.y, atol=problem.tol,
                                                                   rtol=problem.rtol))
    assert problem.unit_tol is problem.unit_tol and not problem.unit_tol.flags.writeable


# -- the vectorising exp and log; the block forward --------------------------------


def test_exp_and_log_are_within_an_ulp_or_two_over_the_whole_range():
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.uniform(-750.0, 712.0, 200_000), rng.uniform(-1.0, 1.0, 50_000),
                         [-745.13, -745.14, 709.78, 709.79, 0.0, -0.0, 1e-300]])
    with np.errstate(over="ignore"):
        ref = np.exp(xs)
    got = _map_exp(xs)
    fine = np.isfinite(ref) & (ref > 1e-300)
    assert np.max(_ulps(got[fine], ref[fine])) <= ULP_BOUND
    np.testing.assert_array_equal(got[~fine] == 0.0, ref[~fine] == 0.0)
    ys = np.concatenate([np.exp(rng.uniform(-744.0, 709.0, 200_000)), 2.0 ** rng.uniform(-1074, -1022, 2000),
                         1.0 + rng.uniform(-1e-3, 1e-3, 50_000), [1.7976931348623157e308, 5e-324]])
    ref = np.log(ys)
    got = _map_log(ys)
    nonzero = ref != 0.0
    assert np.max(_ulps(got[nonzero], ref[nonzero])) <= ULP_BOUND and np.all(got[~nonzero] == 0.0)


def test_exp_and_log_special_values():
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0, 800.0, -800.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(_map_exp(specials), np.exp(specials))
        np.testing.assert_array_equal(_map_log(specials), np.log(specials))


def test_exp_capped_is_exp_up_to_40_and_exp_40_beyond():
    x = np.concatenate([np.random.default_rng(9).uniform(0.0, 40.0, 100_000), [0.0, 1e-300, 40.0]])
    assert np.max(_ulps(_map_exp_capped(x), np.exp(x))) <= ULP_BOUND
    big = _map_exp_capped(np.array([40.5, 800.0, np.inf, np.nan]))
    assert np.all(big[:3] == _map_exp_capped(np.array([40.0]))[0]) and np.isnan(big[3])


def test_artanh_is_within_an_ulp_or_two_near_0_near_1_and_in_between():
    rng = np.random.default_rng(8)
    a = np.concatenate([rng.uniform(-1.0, 1.0, 200_000), 1.0 - 2.0 ** -rng.uniform(1.0, 53.0, 50_000),
                        -(2.0 ** -rng.uniform(1.0, 1074.0, 50_000)), [0.17157287525381, np.nextafter(1.0, 0.0)]])
    ref = np.arctanh(a)  # NumPy's is within an ulp itself
    assert np.max(_ulps(_map_artanh(a), ref)[ref != 0.0]) <= ULP_BOUND
    specials = np.array([0.0, -0.0, 1.0, -1.0, 1.5, -3.0, np.nan, np.inf])
    with np.errstate(all="ignore"):
        expected = np.arctanh(specials)
    got = _map_artanh(specials)
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got[:2]), [False, True])


@pytest.mark.parametrize("name", INVERTIBLE_NAMES)
def test_block_forward_matches_the_activations_numpy_form(name):
    act = activations.get(name)
    z = np.concatenate([np.linspace(-30.0, 30.0, 2001), [-800.0, 800.0, 0.0, np.nan]])
    col = z.copy()
    forward_block(act.kernel_code, act.param, col, col.size)
    with np.errstate(all="ignore"):
        ref = act.numpy(z)
    assert np.array_equal(np.isnan(col), np.isnan(ref))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(col[~fin], ref[~fin])  # NaN and overflow alike
    # tanh: 2.3e-16 absolute (its docstring); the other formulas a few ulps of the larger of 1 and |f|
    assert np.all(np.abs(col[fin] - ref[fin]) <= 4.5e-16 * np.maximum(1.0, np.abs(ref[fin])))


# -- the target scans left to the kernel ------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0, 1.5])
@pytest.mark.parametrize("n_rows", [1, 5000])
def test_analytic_raises_for_bad_targets_what_the_scans_it_skips_would_raise(bad, n_rows):
    rng = np.random.default_rng(3)
    model = sr.Sequential([sr.Dense(np.linalg.qr(rng.normal(size=(3, 3)))[0], rng.normal(size=3) * 0.1, "tanh")
                           for _ in range(2)])
    y = model(rng.normal(size=(n_rows, 3)))
    y[n_rows // 2, 1] = bad
    target = y[0] if n_rows == 1 else y
    errors = []
    for method in ("analytic", "newton"):  # newton's problem is scanned before the solve
        with pytest.raises((sr.errors.InvalidValueError, sr.errors.InfeasibleTargetError)) as info:
            sr.reconstruct(model, target, method=method, progress=False)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]
    assert make_problem(model, target, defer_target_scan=True).y.shape == (n_rows, 3)  # no scan, no error


def test_an_unreachable_hidden_value_is_infeasible_not_an_error_under_the_deferred_scan():
    model = sr.Sequential([sr.Dense([[1.0]], [0.0], "tanh"), sr.Dense([[4.0]], [0.0], "tanh")])
    y = np.array([[np.tanh(4.0 * 0.5)], [np.tanh(4.0 * 1.5)]])  # the second needs tanh(.) = 1.5
    res = sr.reconstruct(model, y, method="analytic", progress=False)
    assert [Status(s) for s in res.status] == [Status.EXACT, Status.INFEASIBLE]
    assert abs(float(res.x[0, 0]) - np.arctanh(0.5)) <= 1e-12
