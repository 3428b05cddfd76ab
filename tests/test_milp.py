"""method="milp": exact answers for piecewise-linear networks, checked against brute force.

The acceptance law (issue 10): on random ReLU-type nets with 2-D input, a
target that a dense grid over the box reaches is never called infeasible,
every witness is re-checked by a forward pass and lies in the box, and a
target proved infeasible is not approached by any grid point.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import symrecon as sr
from symrecon import Status
from symrecon.errors import CapabilityError, InvalidParameterError, InvalidValueError, ShapeError, UnsupportedLayerError
from symrecon.milp.network import PIECEWISE_LINEAR, PLNetwork
from symrecon.milp.search import PROOF_BAND

BOX = 2.0
ACTIVATIONS = ("relu", "leaky_relu", "relu6", "hard_sigmoid")


def _net(seed: int, act: str, widths=(2, 6, 2)) -> sr.Sequential:
    rng = np.random.default_rng(seed)
    layers = [sr.Dense(rng.normal(size=(a, b)), rng.normal(size=b), act) for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(sr.Dense(rng.normal(size=widths[-2:]), rng.normal(size=widths[-1])))
    return sr.Sequential(layers)


def _grid(n: int = 301) -> np.ndarray:
    g = np.linspace(-BOX, BOX, n)
    return np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_a_dense_grid(act, seed):
    model = _net(seed, act, (2, 6, 5, 2))
    grid = _grid()
    out = model(grid)
    rng = np.random.default_rng(100 + seed)
    reached = out[rng.choice(len(grid), 6, replace=False)]
    lo, hi = out.min(axis=0), out.max(axis=0)
    others = rng.uniform(lo, hi, size=(6, 2))
    y = np.vstack([reached, others])
    res = sr.reconstruct(model, y, method="milp", bounds=(-BOX, BOX), time_limit=20.0)
    status = np.asarray(res.status)
    assert not np.any(status[:6] == Status.INFEASIBLE), "a target the grid reaches was called infeasible"
    assert np.all(res.success[:6])
    for t in range(len(y)):
        if res.success[t]:
            x = res.x[t]
            assert np.all(np.abs(x) <= BOX + 1e-12)
            assert np.max(np.abs(model(x) - y[t])) <= res.stats["tol"] if "tol" in res.stats else 1e-9
        else:
            assert status[t] == Status.INFEASIBLE, Status(int(status[t]))
            assert np.isnan(res.x[t]).all()
            assert t in res.stats["certificates"]
            # no grid point comes within the proof band
            assert np.min(np.max(np.abs(out - y[t]), axis=1)) > PROOF_BAND


def test_deep_network_witness_and_single_result():
    model = _net(7, "relu", (4, 16, 16, 16, 3))
    rng = np.random.default_rng(1)
    x_true = rng.uniform(-1, 1, size=4)
    res = sr.reconstruct(model, model(x_true), method="milp", bounds=(-1.0, 1.0))
    assert res.status is Status.CONVERGED and res.success and res.method == "milp"
    assert np.max(np.abs(model(res.x) - model(x_true))) <= 1e-9


def _enumerated_nearest(model, y, x_ref, norm):
    """Brute force: every activation pattern of a one-hidden-layer net, an LP each (independent of symrecon.milp)."""
    W1, b1 = model.layers[0].kernel, model.layers[0].bias
    W2, b2 = model.layers[1].kernel, model.layers[1].bias
    n, h = W1.shape
    best = np.inf
    for on in itertools.product((0.0, 1.0), repeat=h):
        D = np.array(on)
        A = (W1 * D) @ W2               # output = x @ A + c on this pattern
        c = (b1 * D) @ W2 + b2
        k = n if norm == "l1" else 1
        dist = np.eye(n) if norm == "l1" else np.ones((n, 1))
        cost = np.concatenate([np.zeros(n), np.ones(k)])
        sign = np.where(D > 0, -1.0, 1.0)
        A_ub = np.vstack([np.hstack([sign[:, None] * W1.T, np.zeros((h, k))]),
                          np.hstack([np.eye(n), -dist]), np.hstack([-np.eye(n), -dist])])
        b_ub = np.concatenate([-sign * b1, x_ref, -x_ref])
        A_eq = np.hstack([A.T, np.zeros((A.shape[1], k))])
        r = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=y - c,
                    bounds=[(-BOX, BOX)] * n + [(0, None)] * k, method="highs")
        if r.status == 0:
            best = min(best, r.fun)
    return best


@pytest.mark.parametrize("norm", ["l1", "linf"])
@pytest.mark.parametrize("seed", range(3))
def test_nearest_matches_pattern_enumeration(norm, seed):
    model = _net(seed, "relu", (2, 5, 2))
    rng = np.random.default_rng(seed)
    y = model(rng.uniform(-BOX, BOX, size=2))
    x_ref = rng.uniform(-BOX, BOX, size=2)
    res = sr.reconstruct(model, y, method="milp", bounds=(-BOX, BOX), x_ref=x_ref, norm=norm)
    assert res.success
    got = np.sum(np.abs(res.x - x_ref)) if norm == "l1" else np.max(np.abs(res.x - x_ref))
    assert got == pytest.approx(_enumerated_nearest(model, y, x_ref, norm), abs=1e-6)


def test_undecided_is_never_infeasible():
    rng = np.random.default_rng(3)
    model = sr.Sequential([sr.Dense(rng.normal(size=(8, 32)) / np.sqrt(8), 0.1 * rng.normal(size=32), "relu"),
                           sr.Dense(rng.normal(size=(32, 8)) / np.sqrt(32), 0.1 * rng.normal(size=8))])
    y = model(rng.normal(size=(6, 8)))
    res = sr.reconstruct(model, y, method="milp", bounds=(-5.0, 5.0), time_limit=1e-3, restarts=0,
                         x0=np.full(8, 4.9))
    status = np.asarray(res.status)
    assert not np.any(status == Status.INFEASIBLE)
    assert np.any(status == Status.UNDECIDED)
    undecided = status == Status.UNDECIDED
    assert np.isnan(res.x[undecided]).all() and not np.any(res.success[undecided])
    assert "not decided within the time limit" in res.message.lower()


@settings(max_examples=40)
@given(name=st.sampled_from(sorted(PIECEWISE_LINEAR)), z=st.lists(st.floats(-20, 20), min_size=1, max_size=8))
def test_hinge_forms_equal_the_activations(name, z):
    act = sr.activations.get(name)
    form = PIECEWISE_LINEAR[name](float(act.param))
    zz = np.asarray(z)
    assert np.allclose(form(zz), act.numpy(zz), rtol=0, atol=1e-12)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_affine_piece_matches_the_forward_pass(act):
    model = _net(4, act, (3, 7, 7, 2))
    net = PLNetwork.from_model(model)
    x = np.random.default_rng(0).uniform(-3, 3, size=(20, 3))
    assert np.allclose(net.forward(x), model(x), atol=1e-12)
    for row in x:
        _, A, c = net.affine_pieces(net.pattern(row))
        assert np.allclose(row @ A + c, model(row), atol=1e-12)


# ---------------------------------------------------------------- bad input
def test_milp_without_bounds_asks_for_them():
    model = _net(0, "relu")
    with pytest.raises(CapabilityError, match="bounds=\\(lower, upper\\)"):
        sr.reconstruct(model, [0.0, 0.0], method="milp")
    with pytest.raises(CapabilityError, match="finite bounds"):
        sr.reconstruct(model, [0.0, 0.0], method="milp", bounds=(-1.0, np.inf))


def test_non_piecewise_linear_layer_is_refused_by_name():
    model = sr.Sequential([sr.Dense(np.eye(2), activation="relu", name="first"),
                           sr.Dense(np.eye(2), activation="tanh", name="squash")])
    with pytest.raises(UnsupportedLayerError, match="'squash'.*'tanh'"):
        sr.reconstruct(model, [0.1, 0.1], method="milp", bounds=(-1, 1))


def test_empty_or_inverted_bounds():
    model = _net(0, "relu")
    with pytest.raises(InvalidValueError, match="inverted"):
        sr.reconstruct(model, [0.0, 0.0], method="milp", bounds=(1.0, -1.0))
    with pytest.raises(InvalidValueError, match="no room"):
        sr.reconstruct(model, [0.0, 0.0], method="milp", bounds=(np.inf, 1.0))


@pytest.mark.parametrize("options, error, match", [
    ({"time_limit": 0.0}, InvalidParameterError, "time_limit"),
    ({"time_limit": "10"}, InvalidParameterError, "time_limit"),
    ({"norm": "l2", "x_ref": [0.0, 0.0]}, InvalidParameterError, "norm"),
    ({"norm": "l1"}, InvalidParameterError, "x_ref"),
    ({"restarts": -1}, InvalidParameterError, "restarts"),
    ({"x_ref": [0.0, 0.0, 0.0]}, ShapeError, "x_ref"),
])
def test_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        model = _net(0, "relu")
        sr.reconstruct(model, model(np.zeros(2)), method="milp", bounds=(-1, 1), **options)


def test_inputs_are_not_modified():
    model = _net(1, "relu")
    y = model(np.array([[0.3, -0.2], [1.0, 1.0]]))
    y.setflags(write=False)
    x_ref = np.zeros(2)
    x_ref.setflags(write=False)
    sr.reconstruct(model, y, method="milp", bounds=(-BOX, BOX), x_ref=x_ref)
    sr.reconstruct(model, y, method="milp", bounds=(-BOX, BOX))


def test_single_infeasible_target_carries_the_proof_in_its_message():
    model = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [2.0]])])
    res = sr.reconstruct(model, [3.0], method="milp", bounds=(-1.0, 2.0))   # inside the IBP box [0, 4], unreached
    assert res.status is Status.INFEASIBLE and not res.success and np.isnan(res.x).all()
    # the proof is either the MILP's or an infeasible LP relaxation met while tightening bounds with the target
    assert "HiGHS proved the big-M MILP infeasible" in res.message or "with the target is infeasible" \
        in res.message
    assert res.stats["certificates"] == {0: res.stats["reason"]}
