"""``preimage`` (issue 10, item 2): exact sets, checked against a dense brute-force grid over the box."""

from __future__ import annotations

import numpy as np
import pytest

import symrecon as sr
from symrecon.errors import CapabilityError, InvalidValueError, NotInvertibleError, ShapeError
from symrecon.preimage import PREIMAGE_RULES, Rule, register_rule
from symrecon.sets import AffineSet, EmptySet, Point, Polyhedron, Union

BOX = 2.0
GRID = np.stack(np.meshgrid(np.linspace(-BOX, BOX, 161), np.linspace(-BOX, BOX, 161)), -1).reshape(-1, 2)


def _random_pwl_net(seed, n_out=1):
    rng = np.random.default_rng(seed)
    acts = ["relu", "leaky_relu", "relu6", "hard_sigmoid", "relu"]
    hidden = 1 + seed % 2
    widths = [2] + [int(rng.integers(3, 7)) for _ in range(hidden)] + [n_out]
    layers = []
    for i in range(len(widths) - 1):
        act = acts[(seed + i) % len(acts)] if i < len(widths) - 2 else ("relu" if seed % 3 == 0 else "linear")
        layers.append(sr.Dense(rng.normal(size=(widths[i], widths[i + 1])) * 1.5, rng.normal(size=widths[i + 1]),
                               act if act != "relu6" else sr.activations.get("relu6")))
    return sr.Sequential(layers)


def _grid_distance_bound(model, g, y):
    """How far grid point ``g`` can be from the preimage of ``y``: ``|m(g) - y|_2 / sigma_min`` (first order)."""
    sens = sr.sensitivity(model, g)
    s_min = np.min(np.atleast_2d(sens.singular_values), axis=1)
    gap = np.linalg.norm(model(g) - y, axis=1)
    return np.where(s_min > 1e-12, gap / np.where(s_min > 1e-12, s_min, 1.0), np.inf)


@pytest.mark.parametrize("seed", range(8))
def test_relu_preimage_contains_every_grid_point_that_reaches_the_target(seed):
    model = _random_pwl_net(seed, n_out=1 + seed % 2)
    rng = np.random.default_rng(100 + seed)
    outputs = model(GRID)
    checked = 0
    for k in rng.choice(len(GRID), size=3, replace=False):
        y = outputs[k]
        s = sr.preimage(model, y, bounds=(-BOX, BOX))
        # a target the grid reaches is never called empty
        assert isinstance(s, Union) and not s.is_empty, getattr(s, "certificate", "")
        exact = np.max(np.abs(outputs - y), axis=1) <= 1e-12
        assert exact[k] and np.all(s.contains(GRID[exact], tol=1e-7))
        # grid points within 1e-3 of y lie within their first-order distance of the set
        near = np.flatnonzero(np.max(np.abs(outputs - y), axis=1) <= 1e-3)
        bound = _grid_distance_bound(model, GRID[near], y)
        finite = near[np.isfinite(bound)]   # flat regions (sigma_min = 0) are covered by the exact check above
        checked += finite.size
        if finite.size:
            dist = np.linalg.norm(s.nearest(GRID[finite]) - GRID[finite], axis=1)
            assert np.all(dist <= 1.01 * bound[np.isfinite(bound)] + 1e-7)
        # and every member maps to y: samples re-checked by a forward pass, inside the box
        members = s.sample(100, rng=seed)
        np.testing.assert_allclose(model(members), np.broadcast_to(y, (100, y.size)), atol=1e-9)
        assert np.all(np.abs(members) <= BOX + 1e-9)
    assert checked >= 1 or model.n_out == 2   # two outputs on a 2-D grid: near points are rare


@pytest.mark.parametrize("seed", range(4))
def test_targets_beyond_the_reachable_range_are_proved_empty(seed):
    model = _random_pwl_net(seed)
    outputs = model(GRID)
    y = np.array([outputs[:, 0].max() + 50.0])
    s = sr.preimage(model, y, bounds=(-BOX, BOX))
    assert isinstance(s, EmptySet) and s.is_empty and s.certificate
    assert np.all(~s.contains(GRID))


def test_unreachable_target_inside_the_interval_bounds_is_proved_by_lp():
    # y = relu(x1) - relu(x1) = 0 everywhere; interval bounds only see [0, 2] - [0, 2] = [-2, 2]
    model = sr.Sequential([sr.Dense([[1.0, 1.0], [0.0, 0.0]], [0.0, 0.0], "relu"),
                           sr.Dense([[1.0], [-1.0]], [0.0])])
    s = sr.preimage(model, [1.0], bounds=(-2.0, 2.0))
    assert isinstance(s, EmptySet) and "LP" in s.certificate and s.data["n_closed"] >= 1


def test_batches_give_one_set_per_target():
    model = _random_pwl_net(1)
    y = model(np.array([[0.1, 0.2], [-1.0, 0.5]]))
    sets = sr.preimage(model, y, bounds=(-BOX, BOX))
    assert isinstance(sets, list) and len(sets) == 2
    assert sets[0].contains([0.1, 0.2], tol=1e-9) and sets[1].contains([-1.0, 0.5], tol=1e-9)


def test_too_many_pieces_is_said_not_truncated():
    model = _random_pwl_net(3)
    y = model(np.zeros(2))
    with pytest.raises(CapabilityError, match="max_pieces=1"):
        sr.preimage(model, y, bounds=(-BOX, BOX), max_pieces=1)


def test_closed_form_rules():
    rng = np.random.default_rng(0)
    square = sr.Sequential([sr.Dense(rng.normal(size=(2, 2)), rng.normal(size=2), "tanh"),
                            sr.Dense(rng.normal(size=(2, 2)), rng.normal(size=2))])
    x = np.array([0.3, -0.2])
    p = sr.preimage(square, square(x))
    assert isinstance(p, Point)
    np.testing.assert_allclose(p.x, x, atol=1e-10)
    outside = sr.preimage(square, square(x), bounds=(0.0, 1.0))
    assert isinstance(outside, EmptySet) and "outside the bounds" in outside.certificate

    wide = sr.Sequential([sr.Dense([[1.0], [2.0], [0.0]], [0.5], "sigmoid")])
    s = sr.preimage(wide, [0.5])
    assert isinstance(s, AffineSet) and s.dimension == 2
    np.testing.assert_allclose(wide(s.sample(20, rng=1)), 0.5, atol=1e-12)
    boxed = sr.preimage(wide, [0.5], bounds=(-1.0, 1.0))
    assert isinstance(boxed, Polyhedron) and boxed.contains([1.0, -0.75, 0.3])
    empty = sr.preimage(wide, [0.99999], bounds=(-1.0, 1.0))
    assert isinstance(empty, EmptySet) and "LP" in empty.certificate

    tall = sr.Sequential([sr.Dense([[1.0, 1.0]], [0.0, 0.0])])    # 1 -> 2: y1 must equal y2
    assert isinstance(sr.preimage(tall, [0.4, 0.4]), Point)
    inconsistent = sr.preimage(tall, [0.0, 1.0])
    assert isinstance(inconsistent, EmptySet) and "least-squares residual" in inconsistent.certificate
    assert inconsistent.data["value"] == pytest.approx(0.5)

    sig = sr.Sequential([sr.Dense([[1.0]], [0.0], "sigmoid")])
    assert isinstance(sr.preimage(sig, [1.5]), EmptySet)


def test_models_without_a_rule_are_refused_with_every_reason():
    model = sr.Sequential([sr.Dense([[1.0, 0.5], [0.2, 1.0]], [0.0, 0.0], "gelu")])
    with pytest.raises(NotInvertibleError, match="closed-form: .*piecewise-linear: .*gelu"):
        sr.preimage(model, [0.1, 0.1])


def test_a_new_rule_plugs_into_the_table():
    model = sr.Sequential([sr.Dense([[1.0, 0.5], [0.2, 1.0]], [0.0, 0.0], "gelu")])
    rule = Rule("test-gelu", lambda m: None, lambda m, y, lo, hi, k: [EmptySet(m.n_in, "test rule")] * len(y))
    register_rule(rule, before="closed-form")
    try:
        assert PREIMAGE_RULES[0] is rule and sr.preimage(model, [0.1, 0.1]).certificate == "test rule"
    finally:
        PREIMAGE_RULES.remove(rule)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"y": [0.1, 0.2, 0.3]}, ShapeError, "target y"),
    ({"y": [0.1], "bounds": (1.0, -1.0)}, InvalidValueError, "inverted"),
    ({"y": [0.1], "bounds": (-1.0, 1.0), "max_pieces": 0}, InvalidValueError, "max_pieces"),
    ({"y": [np.nan]}, InvalidValueError, "NaN"),
])
def test_bad_input(kwargs, error, match):
    model = _random_pwl_net(0)
    with pytest.raises(error, match=match):
        sr.preimage(model, **kwargs)


def test_shipped_keras_relu_net_and_its_example_claims():
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "examples" / "data"
    model = sr.load_keras(data / "relu2d.keras")
    golden = np.load(data / "relu2d.npz")
    # Keras computed in float32: agreement to float32 round-off
    np.testing.assert_allclose(model(golden["x"].astype(np.float64)), golden["y"], atol=1e-5)
    x_true = np.array([1.0, -0.5])
    s = sr.preimage(model, model(x_true), bounds=(-3.0, 3.0))
    assert s.contains(x_true, tol=1e-9) and len(s.pieces) >= 1
    newton = sr.reconstruct(model, np.tile(model(x_true), (6, 1)), method="newton",
                            x0=np.random.default_rng(0).uniform(-3, 3, size=(6, 2)), bounds=(-3.0, 3.0))
    ok = np.asarray(newton.x)[np.asarray(newton.success)]
    assert np.all(s.contains(ok, tol=1e-6))
    proof = sr.preimage(model, [-4.0, 4.0], bounds=(-3.0, 3.0))
    assert isinstance(proof, EmptySet) and proof.certificate


def test_piecewise_linear_preimage_without_bounds_is_unbounded_but_exact():
    # y = relu(x1 - x2): y = 0 is the halfplane x1 <= x2, y = 1 the line x1 - x2 = 1
    model = sr.Sequential([sr.Dense([[1.0], [-1.0]], [0.0], "relu")])
    zero, one = sr.preimage(model, [[0.0], [1.0]])
    assert zero.contains([[-50.0, 40.0], [1.0, 0.0]]).tolist() == [True, False]
    np.testing.assert_allclose(one.nearest([0.0, 0.0]), [0.5, -0.5], atol=1e-12)
    np.testing.assert_allclose(model(one.sample(20, rng=3)), 1.0, atol=1e-12)
