"""numba kernels against their pure-NumPy twins (property tests), plus finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import settings as settings_
from hypothesis import strategies as st

import symrecon as sr
from symrecon import activations
from symrecon.backends import numpy_ref
from symrecon.backends.numba import forward as F
from symrecon.backends.numba import gauss_newton as GN
from symrecon.backends.numba import gd as GD
from symrecon.backends.numba import twins
from symrecon.backends.numba.activations import act_and_deriv, act_vec
from symrecon.backends.numba.pack import outputs, pack, settings, unpack_layers
from symrecon.backends.numba.primitives import LANES, frozen, frozen_mask, verdict, verdicts
from symrecon.status import LaneState, Status

#: every activation the kernels know, with a parameter where it has one
ACTIVATION_CASES = [activations.get(n) for n in activations.names()] + [
    activations.get("leaky_relu", negative_slope=0.1), activations.get("elu", alpha=0.5),
]


@st.composite
def dense_networks(draw, names=None, max_depth=3, max_width=5):
    """Random dense networks over any activation (weights ~ N(0, 1/n_in))."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    depth = draw(st.integers(1, max_depth))
    widths = [draw(st.integers(1, max_width)) for _ in range(depth + 1)]
    layers = []
    for i in range(depth):
        act = draw(st.sampled_from(names or ACTIVATION_CASES))
        w = rng.normal(size=(widths[i], widths[i + 1])) / np.sqrt(widths[i])
        layers.append(sr.Dense(w, 0.3 * rng.normal(size=widths[i + 1]), act))
    return sr.Sequential(layers), rng


@given(st.sampled_from([0.0, 1e-12, 1e-3, np.inf, np.nan]), st.integers(0, 3), st.booleans())
def test_termination_ladder_matches_twin(res, it, stalled):
    code = verdict(res, 1e-9, it, 2, stalled)
    assert code == int(verdicts(res, 1e-9, it, 2, stalled))
    assert code in {s.value for s in Status} | {LaneState.RUNNING.value}
    assert code != Status.NOT_RUN


@given(st.floats(-2, 2), st.floats(-1, 1), st.booleans())
def test_active_set_rule_matches_twin(x, g, has_bounds):
    lo, hi = -1.0, 1.0
    x = float(np.clip(x, lo, hi))
    expect = bool(frozen_mask(np.array([x]), np.array([g]), np.array([lo]) if has_bounds else None, np.array([hi]))[0])
    assert frozen(x, g, lo, hi, has_bounds) == expect


@pytest.mark.parametrize("act", ACTIVATION_CASES, ids=lambda a: f"{a.name}-{a.param:g}")
def test_activation_kernels_match_numpy(act):
    z = np.concatenate([np.linspace(-30, 30, 2001), [0.0, -0.0, 1e-300, -1e-300, 6.0, 3.0, -3.0, 700.0, -700.0]])
    a_ref, d_ref = act.numpy(z), act.numpy_derivative(z)
    a_vec, d_vec = np.empty_like(z), np.empty_like(z)
    act_vec(z, a_vec, d_vec, z.size, act.kernel_code, act.param)
    scalar = np.array([act_and_deriv(float(v), act.kernel_code, act.param) for v in z])
    for a, d in ((a_vec, d_vec), (scalar[:, 0], scalar[:, 1])):
        # absolute error is what matters for residuals; relative for large values
        np.testing.assert_allclose(a, a_ref, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(d, d_ref, rtol=1e-13, atol=1e-15)


@given(st.floats(-50, 50, allow_nan=False), st.sampled_from(ACTIVATION_CASES))
def test_activation_scalar_property(z, act):
    a, d = act_and_deriv(z, act.kernel_code, act.param)
    a_ref, d_ref = act.numpy(np.array([z])), act.numpy_derivative(np.array([z]))
    assert a == pytest.approx(float(a_ref[0]), rel=1e-14, abs=1e-15)
    assert d == pytest.approx(float(d_ref[0]), rel=1e-13, abs=1e-15)


def test_activation_kernels_keep_nan():
    z = np.array([np.nan])
    for act in ACTIVATION_CASES:
        a, d = np.empty(1), np.empty(1)
        act_vec(z, a, d, 1, act.kernel_code, act.param)
        assert np.isnan(a[0]), act  # the value must carry NaN forward (the derivative need not)


@given(dense_networks(), st.integers(1, 6))
def test_forward_kernel_matches_model(net, n):
    model, rng = net
    pm = pack(model)
    x = rng.normal(size=(n, model.n_in))
    expect = numpy_ref.forward(model, x)
    # exponential chains amplify rounding: a relative error of y = exp(z) is an absolute error of z,
    # so the tolerance grows with log|y| (1e-13 for outputs of moderate size)
    rtol = 1e-13 * max(1.0, float(np.max(np.log1p(np.abs(expect)))))
    np.testing.assert_allclose(F.forward_batch(pm, x), expect, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(model(x), expect, rtol=1e-13, atol=1e-14)


@given(dense_networks(), st.integers(1, 4))
def test_jacobian_kernel_matches_twin_and_lanes(net, n):
    model, rng = net
    pm = pack(model)
    x = rng.normal(size=(n, model.n_in))
    out, jac = F.jacobian_batch(pm, x)
    out_r, jac_r = numpy_ref.jacobian(model, x)
    np.testing.assert_allclose(out, out_r, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(jac, jac_r, rtol=1e-12, atol=1e-13)
    # the lane (structure-of-arrays) Jacobian of the LM solver
    lanes = LANES
    xl = np.zeros((model.n_in, lanes))
    xl[:, :n] = x.T
    mw, n0, m = pm.max_width, model.n_in, model.n_out
    out_l, jac_l = np.empty((m, lanes)), np.empty((m, n0 * lanes))
    F.forward_jac_lanes(pm, xl, np.empty((mw, lanes)), np.empty((mw, lanes)), np.empty(lanes),
                          np.empty(lanes), np.empty((mw, n0 * lanes)), np.empty((mw, n0 * lanes)), out_l, jac_l)
    np.testing.assert_allclose(out_l[:, :n].T, out_r, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(jac_l.reshape(m, n0, lanes)[:, :, :n].transpose(2, 0, 1), jac_r, rtol=1e-12, atol=1e-13)


@given(dense_networks(names=[activations.get(n) for n in ("tanh", "sigmoid", "softplus", "linear", "elu")]))
def test_jacobian_matches_finite_differences(net):
    model, rng = net
    pm = pack(model)
    x = rng.normal(size=(1, model.n_in))
    _, jac = F.jacobian_batch(pm, x)
    h = 1e-6
    fd = np.stack([(model(x[0] + h * e) - model(x[0] - h * e)) / (2 * h) for e in np.eye(model.n_in)], axis=1)
    np.testing.assert_allclose(jac[0], fd, rtol=1e-5, atol=1e-7)


@given(dense_networks(), st.integers(1, 4))
def test_gradient_kernel_matches_twin_and_jacobian(net, n):
    model, rng = net
    pm = pack(model)
    x = rng.normal(size=(n, model.n_in))
    y = rng.normal(size=(n, model.n_out))
    cost, grad = F.gradient_batch(pm, x, y)
    cost_r, grad_r = numpy_ref.gradient(model, x, y)
    # an overflowing cost has no gradient to agree on (inf * 0 orders differ between the two)
    assume(np.all(np.isfinite(grad_r)) and np.all(np.isfinite(cost_r)))
    np.testing.assert_allclose(cost, cost_r, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grad, grad_r, rtol=1e-11, atol=1e-12)
    out, jac = numpy_ref.jacobian(model, x)
    np.testing.assert_allclose(grad, 2 * np.einsum("nji,nj->ni", jac, out - y), rtol=1e-11, atol=1e-12)


def _lm_kernel(pm, x0, y, lower=None, upper=None, tol=1e-10, max_iter=50):
    n, n0 = x0.shape
    cfg = settings(tol, max_iter, n_in=n0) if lower is None else settings(tol, max_iter, lower, upper)
    out = outputs(n, n0)
    GN.lm_batch(pm, cfg, np.array(x0), np.array(y), 3, out)
    return out.xs, out.status, out.iters


@settings_(max_examples=25)
@given(dense_networks(names=[activations.get(n) for n in ("tanh", "sigmoid", "linear", "softplus")]),
       st.integers(1, 11), st.booleans())
def test_lm_kernel_matches_twin(net, n, bounded):
    model, rng = net
    # a bottleneck narrower than min(n_in, n_out) makes J rank-deficient: the preimage is
    # then a set, and rounding alone picks which member each implementation lands on
    assume(all(layer.n_out >= min(model.n_in, model.n_out) for layer in model.layers))
    pm = pack(model)
    # targets reachable inside the bounds, so that the answer is one point
    y = model(np.clip(0.5 * rng.normal(size=(n, model.n_in)), -0.25, 0.25))
    x0 = np.zeros((n, model.n_in))
    lo, hi = (np.full(model.n_in, -0.3), np.full(model.n_in, 0.3)) if bounded else (None, None)
    xs, st_, it = _lm_kernel(pm, x0, y, lo, hi)
    xr, sr_, ir = twins.lm_reference(model, x0, y, lo, hi, tol=1e-10, max_iter=50)
    assert np.all(st_ != Status.NOT_RUN) and np.all(st_ != LaneState.RUNNING)
    np.testing.assert_array_equal(st_, sr_)
    both = st_ == Status.CONVERGED
    assert np.any(both), "nothing converged: the comparison would be vacuous"
    np.testing.assert_allclose(xs[both], xr[both], rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(it, ir)
    if bounded:
        assert np.all(xs >= lo) and np.all(xs <= hi)


@given(st.integers(0, 2**32 - 1), st.sampled_from(["tanh", "sigmoid", "leaky_relu", "linear"]), st.integers(1, 5))
def test_structured_gauss_newton_matches_twin(seed, act, n0):
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(rng.integers(1, 4)):
        q, _ = np.linalg.qr(rng.normal(size=(n0, n0)))
        layers.append(sr.Dense(0.9 * q, 0.1 * rng.normal(size=n0), act))
    model = sr.Sequential(layers)
    pm = pack(model, inverses=True)
    assert pm.structured
    y = model(rng.normal(size=(7, n0)))
    x0 = np.zeros((7, n0))
    out = outputs(7, n0)
    GN.gn_square_batch(pm, settings(1e-10, 50, n_in=n0), x0, y, 3, out)
    xr, sr_, ir = twins.gn_square_reference(model, x0, y, tol=1e-10, max_iter=50)
    np.testing.assert_array_equal(out.status, sr_)
    np.testing.assert_array_equal(out.iters, ir)
    assert np.all(out.status != Status.NOT_RUN)
    if act != "leaky_relu":  # from the origin its kinks may end the structured phase at once, in both
        assert np.any(out.status == Status.CONVERGED), "nothing converged: the comparison would be vacuous"
    np.testing.assert_allclose(out.xs, xr, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("optimizer", ["constant", "momentum", "adam"])
@settings_(max_examples=15)
@given(net=dense_networks(names=[activations.get(n) for n in ("tanh", "sigmoid", "linear")]))
def test_gd_kernel_matches_twin(optimizer, net):
    model, rng = net
    pm = pack(model)
    n, n0 = 4, model.n_in
    y = model(0.5 * rng.normal(size=(n, n0)))
    x0 = np.zeros((n, n0))
    lo, hi = np.full(n0, -0.4), np.full(n0, 0.4)
    out = outputs(n, n0)
    hp = GD.GdParams(GD.OPTIMIZERS[optimizer], 0.05, 0.9, 0.999, 1e-8)
    GD.gd_batch(pm, settings(1e-12, 40, lo, hi), hp, x0, np.array(y), out)
    xr, sr_, ir = twins.gd_reference(model, x0, y, lower=lo, upper=hi, tol=1e-12, max_iter=40, optimizer=optimizer,
                                     lr=0.05)
    assert np.all(out.status != Status.NOT_RUN)
    np.testing.assert_array_equal(out.status, sr_)
    np.testing.assert_array_equal(out.iters, ir)
    np.testing.assert_allclose(out.xs, xr, rtol=1e-10, atol=1e-12)


def test_gd_kernel_converges_where_twin_does():
    # a case where the fixed-rule twin converges, so that the agreement above is not only on MAX_ITER
    model = sr.Sequential([sr.Dense([[0.8, 0.1], [-0.2, 0.9]], [0.1, -0.2], "tanh")])
    y = model(np.array([[0.3, -0.2], [0.1, 0.05]]))
    out = outputs(2, 2)
    GD.gd_batch(pack(model), settings(1e-10, 5000, n_in=2), GD.GdParams(0, 0.5, 0.9, 0.999, 1e-8), np.zeros((2, 2)),
                y, out)
    xr, sr_, ir = twins.gd_reference(model, np.zeros((2, 2)), y, tol=1e-10, max_iter=5000, lr=0.5)
    assert np.all(out.status == Status.CONVERGED) and np.all(sr_ == Status.CONVERGED)
    np.testing.assert_array_equal(out.iters, ir)


def test_rows_never_written_read_not_run():
    out = outputs(3, 2)
    assert np.all(out.status == Status.NOT_RUN) and not np.any([Status(c).success for c in out.status])


def test_pack_layout_round_trip():
    rng = np.random.default_rng(0)
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 4)), rng.normal(size=4), "tanh"),
                           sr.Dense(rng.normal(size=(4, 2)), None, "sigmoid")])
    pm = pack(model)
    assert pm.n_in == 3 and pm.n_out == 2 and pm.max_width == 4 and not pm.structured
    for (kernel, bias, code, _), layer in zip(unpack_layers(pm), model.layers):
        np.testing.assert_array_equal(kernel, layer.kernel)
        np.testing.assert_array_equal(bias, layer.bias)
        assert code == layer.activation.kernel_code
    np.testing.assert_array_equal(pm.w[: 12].reshape(4, 3), model.layers[0].kernel.T)


def test_the_parallel_copy_matches_numpys_and_leaves_the_input_alone():
    from symrecon.backends.numba.bulk_copy import _copy_parallel, copy_float64
    from symrecon.validation import PARALLEL_MIN_ITEMS, as_real_array

    small = np.random.default_rng(1).normal(size=(7, 3))
    dst = np.empty(small.size)
    _copy_parallel(small.reshape(-1), dst)  # the kernel itself, on a size NumPy's copy would take
    np.testing.assert_array_equal(dst.reshape(7, 3), small)
    big = np.random.default_rng(2).normal(size=(PARALLEL_MIN_ITEMS // 4 + 1, 4))
    before = big.copy()
    kept = as_real_array(big, "target y")
    assert not np.shares_memory(kept, big) and not kept.flags.writeable and big.flags.writeable
    np.testing.assert_array_equal(kept, before)
    np.testing.assert_array_equal(big, before)
    strided = big[:, ::2]  # not contiguous: NumPy's copy, C-ordered
    out = copy_float64(strided)
    assert out.flags.c_contiguous and np.array_equal(out, strided)


def test_a_target_read_in_place_is_a_read_only_view_and_the_users_array_stays_writeable():
    from symrecon.validation import as_batch

    y = np.random.default_rng(3).normal(size=(5, 2))
    view, single = as_batch(y, 2, "target y", check_finite=False, copy=False)
    assert np.shares_memory(view, y) and not view.flags.writeable and y.flags.writeable and not single
    converted, _ = as_batch(y.astype(np.float32), 2, "target y", copy=False)  # another dtype: converted
    assert converted.dtype == np.float64 and not converted.flags.writeable
    model = sr.Sequential([sr.Dense([[0.5, 0.1], [0.2, 0.9]], [0.1, 0.0], "tanh")])
    targets = model(y)
    before = targets.copy()
    np.testing.assert_allclose(model(sr.analytic_inverse(model)(targets)), before, rtol=0, atol=1e-14)
    assert targets.flags.writeable and np.array_equal(targets, before)
