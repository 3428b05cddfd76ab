"""Interval bound propagation: sound bounds, and unreachable targets refused before any iteration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon.bounds import check_reachable, interval_bounds, output_bounds
from symrecon.errors import InfeasibleTargetError

ACTS = ("relu", "tanh", "sigmoid", "leaky_relu", "relu6", "hard_sigmoid", "softplus", "elu", "linear")


@settings(max_examples=30)
@given(seed=st.integers(0, 10_000), act=st.sampled_from(ACTS), width=st.floats(0.01, 5.0))
def test_bounds_contain_every_sampled_output(seed, act, width):
    rng = np.random.default_rng(seed)
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 5)), rng.normal(size=5), act),
                           sr.Dense(rng.normal(size=(5, 4)), rng.normal(size=4), act),
                           sr.Dense(rng.normal(size=(4, 2)), rng.normal(size=2))])
    centre = rng.normal(size=3)
    lower, upper = centre - width, centre + width
    x = rng.uniform(lower, upper, size=(2000, 3))
    x[:8] = np.array(np.meshgrid(*zip(lower, upper))).reshape(3, -1).T   # the corners too
    found = interval_bounds(model, lower, upper)
    lo, hi = output_bounds(model, lower, upper)
    out = model(x)
    assert np.all(out >= lo - 1e-12) and np.all(out <= hi + 1e-12)
    assert set(found) == set(model.graph.names)


def test_bounds_of_one_layer_are_exact_at_the_corners():
    model = sr.Sequential([sr.Dense([[1.0, -2.0], [3.0, 0.5]], [0.1, 0.2], "relu", name="d")])
    lower, upper = np.array([-1.0, 0.0]), np.array([1.0, 2.0])
    zlo, zhi = interval_bounds(model, lower, upper)["d/z"]
    corners = np.array([[a, b] for a in (-1.0, 1.0) for b in (0.0, 2.0)]) @ model.layers[0].kernel + [0.1, 0.2]
    assert np.allclose(zlo, corners.min(axis=0)) and np.allclose(zhi, corners.max(axis=0))


@pytest.mark.parametrize("method", ["newton", "scipy", "milp"])
def test_unreachable_target_is_refused_before_iterating(method):
    model = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]], name="out")])
    with pytest.raises(InfeasibleTargetError, match=r"output unit 0 = 5\.0 is outside \[0, 3\]") as info:
        sr.reconstruct(model, [5.0], method=method, bounds=(-1.0, 2.0))
    assert info.value.unit == 0 and info.value.layer == "out" and float(info.value.interval.sup) == 3.0


def test_batch_names_the_row_and_reachable_targets_pass():
    model = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]])])
    with pytest.raises(InfeasibleTargetError, match="target 1, output unit 0"):
        sr.reconstruct(model, [[1.0], [-0.5]], method="newton", bounds=(-1.0, 2.0))
    res = sr.reconstruct(model, [[1.0], [2.0]], method="newton", bounds=(-1.0, 2.0), x0=[[0.5], [1.5]])
    assert np.all(res.success)


def test_a_target_within_tolerance_of_the_interval_is_not_refused():
    model = sr.Sequential([sr.Dense([[1.0]], [0.0], "relu")])
    check_reachable(model, np.array([[2.0 + 5e-10]]), np.array([[1e-9]]), np.array([-1.0]), np.array([2.0]))
    with pytest.raises(InfeasibleTargetError):
        check_reachable(model, np.array([[2.0 + 1e-6]]), np.array([[1e-9]]), np.array([-1.0]), np.array([2.0]))


def test_nothing_is_checked_without_finite_bounds():
    model = sr.Sequential([sr.Dense([[1.0]], [0.0], "relu")])
    check_reachable(model, np.array([[1e6]]), np.array([[1e-9]]), None, None)
    check_reachable(model, np.array([[1e6]]), np.array([[1e-9]]), np.array([-np.inf]), np.array([np.inf]))
