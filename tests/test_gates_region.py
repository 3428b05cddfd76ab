"""gate_region: exact halfspaces in x_t where gate units are shut (<= eps) or open (>= value).

Laws checked on random cells: sampled points inside the region give gate
values within the threshold (up to float64 rounding of the logit, 1e-12),
points outside break at least one condition, and ``.nearest`` is a QP's
answer (scipy SLSQP on the same inequalities) and sits on the boundary.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

import symrecon as sr
from symrecon.errors import CapabilityError, InvalidParameterError, InvalidValueError, ShapeError
from symrecon.gates import step
from symrecon.recurrent import GRU, LSTM, SimpleRNN

from helpers import compile_latex

EPS = 1e-12


def random_layer(kind, rng, n=3, u=3):
    K, R = rng.normal(size=(n, kind.n_gates * u)), rng.normal(size=(u, kind.n_gates * u))
    if kind is GRU:
        return GRU(K, R, rng.normal(size=(2, 3 * u)))
    return kind(K, R, rng.normal(size=kind.n_gates * u), **({"recurrent_activation": "hard_sigmoid"}
                                                            if kind is LSTM and rng.random() < 0.3 else {}))


def qp_nearest(region, x_ref):
    cons = [{"type": "ineq", "fun": lambda x, c=c: c.rhs - c.a @ x, "jac": lambda x, c=c: -c.a}
            for c in region.conditions]
    res = minimize(lambda x: 0.5 * np.sum((x - x_ref) ** 2), x_ref, jac=lambda x: x - x_ref, constraints=cons,
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 500})
    return res.x


CASES = [(LSTM, "forget", "below", 0.1), (LSTM, "i", "above", 0.9), (LSTM, "output", "below", 0.3),
         (LSTM, "c", "above", 0.5), (GRU, "update", "below", 0.2), (GRU, "r", "above", 0.7),
         (SimpleRNN, "hidden", "below", -0.3)]


@pytest.mark.parametrize("kind, gate, side, value", CASES)
@given(seed=st.integers(0, 2**32 - 1))
def test_inside_meets_the_threshold_and_outside_does_not(kind, gate, side, value, seed):
    rng = np.random.default_rng(seed)
    layer = random_layer(kind, rng)
    h, c = rng.normal(size=layer.units) * 0.5, rng.normal(size=layer.units)
    units = [0, 2]
    region = sr.gate_region(layer, gate, units, **{side: value}, h_prev=h, c_prev=c if kind is LSTM else None)
    x = rng.normal(size=(400, layer.n_in)) * 3
    if not region.is_empty:  # members as well as random points, so both sides are tested
        x = np.vstack([x, region.set.sample(100, rng)])
    name = region.conditions[0].spec.name
    g = step(layer, x, h, c if kind is LSTM else None)[name][:, units]
    inside = region.contains(x)
    ok = g <= value + EPS if side == "below" else g >= value - EPS
    strict = g <= value if side == "below" else g >= value
    assert inside.sum() >= 100 or region.is_empty
    assert np.all(ok[inside])
    assert not np.any(np.all(strict[~inside], axis=1))  # outside: some unit misses its threshold


@pytest.mark.parametrize("kind, gate, side, value", CASES)
def test_nearest_matches_a_qp_and_lands_on_the_threshold(kind, gate, side, value, rng):
    layer = random_layer(kind, rng)
    h, c = rng.normal(size=layer.units) * 0.5, rng.normal(size=layer.units)
    for units in (1, [0, 1]):
        region = sr.gate_region(layer, gate, units, **{side: value}, h_prev=h, c_prev=c if kind is LSTM else None)
        x_ref = rng.normal(size=layer.n_in) * 3
        near = region.nearest(x_ref)
        np.testing.assert_allclose(near, qp_nearest(region, x_ref), atol=1e-6)
        assert region.contains(near, tol=1e-9)
        if not region.contains(x_ref):  # the smallest change puts some unit exactly on its threshold
            g = step(layer, near, h, c if kind is LSTM else None)[region.conditions[0].spec.name][0]
            assert np.min(np.abs(g[np.atleast_1d(units)] - value)) < 1e-7
        batch = region.nearest(np.stack([x_ref, x_ref]))
        assert batch.shape == (2, layer.n_in)


def test_single_halfspace_is_exact_and_has_latex_and_derivation(tmp_path, rng):
    layer = LSTM(rng.normal(size=(3, 12)), rng.normal(size=(3, 12)), rng.normal(size=12))  # sigmoid gates
    h = rng.normal(size=3)
    region = sr.gate_region(layer, "f", 1, below=0.05, h_prev=h)
    cond = region.conditions[0]
    W = layer.kernel[:, layer.units + 1]
    z_off = h @ layer.recurrent_kernel[:, layer.units + 1] + layer.bias[layer.units + 1]
    np.testing.assert_allclose(cond.a, W, rtol=1e-15)
    np.testing.assert_allclose(cond.rhs, np.log(0.05 / 0.95) - z_off, rtol=1e-13)
    text = region.latex()
    assert text.endswith(rf"\le {cond.rhs:.6g}")
    assert all(f"{abs(w):.6g} x_{{t,{j}}}" in text for j, w in enumerate(W))
    path = tmp_path / "region.tex"
    region.derivation.save(path)
    compile_latex(path)
    assert "forget" in str(region.derivation)


def test_impossible_and_always_when_the_state_decides():
    K = np.zeros((2, 4))
    K[:, 0] = [1.0, -1.0]  # only the input gate sees x_t
    lstm = LSTM(K, np.zeros((1, 4)), [0.0, 3.0, 0.0, 0.0])  # forget pre-activation fixed at 3
    shut = sr.gate_region(lstm, "forget", 0, below=0.5, h_prev=[0.0])
    assert shut.is_empty and "does not depend on x_t" in shut.reason and shut.latex() == r"\emptyset"
    assert not shut.contains([0.0, 0.0])
    with pytest.raises(sr.InfeasibleTargetError):
        shut.nearest([0.0, 0.0])
    always = sr.gate_region(lstm, "forget", 0, above=0.5, h_prev=[0.0])
    assert always.always and always.contains(np.zeros((3, 2))).all() and "state alone" in always.reason
    np.testing.assert_array_equal(always.nearest([1.0, 2.0]), [1.0, 2.0])
    both = sr.gate_region(lstm, ["i", "f"], 0, above=0.5, h_prev=[0.0])
    assert both.contains([1.0, 0.0]) and not both.contains([-1.0, 0.0])


def test_contradictory_units_give_an_empty_polyhedron():
    K = np.zeros((1, 8))
    K[0, 2], K[0, 3] = 1.0, -1.0  # forget units 0 and 1 move in opposite directions with x_t
    lstm = LSTM(K, np.zeros((2, 8)))
    region = sr.gate_region(lstm, "forget", [0, 1], below=0.1, h_prev=[0.0, 0.0])
    assert region.is_empty and "inconsistent" in region.reason
    with pytest.raises(sr.InfeasibleTargetError, match="inconsistent"):
        region.nearest([0.0])


def test_gru_candidate_is_a_halfspace_only_without_reset_coupling(rng):
    u = 2
    gru = GRU(rng.normal(size=(2, 3 * u)), rng.normal(size=(u, 3 * u)), rng.normal(size=3 * u), reset_after=False)
    region = sr.gate_region(gru, "candidate", 0, above=0.2, h_prev=np.zeros(u))
    x = rng.normal(size=(200, 2)) * 3
    cand = step(gru, x, np.zeros(u))["candidate"][:, 0]
    inside = region.contains(x)
    assert 0 < inside.sum() < len(x)
    assert np.all(cand[inside] >= 0.2 - 1e-12) and np.all(cand[~inside] < 0.2)
    with pytest.raises(CapabilityError, match="reset gate"):
        sr.gate_region(gru, "candidate", 0, above=0.2, h_prev=np.ones(u))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"gate": "forgett", "below": 0.1}, InvalidParameterError, "'gate'.*'forget'"),
    ({"gate": "z", "below": 0.1}, InvalidParameterError, "'gate'"),
    ({"gate": "f", "below": 1.0}, InvalidValueError, "'below'.*image"),
    ({"gate": "f", "above": -0.2}, InvalidValueError, "'above'"),
    ({"gate": "f"}, InvalidParameterError, "threshold"),
    ({"gate": "f", "below": 0.1, "unit": 5}, InvalidParameterError, "'unit'"),
    ({"gate": "f", "below": 0.1, "h_prev": np.zeros(4)}, ShapeError, "h_prev"),
    ({"gate": "f", "below": 0.1, "c_prev": np.zeros(2)}, ShapeError, "c_prev"),
])
def test_bad_input_names_the_parameter(kwargs, error, match, rng):
    layer = random_layer(LSTM, rng)
    args = {"unit": 0, "h_prev": np.zeros(3), **kwargs}
    gate, unit = args.pop("gate"), args.pop("unit")
    with pytest.raises(error, match=match):
        sr.gate_region(layer, gate, unit, **args)
