"""analytic_inverse: round trips, agreement of its three evaluators, affine sets, errors, the solver."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    INVERTIBLE_NAMES,
    inputs_for,
    invertible_networks,
    wide_first_networks,
)

import symrecon as sr
from symrecon import activations
from symrecon.errors import (
    InfeasibleTargetError,
    InvalidValueError,
    NotInvertibleError,
    ShapeError,
)
from symrecon.solvers.analytic import cached_inverse
from symrecon.symbolic.inverse import NUMBA_MIN_ROWS
from symrecon.symbolic.numeric import evaluate_numba, evaluate_numpy


def _close(a, b, rel=1e-9):
    """|a - b| <= rel * max(1, |b|) elementwise-max: relative for large values, absolute near 0."""
    scale = max(1.0, float(np.max(np.abs(b))))
    err = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    assert err <= rel * scale, f"max error {err:.3g} > {rel:g} * {scale:.3g}"


def _sigmoid_unit(w=0.5, b=-1.0):
    return sr.Sequential([sr.Dense([[w]], [b], "sigmoid")])


# -- property tests -------------------------------------------------------


@given(invertible_networks(), st.data())
def test_round_trip_random_networks(model, data):
    x = data.draw(inputs_for(model, n_rows=4))
    inv = sr.analytic_inverse(model)
    y = model(x)
    _close(inv(y), x)
    _close(inv(y[0]), x[0])  # single target keeps its shape
    assert inv(y[0]).shape == (model.n_in,)


@given(invertible_networks(), st.data())
def test_numba_kernel_agrees_with_numpy_twin(model, data):
    x = data.draw(inputs_for(model, n_rows=5))
    plan = sr.analytic_inverse(model).plan
    y = model(x)
    fast, ref = evaluate_numba(plan, y), evaluate_numpy(plan, y)
    assert fast.shape == ref.shape == x.shape
    _close(fast, ref, rel=1e-12)


@settings(max_examples=20)
@given(invertible_networks(max_depth=3, max_width=3), st.data())
def test_sympy_expression_agrees_with_numeric_evaluator(model, data):
    x = data.draw(inputs_for(model, n_rows=3))
    inv = sr.analytic_inverse(model)
    y = model(x)
    assert inv.expr.shape == (model.n_in, 1)
    assert set().union(*(e.free_symbols for e in inv.expr)) <= set(inv.symbols)
    _close(inv.evaluate_expr(y), inv(y), rel=1e-9)
    _close(inv.evaluate_expr(y), x, rel=1e-9)


def test_sympy_expression_in_mpmath_precision():
    model = sr.Sequential([sr.Dense([[2.0, 0.5], [0.0, 1.0]], [0.1, -0.2], "tanh"),
                           sr.Dense([[1.0, -1.0], [0.5, 1.0]], [0.0, 0.3], "sigmoid")])
    x = np.array([[0.3, -0.4], [0.05, 0.2]])
    inv = sr.analytic_inverse(model)
    _close(inv.evaluate_expr(model(x), modules="mpmath"), x, rel=1e-12)


@pytest.mark.parametrize("name", INVERTIBLE_NAMES)
def test_kernel_inverse_formula_matches_registry(name):
    # One unit per activation, identity weights: the kernel's closed form for
    # each kernel_code against the registry's numpy_inverse, including large batches.
    act = activations.get(name)
    model = sr.Sequential([sr.Dense(np.eye(3), np.zeros(3), act)])
    z = np.linspace(-3, 3, 3 * 3000).reshape(-1, 3)
    y = model(z)
    plan = sr.analytic_inverse(model).plan
    _close(evaluate_numba(plan, y), act.numpy_inverse(y), rel=1e-13)
    _close(evaluate_numba(plan, y), z, rel=1e-10)


@pytest.mark.parametrize("act", [activations.get("leaky_relu", negative_slope=0.07),
                                 activations.get("elu", alpha=2.5)], ids=repr)
def test_kernel_honours_activation_parameters(act):
    model = sr.Sequential([sr.Dense(np.eye(2), activation=act)])
    z = np.linspace(-4, 4, 2 * 500).reshape(-1, 2)
    _close(evaluate_numba(sr.analytic_inverse(model).plan, model(z)), z, rel=1e-12)


def test_large_batch_goes_through_numba_and_matches():
    rng = np.random.default_rng(3)
    model = sr.Sequential([sr.Dense(np.linalg.qr(rng.normal(size=(6, 6)))[0] * 0.9, rng.normal(size=6) * 0.1,
                                    "tanh") for _ in range(3)])
    x = rng.uniform(-0.4, 0.4, size=(NUMBA_MIN_ROWS + 7, 6))
    inv = sr.analytic_inverse(model)
    _close(inv(model(x)), x)
    _close(inv(model(x), backend="numba"), inv(model(x), backend="numpy"), rel=1e-13)
    with pytest.raises(ValueError, match="backend"):
        inv(model(x[:1]), backend="torch")


# -- affine sets (wide first layer) ---------------------------------------


@given(wide_first_networks(), st.data())
def test_wide_first_layer_every_affine_point_reproduces_y(model, data):
    x = data.draw(inputs_for(model, n_rows=2))
    inv = sr.analytic_inverse(model)
    y = model(x)
    assert inv.is_affine
    n = inv.null_basis
    k = model.n_in - model.layers[0].n_out
    assert n.shape == (model.n_in, k)
    np.testing.assert_allclose(n.T @ n, np.eye(k), atol=1e-12)  # orthonormal
    np.testing.assert_allclose(n.T @ model.layers[0].kernel, 0.0, atol=1e-12)  # v @ W = 0
    aff = inv.affine_set(y)
    t = np.asarray(data.draw(st.lists(st.floats(-3, 3), min_size=2 * k, max_size=2 * k))).reshape(2, k)
    _close(model(aff.sample(t)), y, rel=1e-9)
    _close(model(aff.point), y, rel=1e-9)
    _close(evaluate_numba(inv.plan, y), evaluate_numpy(inv.plan, y), rel=1e-12)  # kernel twin, wide case


@given(wide_first_networks(max_depth=1), st.data())
def test_wide_first_point_is_the_min_norm_solution(model, data):
    x = data.draw(inputs_for(model))
    inv = sr.analytic_inverse(model)
    layer = model.layers[0]
    y = model(x)
    xp = inv(y)
    # minimum-norm solution of x W = f^{-1}(y) - b, from LAPACK
    u = layer.activation.numpy_inverse(y) - layer.bias
    lstsq = np.linalg.lstsq(layer.kernel.T, u, rcond=None)[0]
    _close(xp, lstsq, rel=1e-10)
    # and no member of the set is shorter
    assert np.all(np.abs(inv.null_basis.T @ xp) <= 1e-10 * max(1.0, np.linalg.norm(xp)))
    t = np.ones(inv.null_basis.shape[1]) * 0.1
    assert np.linalg.norm(inv.affine_set(y).sample(t)) > np.linalg.norm(xp)


def test_square_model_is_not_affine():
    inv = sr.analytic_inverse(_sigmoid_unit())
    assert not inv.is_affine and inv.null_basis.shape == (1, 0)
    aff = inv.affine_set([0.5])
    assert aff.dimension == 0 and aff.point.shape == (1,)


# -- tall layers -----------------------------------------------------------


def test_tall_layer_consistent_and_inconsistent_targets():
    model = sr.Sequential([sr.Dense([[1.0, 2.0, -1.0]], [0.0, 0.5, 0.0], "tanh")])  # 1 -> 3
    inv = sr.analytic_inverse(model)
    x = np.array([[0.2], [-0.3]])
    _close(inv(model(x)), x, rel=1e-12)
    _close(inv(model(x), backend="numba"), x, rel=1e-12)
    bad = np.array([0.2, 0.2, 0.2])  # not on the curve t -> tanh(t W + b)
    for backend in ("numpy", "numba"):
        with pytest.raises(InfeasibleTargetError, match="least-squares residual") as info:
            inv(bad, backend=backend)
        assert info.value.layer == model.layers[0].name and info.value.value > 1e-3


# -- bad input -------------------------------------------------------------


@pytest.mark.parametrize("name, value, interval", [
    ("sigmoid", 1.2, "Interval.open(0, 1)"),
    ("tanh", -1.0, "Interval.open(-1, 1)"),
    ("softplus", 0.0, "Interval.open(0, oo)"),
])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_target_outside_the_image(name, value, interval, backend):
    model = sr.Sequential([sr.Dense(np.eye(2), [0.1, -0.1], name, name="out")])
    inv = sr.analytic_inverse(model)
    y = np.array([[0.5, 0.3], [0.5, value]])
    with pytest.raises(InfeasibleTargetError) as info:
        inv(y, backend=backend)
    err = info.value
    assert (err.layer, err.unit, err.value) == ("out", 1, value)
    assert str(err.interval) == interval
    assert "target 1" in str(err) and "unit 1" in str(err) and repr(value) in str(err)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_intermediate_value_outside_the_hidden_image(backend):
    # y = 1 * sigmoid(x) + 0: un-doing the (linear) output layer for y = 2
    # asks the sigmoid of the hidden layer for 2, outside (0, 1).
    model = sr.Sequential([sr.Dense([[1.0]], [0.0], "sigmoid", name="hidden"),
                           sr.Dense([[1.0]], [0.0], "linear", name="out")])
    inv = sr.analytic_inverse(model)
    np.testing.assert_allclose(inv([0.25], backend=backend), [np.log(1 / 3)])
    with pytest.raises(InfeasibleTargetError) as info:
        inv([2.0], backend=backend)
    err = info.value
    assert (err.layer, err.unit, err.value, err.interval) == ("hidden", 0, 2.0, sr.activations.get("sigmoid").image)
    assert "hidden" in str(err) and "(0, 1)" in str(err)


def test_overflow_is_an_error_not_inf():
    model = sr.Sequential([sr.Dense([[1e-300]], [0.0], "linear")])
    inv = sr.analytic_inverse(model)
    assert inv([1.0])[0] == pytest.approx(1e300)
    for backend in ("numpy", "numba"):
        with pytest.raises(InfeasibleTargetError, match="too large for float64"):
            inv([1e300], backend=backend)


def test_never_nan_on_the_edges_of_the_image():
    inv = sr.analytic_inverse(_sigmoid_unit(1.0, 0.0))
    for backend in ("numpy", "numba"):
        y = np.array([[1e-300], [1 - 1e-16], [0.5]])
        x = inv(y, backend=backend)
        assert np.all(np.isfinite(x))
        np.testing.assert_allclose(x, np.log(y) - np.log1p(-y), rtol=1e-13)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_target(bad):
    inv = sr.analytic_inverse(_sigmoid_unit())
    with pytest.raises(InvalidValueError, match="NaN or inf"):
        inv([bad])
    with pytest.raises(InvalidValueError, match="NaN or inf"):
        sr.reconstruct(_sigmoid_unit(), [bad], method="analytic")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_weights(bad):
    with pytest.raises(InvalidValueError, match="NaN or inf"):
        sr.Dense([[1.0, bad], [0.0, 1.0]], activation="tanh")
    with pytest.raises(InvalidValueError, match="NaN or inf"):
        sr.Dense(np.eye(2), [0.0, bad], activation="tanh")


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 2, 2), (0, 2), ()])
def test_wrong_target_shape(shape):
    inv = sr.analytic_inverse(sr.Sequential([sr.Dense(np.eye(2), activation="tanh")]))
    with pytest.raises(ShapeError, match=r"\(2,\) or \(N, 2\)|empty batch"):
        inv(np.full(shape, 0.1))


def test_singular_square_kernel():
    model = sr.Sequential([sr.Dense(np.eye(2), activation="tanh", name="ok"),
                           sr.Dense([[1.0, 2.0], [2.0, 4.0]], activation="tanh", name="flat")])
    with pytest.raises(NotInvertibleError, match="rank 1") as info:
        sr.analytic_inverse(model)
    assert info.value.reason == "rank" and info.value.layer == "flat" and "'flat'" in str(info.value)


def test_nearly_singular_kernel_uses_a_relative_tolerance():
    # 1e-20 relative to 1: singular in float64; a kernel of 1e-20 *scale* is fine.
    with pytest.raises(NotInvertibleError) as info:
        sr.analytic_inverse(sr.Sequential([sr.Dense([[1.0, 0.0], [0.0, 1e-20]])]))
    assert info.value.reason == "rank"
    inv = sr.analytic_inverse(sr.Sequential([sr.Dense(np.eye(2) * 1e-20)]))
    np.testing.assert_allclose(inv([1e-20, 2e-20]), [1.0, 2.0])


@pytest.mark.parametrize("name", ["relu", "gelu", "silu", "hard_sigmoid", "relu6"])
def test_non_invertible_activation(name):
    model = sr.Sequential([sr.Dense(np.eye(2), activation="tanh", name="first"),
                           sr.Dense(np.eye(2), activation=name, name="second")])
    with pytest.raises(NotInvertibleError) as info:
        sr.analytic_inverse(model)
    err = info.value
    assert err.reason == "activation" and err.layer == "second"
    assert "'second'" in str(err) and name.split("_")[0] in str(err)
    with pytest.raises(NotInvertibleError):
        sr.reconstruct(model, [0.1, 0.2], method="analytic")


def test_wide_layer_after_the_first_is_a_shape_problem():
    model = sr.Sequential([sr.Dense(np.eye(3), activation="tanh", name="a"),
                           sr.Dense(np.ones((3, 2)) + np.eye(3)[:, :2], activation="tanh", name="b")])
    with pytest.raises(NotInvertibleError) as info:
        sr.analytic_inverse(model)
    assert info.value.reason == "shape" and info.value.layer == "b"


def test_rank_deficient_wide_first_layer():
    with pytest.raises(NotInvertibleError) as info:
        sr.analytic_inverse(sr.Sequential([sr.Dense([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])]))
    assert info.value.reason == "rank"


def test_non_dense_layer():
    from symrecon.layers import Softmax

    # a softmax inside the chain (a last one is a classifier: tests/test_softmax.py)
    model = sr.Sequential([sr.Dense(np.eye(3)), Softmax(3), sr.Dense(np.eye(3))])
    with pytest.raises(NotInvertibleError) as info:
        sr.analytic_inverse(model)
    assert info.value.reason == "layer"
    with pytest.raises(TypeError):
        sr.analytic_inverse("not a model")


def test_nothing_the_user_passed_is_mutated():
    kernel = np.array([[0.9, 0.2], [-0.1, 0.8]])
    bias = np.array([0.05, -0.05])
    model = sr.Sequential([sr.Dense(kernel, bias, "sigmoid")])
    y = np.array([[0.3, 0.6], [0.7, 0.2]])
    copies = [a.copy() for a in (kernel, bias, y)]
    inv = sr.analytic_inverse(model)
    inv(y)
    inv(y, backend="numba")
    inv.affine_set(y)
    inv.evaluate_expr(y)
    sr.reconstruct(model, y, method="analytic")
    sr.reconstruct(model, y[0], method="analytic")
    for original, copy in zip((kernel, bias, y), copies):
        np.testing.assert_array_equal(original, copy)
        assert original.flags.writeable
    # The model keeps frozen copies, the inverse's matrices are frozen too.
    assert not any(lp.back.flags.writeable for lp in inv.plan.layers)
    out = inv(y)
    assert out.flags.writeable  # the caller owns the result


# -- the solver ----------------------------------------------------------


def test_reconstruct_analytic_single_and_batch():
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    res = sr.reconstruct(model, [100.0], method="analytic")
    assert res.n_iter == 0 and res.success and res.residual <= res.tol and res.method == "analytic"
    assert res.x.shape == (1,) and float(res.x[0]) == pytest.approx(312.5, rel=1e-12)
    assert res.status is sr.Status.EXACT and res.affine_set is None

    rng = np.random.default_rng(0)
    model = sr.Sequential([sr.Dense(np.linalg.qr(rng.normal(size=(3, 3)))[0], [0.1, 0.0, -0.1], "tanh"),
                           sr.Dense(np.eye(3) * 0.8, activation="sigmoid")])
    x = rng.uniform(-0.5, 0.5, size=(5, 3))
    res = sr.reconstruct(model, model(x), method="analytic")
    assert res.x.shape == (5, 3) and np.all(res.success) and np.all(res.n_iter == 0)
    assert np.all(res.residual <= res.tol)
    _close(res.x, x)


def test_reconstruct_analytic_wide_first_layer_carries_the_affine_set():
    model = sr.Sequential([sr.Dense([[0.4], [0.3]], [-1.0], "sigmoid")])
    res = sr.reconstruct(model, [0.3], method="analytic")
    assert res.success and res.affine_set is not None and res.affine_set.dimension == 1
    np.testing.assert_allclose(res.x, res.affine_set.point)
    # min-norm point is parallel to the kernel column
    np.testing.assert_allclose(res.x / np.linalg.norm(res.x), [0.8, 0.6], atol=1e-12)
    batch = sr.reconstruct(model, [[0.3], [0.6]], method="analytic")
    assert batch.affine_set.point.shape == (2, 2)


def test_reconstruct_analytic_refuses_what_it_does_not_support():
    model = _sigmoid_unit()
    with pytest.raises(sr.CapabilityError):
        sr.reconstruct(model, [0.3], method="analytic", bounds=(-1, 1))   # 0.3 is reachable in the box
    with pytest.raises(sr.CapabilityError):
        sr.reconstruct(model, [0.5], method="analytic", x0=[0.0])
    with pytest.raises(TypeError, match="unknown option"):
        sr.reconstruct(model, [0.5], method="analytic", learning_rate=0.1)


def test_consistency_tolerance_is_validated():
    with pytest.raises(InvalidValueError, match="consistency_rtol"):
        sr.analytic_inverse(_sigmoid_unit(), consistency_rtol=-1.0)


def test_solver_caches_the_inverse_per_model():
    model = _sigmoid_unit()
    assert cached_inverse(model) is cached_inverse(model)
    assert cached_inverse(_sigmoid_unit()) is not cached_inverse(model)


# -- per-row status and the parallel kernel (issue 9 items 4 and 6) ------------


def _sigmoid_then_linear():
    return sr.Sequential([sr.Dense([[1.0, 0.5], [0.2, 1.0]], [0.0, 0.1], "sigmoid", name="h"),
                          sr.Dense(np.eye(2), [0.0, 0.0], "linear", name="o")])


@pytest.mark.parametrize("edge", [1.0, 0.0])
def test_parallel_kernel_survives_a_value_on_the_image_boundary(edge):
    # Issue 9 item 4: a hidden sigmoid asked for exactly 1.0 (or 0.0) divided by
    # zero inside the parallel loop: SystemError, or a wrong row in the message.
    model = _sigmoid_then_linear()
    inv = sr.analytic_inverse(model)
    x = np.random.default_rng(4).uniform(-1, 1, size=(3000, 2))
    y = model(x)
    y[2999, 0] = edge
    with pytest.raises(InfeasibleTargetError, match="^target 2999: ") as info:
        inv(y)
    assert (info.value.layer, info.value.unit, info.value.value) == ("h", 0, edge)
    xs, status = inv.evaluate_rows(y, backend="numba")
    assert status.dtype == np.int8 and status[2999] == sr.Status.INFEASIBLE
    assert np.all(status[:2999] == sr.Status.EXACT) and np.all(np.isnan(xs[2999]))
    _close(xs[:2999], x[:2999], rel=1e-10)


@pytest.mark.slow
def test_every_row_of_a_huge_batch_is_written_and_the_bad_one_named():
    # Issue 9 item 6: with 2 000 000 rows and one infeasible row, the last 128
    # rows came back as x = 0.0 with no error.  (A few seconds: 32 MB of targets.)
    model = _sigmoid_then_linear()
    inv = sr.analytic_inverse(model)
    x = np.random.default_rng(5).uniform(-1, 1, size=(2_000_000, 2))
    y = model(x)
    y[-1, 0] = 1.0
    with pytest.raises(InfeasibleTargetError, match="^target 1999999: "):
        inv(y)
    xs, status = inv.evaluate_rows(y)
    assert np.all(status[:-1] == sr.Status.EXACT) and status[-1] == sr.Status.INFEASIBLE
    _close(xs[-128:-1], x[-128:-1], rel=1e-10)
    _close(xs[::997], x[::997], rel=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_evaluate_rows_gives_a_status_and_a_reason_per_row(backend):
    from symrecon.symbolic.numeric import evaluate_rows, row_error

    tall = sr.analytic_inverse(sr.Sequential([sr.Dense([[1.0, 2.0, -1.0]], [0.0, 0.5, 0.0], "tanh", name="t")]))
    good = tall.model(np.array([[0.2], [-0.3]]))
    y = np.vstack([good[0], [0.2, 0.2, 0.2], good[1], [0.1, 1.5, 0.0]])
    x, status = evaluate_rows(tall.plan, y, backend)
    assert [sr.Status(s) for s in status] == [sr.Status.EXACT, sr.Status.INFEASIBLE, sr.Status.EXACT,
                                              sr.Status.INFEASIBLE]
    _close(x[[0, 2]], [[0.2], [-0.3]], rel=1e-12)
    assert np.all(np.isnan(x[[1, 3]]))
    assert row_error(tall.plan, y, 0) is None
    inconsistent, image = row_error(tall.plan, y, 1), row_error(tall.plan, y, 3)
    assert inconsistent.layer == "t" and inconsistent.unit is None and "least-squares" in str(inconsistent)
    assert (image.layer, image.unit, image.value) == ("t", 1, 1.5) and str(image).startswith("target 3: ")
    # an input beyond float64 is infeasible too
    tiny = sr.analytic_inverse(sr.Sequential([sr.Dense([[1e-300]], [0.0], "linear")]))
    x, status = evaluate_rows(tiny.plan, np.array([[1.0], [1e300]]), backend)
    assert list(status) == [sr.Status.EXACT, sr.Status.INFEASIBLE] and np.isnan(x[1, 0])
    assert row_error(tiny.plan, np.array([[1.0], [1e300]]), 1).value == np.inf


def test_numba_and_numpy_rows_agree_on_statuses():
    model = sr.Sequential([sr.Dense(np.eye(2) * 0.9, [0.1, -0.1], "tanh"), sr.Dense(np.eye(2), [0.0, 0.0], "sigmoid")])
    rng = np.random.default_rng(6)
    y = rng.uniform(-0.2, 1.2, size=(5000, 2))  # some outside (0, 1), some whose hidden tanh value is outside
    inv = sr.analytic_inverse(model)
    fast, ref = inv.evaluate_rows(y, "numba"), inv.evaluate_rows(y, "numpy")
    np.testing.assert_array_equal(fast[1], ref[1])
    assert 0 < np.sum(ref[1] == sr.Status.INFEASIBLE) < y.shape[0]
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-12, atol=1e-12)  # NaN in the same rows


def test_log_sigmoid_model_has_a_closed_form_inverse():
    rng = np.random.default_rng(8)
    q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    model = sr.Sequential([sr.Dense(q, [0.1, -0.2, 0.0], "tanh"),
                           sr.Dense(q.T * 0.9, [0.0, 0.3, -0.1], "log_sigmoid")])
    inv = sr.analytic_inverse(model)
    x = rng.uniform(-0.5, 0.5, size=(NUMBA_MIN_ROWS + 3, 3))
    y = model(x)
    for backend in ("numpy", "numba"):
        _close(inv(y, backend=backend), x, rel=1e-10)
    _close(inv.evaluate_expr(y[:4]), x[:4], rel=1e-10)
    with pytest.raises(InfeasibleTargetError, match="log_sigmoid"):
        inv([0.0, -1.0, -1.0])  # log(sigmoid) < 0


def test_symbolic_package_holds_no_numba_code():
    import sys

    from symrecon import symbolic

    for name, module in list(sys.modules.items()):
        if name.startswith(symbolic.__name__ + "."):
            assert not any(type(v).__module__.startswith("numba") for v in vars(module).values()
                           if getattr(v, "__module__", None) == name), name


@pytest.mark.parametrize("output", ["tanh", "linear"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_a_kernel_sized_batch_read_in_place(output, bad):
    # the call reads y without a copy or a scan first; the kernel's image check must still catch it
    rng = np.random.default_rng(2)
    model = sr.Sequential([sr.Dense(np.linalg.qr(rng.normal(size=(3, 3)))[0], [0.1, 0.0, -0.1], "tanh"),
                           sr.Dense(np.linalg.qr(rng.normal(size=(3, 3)))[0], [0.0, 0.2, 0.0], output)])
    y = model(rng.normal(0.0, 0.5, size=(5000, 3)))
    y[2345, 1] = bad
    with pytest.raises(InvalidValueError, match=r"NaN or inf \(first at index \(2345, 1\)\)"):
        sr.analytic_inverse(model)(y)
