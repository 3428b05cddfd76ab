"""unit_off_region: exact shut-down regions of deeper units of piecewise-linear nets (MILP)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

import symrecon as sr
from symrecon.errors import CapabilityError, InfeasibleTargetError, InvalidParameterError, UnsupportedLayerError
from symrecon.milp.region import unit_off_region

BOX = 2.0


def _net(seed: int, act: str = "relu", widths=(2, 5, 3, 2)) -> sr.Sequential:
    rng = np.random.default_rng(seed)
    return sr.Sequential([sr.Dense(rng.normal(size=(a, b)), rng.normal(size=b), act)
                          for a, b in zip(widths[:-1], widths[1:])])


def _activation(model, index, unit, x):
    """Independent forward pass with the activations' NumPy forms."""
    a = np.asarray(x, dtype=np.float64)
    for layer in model.layers[: index + 1]:
        a = layer.activation.numpy(a @ layer.kernel + layer.bias)
    return a[:, unit]


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "relu6", "hard_sigmoid"])
@pytest.mark.parametrize("seed", range(3))
def test_members_shut_the_unit_and_others_do_not(act, seed):
    model = _net(seed, act)
    # a threshold the unit crosses inside the box, so both sides are non-empty
    g = np.linspace(-BOX, BOX, 121)
    grid = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    spread = [np.ptp(_activation(model, 2, u, grid)) for u in range(2)]
    unit = int(np.argmax(spread))
    assert spread[unit] > 1e-3
    a = _activation(model, 2, unit, grid)
    t = float(0.5 * (a.min() + a.max()))
    region = unit_off_region(model, 2, unit, t, (-BOX, BOX))
    assert not region.is_empty and region.exact
    pts = region.sample(40, rng=seed)
    assert pts.shape == (40, 2) and np.all(region.contains(pts))
    assert np.all(_activation(model, 2, unit, pts) <= t + 1e-9) and np.all(np.abs(pts) <= BOX)
    inside = region.contains(grid)
    assert np.array_equal(inside, a <= t + 1e-9)
    near = region.nearest(grid[~inside][:5])
    assert np.all(region.contains(near, tol=1e-6))


def _enumerated_l1(model, unit, x_ref):
    """Nearest input (L1) with unit `unit` of layer 1 at z <= 0: every pattern of layer 0, an LP each."""
    W1, b1 = model.layers[0].kernel, model.layers[0].bias
    w, b = model.layers[1].kernel[:, unit], model.layers[1].bias[unit]
    n, h = W1.shape
    best = np.inf
    for on in itertools.product((0.0, 1.0), repeat=h):
        D = np.array(on)
        sign = np.where(D > 0, -1.0, 1.0)
        z_row = (W1 * D) @ w          # z = x @ z_row + (b1 * D) @ w + b
        A_ub = np.vstack([np.hstack([sign[:, None] * W1.T, np.zeros((h, n))]),
                          np.hstack([z_row[None], np.zeros((1, n))]),
                          np.hstack([np.eye(n), -np.eye(n)]), np.hstack([-np.eye(n), -np.eye(n)])])
        b_ub = np.concatenate([-sign * b1, [-((b1 * D) @ w + b)], x_ref, -x_ref])
        r = linprog(np.concatenate([np.zeros(n), np.ones(n)]), A_ub=A_ub, b_ub=b_ub,
                    bounds=[(-BOX, BOX)] * n + [(0, None)] * n, method="highs")
        if r.status == 0:
            best = min(best, r.fun)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_nearest_matches_pattern_enumeration(seed):
    model = _net(seed, "relu", (2, 5, 3))
    region = unit_off_region(model, 1, 0, 0.0, (-BOX, BOX))
    rng = np.random.default_rng(seed)
    refs = rng.uniform(-BOX, BOX, size=(4, 2))
    if region.is_empty:
        assert _enumerated_l1(model, 0, refs[0]) == np.inf
        return
    near = region.nearest(refs)
    for x_ref, x in zip(refs, near):
        assert np.sum(np.abs(x - x_ref)) == pytest.approx(_enumerated_l1(model, 0, x_ref), abs=1e-6)


def test_empty_region_carries_its_certificate():
    model = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[0.1], [0.1]], [5.0], "relu",
                                                                                name="always_on")])
    region = unit_off_region(model, 1, 0, 0.0, (-1.0, 1.0))
    assert region.is_empty and "always_on" in region.certificate and "infeasible" in region.certificate
    with pytest.raises(InfeasibleTargetError, match="empty"):
        region.nearest([0.0])
    with pytest.raises(InfeasibleTargetError):
        region.sample(3)


def test_linear_unit_is_a_band_and_latex_describes_the_formulation():
    model = _net(0, "relu", (2, 4, 1))
    model = sr.Sequential([model.layers[0], sr.Dense(model.layers[1].kernel, model.layers[1].bias)])
    g = np.linspace(-BOX, BOX, 41)
    out = model(np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2))
    centre = 0.5 * (out.min() + out.max())      # the output crosses 0 inside the box
    model = sr.Sequential([model.layers[0], sr.Dense(model.layers[1].kernel, model.layers[1].bias - centre)])
    region = unit_off_region(model, 1, 0, 0.5, (-BOX, BOX))
    pts = region.sample(20, rng=0)
    assert np.all(np.abs(model(pts)[:, 0]) <= 0.5 + 1e-9)
    text = region.latex()
    assert r"\lvert a(x) \rvert \le 0.5" in text and "binaries" in text


def test_bad_input():
    model = _net(0)
    with pytest.raises(InvalidParameterError, match="layer_index"):
        unit_off_region(model, 5, 0, 0.0, (-1, 1))
    with pytest.raises(InvalidParameterError, match="unit"):
        unit_off_region(model, 1, 9, 0.0, (-1, 1))
    with pytest.raises(CapabilityError, match="finite bounds"):
        unit_off_region(model, 1, 0, 0.0, None)
    with pytest.raises(CapabilityError, match="finite bounds"):
        unit_off_region(model, 1, 0, 0.0, (-np.inf, 1.0))
    tanh = sr.Sequential([sr.Dense(np.eye(2), activation="tanh", name="squash"), sr.Dense(np.eye(2), None, "relu")])
    with pytest.raises(UnsupportedLayerError, match="squash"):
        unit_off_region(tanh, 1, 0, 0.0, (-1, 1))
    with pytest.raises(InvalidParameterError, match="norm"):
        unit_off_region(model, 1, 0, 0.0, (-1, 1)).nearest([0.0, 0.0], norm="l2")
