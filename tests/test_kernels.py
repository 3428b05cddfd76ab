"""numba kernels against their pure-NumPy twins (property tests), plus finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon import activations
from symrecon.result import Status
from symrecon.solvers import _kernels as K
from symrecon.solvers import _newton_kernels as NK
from symrecon.solvers import _gd_kernels as GK
from symrecon.solvers.newton import layer_inverses

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


def test_status_codes_match_result_status():
    assert K.STATUS_CONVERGED == Status.CONVERGED.code
    assert K.STATUS_MAX_ITER == Status.MAX_ITER.code
    assert K.STATUS_STALLED == Status.STALLED.code
    assert K.STATUS_DIVERGED == Status.DIVERGED.code


@pytest.mark.parametrize("act", ACTIVATION_CASES, ids=lambda a: f"{a.name}-{a.param:g}")
def test_activation_kernels_match_numpy(act):
    z = np.concatenate([np.linspace(-30, 30, 2001), [0.0, -0.0, 1e-300, -1e-300, 6.0, 3.0, -3.0, 700.0, -700.0]])
    a_ref, d_ref = K.act_and_deriv_reference(z, act.kernel_code, act.param)
    np.testing.assert_allclose(a_ref, act.numpy(z))
    a_vec, d_vec = np.empty_like(z), np.empty_like(z)
    K.act_vec(z, a_vec, d_vec, z.size, act.kernel_code, act.param)
    scalar = np.array([K.act_and_deriv(float(v), act.kernel_code, act.param) for v in z])
    for a, d in ((a_vec, d_vec), (scalar[:, 0], scalar[:, 1])):
        # absolute error is what matters for residuals; relative for large values
        np.testing.assert_allclose(a, a_ref, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(d, d_ref, rtol=1e-13, atol=1e-15)


@given(st.floats(-50, 50, allow_nan=False), st.sampled_from(ACTIVATION_CASES))
def test_activation_scalar_property(z, act):
    a, d = K.act_and_deriv(z, act.kernel_code, act.param)
    a_ref, d_ref = K.act_and_deriv_reference(np.array([z]), act.kernel_code, act.param)
    assert a == pytest.approx(float(a_ref[0]), rel=1e-14, abs=1e-15)
    assert d == pytest.approx(float(d_ref[0]), rel=1e-13, abs=1e-15)


def test_activation_kernels_keep_nan():
    z = np.array([np.nan])
    for act in ACTIVATION_CASES:
        a, d = np.empty(1), np.empty(1)
        K.act_vec(z, a, d, 1, act.kernel_code, act.param)
        assert np.isnan(a[0]), act  # the value must carry NaN forward (the derivative need not)


@given(dense_networks(), st.integers(1, 6))
def test_forward_kernel_matches_model(net, n):
    model, rng = net
    pm = K.pack(model)
    x = rng.normal(size=(n, model.n_in))
    expect = model(x)
    np.testing.assert_allclose(K.forward_batch(*pm.args, x), expect, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(K.forward_reference(pm, x), expect, rtol=1e-13, atol=1e-14)


@given(dense_networks(), st.integers(1, 4))
def test_jacobian_kernel_matches_twin_and_lanes(net, n):
    model, rng = net
    pm = K.pack(model)
    x = rng.normal(size=(n, model.n_in))
    out, jac = K.jacobian_batch(*pm.args, x)
    out_r, jac_r = K.jacobian_reference(pm, x)
    np.testing.assert_allclose(out, out_r, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(jac, jac_r, rtol=1e-12, atol=1e-13)
    # the lane (structure-of-arrays) Jacobian of the LM solver
    lanes = NK.LANES
    xl = np.zeros((model.n_in, lanes))
    xl[:, :n] = x.T
    mw, n0, m = pm.max_width, model.n_in, model.n_out
    out_l, jac_l = np.empty((m, lanes)), np.empty((m, n0 * lanes))
    NK._forward_jac_lanes(*pm.args, xl, np.empty((mw, lanes)), np.empty((mw, lanes)), np.empty(lanes),
                          np.empty(lanes), np.empty((mw, n0 * lanes)), np.empty((mw, n0 * lanes)), out_l, jac_l)
    np.testing.assert_allclose(out_l[:, :n].T, out_r, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(jac_l.reshape(m, n0, lanes)[:, :, :n].transpose(2, 0, 1), jac_r, rtol=1e-12, atol=1e-13)


@given(dense_networks(names=[activations.get(n) for n in ("tanh", "sigmoid", "softplus", "linear", "elu")]))
def test_jacobian_matches_finite_differences(net):
    model, rng = net
    pm = K.pack(model)
    x = rng.normal(size=(1, model.n_in))
    _, jac = K.jacobian_batch(*pm.args, x)
    h = 1e-6
    fd = np.stack([(model(x[0] + h * e) - model(x[0] - h * e)) / (2 * h) for e in np.eye(model.n_in)], axis=1)
    np.testing.assert_allclose(jac[0], fd, rtol=1e-5, atol=1e-7)


@given(dense_networks(), st.integers(1, 4))
def test_gradient_kernel_matches_twin_and_jacobian(net, n):
    model, rng = net
    pm = K.pack(model)
    x = rng.normal(size=(n, model.n_in))
    y = rng.normal(size=(n, model.n_out))
    cost, grad = K.gradient_batch(*pm.args, x, y)
    cost_r, grad_r = K.gradient_reference(pm, x, y)
    np.testing.assert_allclose(cost, cost_r, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grad, grad_r, rtol=1e-11, atol=1e-12)
    out, jac = K.jacobian_reference(pm, x)
    np.testing.assert_allclose(grad, 2 * np.einsum("nji,nj->ni", jac, out - y), rtol=1e-11, atol=1e-12)


def _lm_kernel(pm, x0, y, lower=None, upper=None, tol=1e-10, max_iter=50):
    n, n0 = x0.shape
    xs, st_, it = np.empty((n, n0)), np.zeros(n, np.int8), np.zeros(n, np.int64)
    has = lower is not None
    lo = np.full(n0, -np.inf) if lower is None else np.array(lower, dtype=float)
    hi = np.full(n0, np.inf) if upper is None else np.array(upper, dtype=float)
    NK.lm_batch(*pm.args, np.array(x0), np.array(y), lo, hi, has, tol, max_iter, 3, xs, st_, it, np.zeros((0, n0)))
    return xs, st_, it


@settings(max_examples=25)
@given(dense_networks(names=[activations.get(n) for n in ("tanh", "sigmoid", "linear", "softplus")]),
       st.integers(1, 11), st.booleans())
def test_lm_kernel_matches_twin(net, n, bounded):
    model, rng = net
    # a bottleneck narrower than min(n_in, n_out) makes J rank-deficient: the preimage is
    # then a set, and rounding alone picks which member each implementation lands on
    assume(all(layer.n_out >= min(model.n_in, model.n_out) for layer in model.layers))
    pm = K.pack(model)
    # targets reachable inside the bounds, so that the answer is one point
    y = model(np.clip(0.5 * rng.normal(size=(n, model.n_in)), -0.25, 0.25))
    x0 = np.zeros((n, model.n_in))
    lo, hi = (np.full(model.n_in, -0.3), np.full(model.n_in, 0.3)) if bounded else (None, None)
    xs, st_, it = _lm_kernel(pm, x0, y, lo, hi)
    xr, sr_, ir = NK.lm_reference(pm, x0, y, lo, hi, tol=1e-10, max_iter=50)
    # rounding can flip an accept/reject decision on a rare target; the rest must agree
    assert np.mean(st_ == sr_) >= 0.8
    both = (st_ == K.STATUS_CONVERGED) & (sr_ == K.STATUS_CONVERGED)
    np.testing.assert_allclose(xs[both], xr[both], rtol=1e-7, atol=1e-8)
    same = both & (it == ir)
    assert np.mean(same[both]) >= 0.8 if np.any(both) else True
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
    pm = K.pack(model)
    winv = layer_inverses(model)
    y = model(rng.normal(size=(7, n0)))
    x0 = np.zeros((7, n0))
    xs, st_, it = np.empty((7, n0)), np.zeros(7, np.int8), np.zeros(7, np.int64)
    NK.gn_square_batch(*pm.args, winv, x0, y, 1e-10, 50, 3, xs, st_, it, np.zeros((0, n0)))
    xr, sr_, ir = NK.gn_square_reference(pm, [m.reshape(n0, n0) for m in np.split(winv, len(layers))], x0, y,
                                         tol=1e-10, max_iter=50)
    same = (st_ == sr_) & (it == ir)
    assert np.mean(same) >= 0.8
    np.testing.assert_allclose(xs[same], xr[same], rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("optimizer", ["constant", "momentum", "adam"])
@settings(max_examples=15)
@given(net=dense_networks(names=[activations.get(n) for n in ("tanh", "sigmoid", "linear")]))
def test_gd_kernel_matches_twin(optimizer, net):
    model, rng = net
    pm = K.pack(model)
    n, n0 = 4, model.n_in
    y = model(0.5 * rng.normal(size=(n, n0)))
    x0 = np.zeros((n, n0))
    lo, hi = np.full(n0, -0.4), np.full(n0, 0.4)
    xs, st_, it = np.empty((n, n0)), np.zeros(n, np.int8), np.zeros(n, np.int64)
    code = GK.OPTIMIZERS[optimizer]
    GK.gd_batch(*pm.args, x0, np.array(y), lo, hi, True, 1e-12, 40, code, 0.05, 0.9, 0.999, 1e-8, xs, st_, it,
                np.zeros((0, n0)))
    xr, sr_, ir = GK.gd_reference(pm, x0, y, lower=lo, upper=hi, tol=1e-12, max_iter=40, optimizer=optimizer,
                                  lr=0.05)
    np.testing.assert_array_equal(st_, sr_)
    np.testing.assert_array_equal(it, ir)
    np.testing.assert_allclose(xs, xr, rtol=1e-10, atol=1e-12)


def test_pack_layout_round_trip():
    rng = np.random.default_rng(0)
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 4)), rng.normal(size=4), "tanh"),
                           sr.Dense(rng.normal(size=(4, 2)), None, "sigmoid")])
    pm = K.pack(model)
    assert pm.n_in == 3 and pm.n_out == 2 and pm.max_width == 4
    for (kernel, bias, code, _), layer in zip(K._layers(pm), model.layers):
        np.testing.assert_array_equal(kernel, layer.kernel)
        np.testing.assert_array_equal(bias, layer.bias)
        assert code == layer.activation.kernel_code
    np.testing.assert_array_equal(pm.wk[: 12].reshape(3, 4), model.layers[0].kernel)
