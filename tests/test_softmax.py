"""Softmax classifiers: probability targets, the reduction to log-ratios, preimages, prototypes, errors.

Tolerances: closed forms and the polished nearest search are held to the
library's default probability tolerance (``tol = 1e-9``, scaled by
``min(p, 1 - p)`` as :mod:`symrecon.softmax` documents); the brute-force set
checks use ``1e-9`` on probabilities of order 0.1-1, the accuracy a closed
form of a well-conditioned model reaches with room to spare.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon.backends import numpy_ref
from symrecon.softmax import centred_logits, check_probabilities, log_ratio_basis, reduction
from symrecon.solvers.nearest import dense_value_and_jacobian, least_distance


def _classifier(rng, n_in, n_classes, hidden=None, act="tanh"):
    layers = []
    width = n_in
    if hidden is not None:
        layers.append(sr.Dense(rng.normal(size=(n_in, hidden)) / np.sqrt(n_in), rng.normal(size=hidden) * 0.1, act))
        width = hidden
    layers += [sr.Dense(rng.normal(size=(width, n_classes)), rng.normal(size=n_classes) * 0.1), sr.Softmax(n_classes)]
    return sr.Sequential(layers)


def _in_set(aff, x, atol=1e-9):
    """``x`` lies in ``point + span(null_basis)`` (orthogonal residual of ``x - point``)."""
    d = np.asarray(x) - aff.point
    n = aff.null_basis
    return float(np.max(np.abs(d - n @ (n.T @ d)))) <= atol * (1.0 + float(np.max(np.abs(x))))


# --- the reduction ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 10])
def test_log_ratio_basis_is_orthonormal_and_centred(n):
    q = log_ratio_basis(n)
    np.testing.assert_allclose(q.T @ q, np.eye(n - 1), atol=1e-14)
    np.testing.assert_allclose(q.sum(axis=0), 0.0, atol=1e-14)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 6), hidden=st.sampled_from([None, 3, 5]))
def test_reduced_model_has_the_same_preimages(seed, n, hidden):
    # softmax(body(x)) = p  <=>  body(x) Q = log(p) Q: at any x, the reduced output is the log-ratio of the output
    rng = np.random.default_rng(seed)
    m = _classifier(rng, 4, n, hidden)
    x = rng.normal(size=(5, 4))
    red = reduction(m)
    np.testing.assert_allclose(red.reduced(x), red.coordinates(m(x)), atol=1e-10)
    assert red.reduced.is_dense and red.reduced.n_out == n - 1


def test_keras_style_and_separate_softmax_layers_reduce_alike():
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(3, 4)), rng.normal(size=4)
    folded = reduction(sr.Sequential([sr.Dense(w, b), sr.Softmax(4)])).reduced
    kept = reduction(sr.Sequential([sr.Dense(w, b, "tanh"), sr.Softmax(4)])).reduced
    assert len(folded.layers) == 1 and len(kept.layers) == 2  # a linear logit layer absorbs Q
    with pytest.raises(sr.InvalidValueError, match="Softmax"):
        sr.Dense(w, b, "softmax")


def test_dense_jacobian_matches_the_numpy_reference():
    rng = np.random.default_rng(2)
    m = reduction(_classifier(rng, 5, 4, hidden=6)).reduced
    x = rng.normal(size=5)
    out, jac = dense_value_and_jacobian(m, x)
    ref_out, ref_jac = numpy_ref.jacobian(m, x[None])
    np.testing.assert_allclose(out, ref_out[0], atol=1e-13)
    np.testing.assert_allclose(jac, ref_jac[0], atol=1e-13)


def test_least_distance_solves_the_bounded_qp():
    rng = np.random.default_rng(3)
    a, ref = rng.normal(size=(2, 6)), rng.normal(size=6) * 3
    lo, hi = np.full(6, -1.0), np.full(6, 1.0)
    c = a @ rng.uniform(-0.5, 0.5, 6)  # feasible
    x = least_distance(a, c, ref, lo, hi)
    np.testing.assert_allclose(a @ x, c, atol=1e-12)
    assert np.all((x >= lo) & (x <= hi))
    from scipy.optimize import minimize
    alt = minimize(lambda v: np.sum((v - ref) ** 2), np.zeros(6), method="SLSQP", bounds=list(zip(lo, hi)),
                   constraints=[{"type": "eq", "fun": lambda v: a @ v - c}], options={"ftol": 1e-14}).x
    assert np.linalg.norm(x - ref) <= np.linalg.norm(alt - ref) + 1e-7


# --- reconstruct, analytic_inverse, compare ----------------------------------------------------------

@pytest.mark.parametrize("method", ["auto", "analytic", "newton", "gd", "scipy"])
def test_every_method_reaches_a_probability_target(method):
    m = sr.Sequential([sr.Dense([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5], [0.2, 0.1, 1.0]], [0.1, 0.0, -0.1]),
                       sr.Softmax(3)])
    p = np.array([[0.2, 0.3, 0.5], [0.05, 0.9, 0.05]])
    res = sr.reconstruct(m, p, method=method)
    assert np.all(res.success), res.message
    np.testing.assert_allclose(m(res.x), p, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(res.y_target, p)


def test_tiny_probabilities_are_reached_to_their_own_scale():
    m = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])
    p = np.array([1e-300, 0.5, 0.5 - 1e-300])
    res = sr.reconstruct(m, p, method="analytic")
    assert res.success
    assert abs(m(res.x)[0] - 1e-300) <= 1e-9 * 1e-300 + 4 * np.finfo(float).eps * 1e-300


def test_analytic_inverse_and_expr_agree_and_fold_the_free_direction():
    m = sr.Sequential([sr.Dense(np.eye(3), [0.5, 0.0, -0.5]), sr.Softmax(3)])
    inv = sr.analytic_inverse(m)
    p = np.array([0.2, 0.3, 0.5])
    x = inv(p)
    np.testing.assert_allclose(m(x), p, atol=1e-14)
    np.testing.assert_allclose(inv.evaluate_expr(p), x, atol=1e-12)
    np.testing.assert_allclose(np.abs(inv.null_basis.ravel()), 1 / np.sqrt(3), atol=1e-12)  # the constant c


def test_a_square_chain_below_the_softmax_is_a_single_point():
    m = sr.Sequential([sr.Dense([[1.0, 2.0], [0.5, -1.0]], [0.1, 0.2], "tanh"),
                       sr.Dense([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]), sr.Softmax(3)])
    x = np.array([0.3, -0.2])
    inv = sr.analytic_inverse(m)
    assert not inv.is_affine
    np.testing.assert_allclose(inv(m(x)), x, atol=1e-12)
    steps = [str(s.eq) for s in inv.derivation]
    assert any("log(y_j)" in s and "c" in s for s in steps)
    assert "r_j" in " ".join(steps)  # the reduced model's output is named r


def test_derivation_compiles(tmp_path):
    from helpers import compile_latex

    m = sr.Sequential([sr.Dense([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), sr.Softmax(2)])
    path = sr.analytic_inverse(m).derivation.save(tmp_path / "softmax.tex")
    compile_latex(path)


def test_no_closed_form_names_the_wide_hidden_layer():
    m = _classifier(np.random.default_rng(4), 6, 3, hidden=5)
    with pytest.raises(sr.NotInvertibleError, match="dense"):
        sr.analytic_inverse(m)
    with pytest.raises(sr.NotInvertibleError):
        sr.softmax_preimage(m, [0.2, 0.3, 0.5])


def test_compare_runs_on_a_classifier():
    m = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])
    cmp = sr.compare(m, [0.2, 0.3, 0.5], methods=("analytic", "newton"))
    assert cmp["newton"].digits >= 10
    assert np.all(cmp["newton"].result.success)


# --- preimage sets vs brute force ---------------------------------------------------------------------

@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), n_in=st.integers(2, 6), n=st.integers(2, 5))
def test_softmax_preimage_against_brute_force(seed, n_in, n):
    rng = np.random.default_rng(seed)
    m = _classifier(rng, n_in, n)
    x_gen = rng.normal(size=n_in)
    p = m(x_gen)
    s = sr.softmax_preimage(m, p)
    assert _in_set(s, x_gen)  # the generating input is in the set
    t = rng.normal(size=(50, s.dimension)) * 3
    pts = s.sample(t)
    np.testing.assert_allclose(m(pts), np.broadcast_to(p, pts.shape[:1] + p.shape), rtol=0, atol=1e-9)
    # and random points off the set give other outputs
    off = pts + rng.normal(size=pts.shape)
    moved = np.linalg.norm(off - pts - (off - pts) @ s.null_basis @ s.null_basis.T, axis=1) > 1e-3
    assert np.all(np.max(np.abs(m(off[moved]) - p), axis=1) > 1e-12)


def test_softmax_preimage_of_a_batch_has_one_point_per_target():
    m = sr.Sequential([sr.Dense(np.random.default_rng(5).normal(size=(4, 3))), sr.Softmax(3)])
    p = m(np.random.default_rng(6).normal(size=(7, 4)))
    s = sr.softmax_preimage(m, p)
    assert s.point.shape == (7, 4) and s.dimension == 2
    np.testing.assert_allclose(m(s.point), p, atol=1e-12)


# --- nearest members and prototypes -------------------------------------------------------------------

@settings(max_examples=20)
@given(seed=st.integers(0, 2**31 - 1), n_in=st.integers(3, 6))
def test_x_ref_gives_the_nearest_member_of_an_affine_preimage(seed, n_in):
    # law: on an affine preimage the nearest member is the orthogonal projection of x_ref onto it
    rng = np.random.default_rng(seed)
    m = sr.Sequential([sr.Dense(rng.normal(size=(n_in, 3))), sr.Softmax(3)])
    p = m(rng.normal(size=n_in))
    ref = rng.normal(size=n_in) * 2
    res = sr.reconstruct(m, p, x_ref=ref)
    assert res.success
    s = sr.softmax_preimage(m, p)
    exact = s.point + s.null_basis @ (s.null_basis.T @ (ref - s.point))  # projection onto the affine set
    np.testing.assert_allclose(res.x, exact, atol=1e-7)


def test_prototype_confidence_and_bounds():
    rng = np.random.default_rng(8)
    m = _classifier(rng, 6, 4, hidden=5)
    res = sr.prototype(m, [0, 3], confidence=0.9, bounds=(-3, 3), x_ref=np.zeros(6))
    assert np.all(res.success), res.message
    p = m(res.x)
    np.testing.assert_allclose(p[[0, 1], [0, 3]], 0.9, atol=1e-10)
    np.testing.assert_allclose(np.sort(p, axis=1)[:, :3], 0.1 / 3, atol=1e-10)
    assert np.all(np.abs(res.x) <= 3)


def test_x_ref_refuses_contradicting_arguments():
    m = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])
    with pytest.raises(sr.InvalidParameterError, match="x0"):
        sr.reconstruct(m, [0.2, 0.3, 0.5], x_ref=np.zeros(3), x0=np.zeros(3))
    with pytest.raises(sr.InvalidParameterError, match="method"):
        sr.reconstruct(m, [0.2, 0.3, 0.5], method="gd", x_ref=np.zeros(3))
    with pytest.raises(sr.ShapeError, match="x_ref"):
        sr.reconstruct(m, [0.2, 0.3, 0.5], x_ref=np.zeros(4))


def test_smallest_class_change_crosses_the_nearest_boundary():
    m = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])
    x = np.array([2.0, 1.0, 0.0])
    ch = sr.smallest_class_change(m, x)
    assert ch.from_class == 0 and ch.to_class == 1 and int(np.argmax(m(ch.x))) == 1
    # to the plane x1 - x0 = margin (the logits are the inputs here)
    assert ch.distance == pytest.approx((1 + 1e-3) / np.sqrt(2), abs=1e-7)


# --- bad input ---------------------------------------------------------------------------------------

M3 = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])


@pytest.mark.parametrize("p, error, match", [
    ([0.5, 0.5], sr.ShapeError, r"shape \(3,\)"),
    ([0.5, 0.6, -0.1], sr.InfeasibleTargetError, r"entry 2 = -0.1 is negative"),
    ([0.5, 0.5, 0.0], sr.InfeasibleTargetError, r"entry 2 = 0.0 is 0"),
    ([1.0, 0.0, 0.0], sr.InfeasibleTargetError, r"entry 1 = 0.0 is 0"),
    ([1.0, 1e-20, 1e-20], sr.InfeasibleTargetError, r"entry 0 = 1.0 is >= 1"),
    ([0.2, 0.3, 0.4], sr.InfeasibleTargetError, r"sum to 0.9"),
    ([[0.2, 0.3, 0.5], [0.2, 0.3, 0.6]], sr.InfeasibleTargetError, r"target 1: probabilities sum to 1.1"),
    ([0.2, np.nan, 0.8], sr.InvalidValueError, r"NaN"),
])
@pytest.mark.parametrize("where", ["reconstruct", "analytic_inverse", "softmax_preimage"])
def test_bad_probability_vectors_name_the_entry(p, error, match, where):
    calls = {"reconstruct": lambda: sr.reconstruct(M3, p), "analytic_inverse": lambda: sr.analytic_inverse(M3)(p),
             "softmax_preimage": lambda: sr.softmax_preimage(M3, p)}
    with pytest.raises(error, match=match):
        calls[where]()


def test_a_rounded_float32_softmax_output_is_accepted_with_a_looser_tol():
    p = np.array([0.2, 0.3, 0.5], dtype=np.float32).astype(np.float64)
    p[2] += 3e-8
    with pytest.raises(sr.InfeasibleTargetError, match="divide the vector by its sum"):
        sr.reconstruct(M3, p)
    assert sr.reconstruct(M3, p / p.sum()).success


@pytest.mark.parametrize("kwargs, error, match", [
    ({"cls": 3}, sr.InvalidValueError, "out of range"),
    ({"cls": 1.5}, sr.InvalidParameterError, "cls"),
    ({"cls": 0, "confidence": 0.2}, sr.InvalidValueError, "confidence"),
    ({"cls": 0, "confidence": 1.0}, sr.InvalidValueError, "confidence"),
])
def test_prototype_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        sr.prototype(M3, **kwargs)


def test_prototype_refuses_a_model_without_softmax():
    with pytest.raises(sr.InvalidParameterError, match="Softmax"):
        sr.prototype(sr.Sequential([sr.Dense(np.eye(3))]), 0)


def test_inputs_are_not_modified():
    p = np.array([[0.2, 0.3, 0.5]])
    ref = np.zeros(3)
    copies = p.copy(), ref.copy()
    sr.reconstruct(M3, p, x_ref=ref)
    check_probabilities(p, 3)
    centred_logits(p)
    np.testing.assert_array_equal(p, copies[0])
    np.testing.assert_array_equal(ref, copies[1])
