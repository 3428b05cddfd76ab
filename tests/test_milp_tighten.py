"""Target-aware bound tightening (symrecon.milp.tighten) is sound: checked against brute force on 2-D nets.

The law: every input in the box whose output lies within the band of the
target has every pre-activation inside the tightened bounds, so a target the
grid reaches is never called infeasible; the tightened bounds are never looser
than the interval bounds; and a target proved infeasible is approached by no
grid point.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon import Status
from symrecon.milp.formulation import hinge_bounds
from symrecon.milp.network import PLNetwork
from symrecon.milp.search import PROOF_BAND, Searcher
from symrecon.milp.tighten import LP_SLACK, tighten_for_target, unstable_units

BOX = 2.0
#: both LP backends, always: the CI installs highspy (the ``milp`` extra), so a missing one fails here
BACKENDS = ("highspy", "scipy")
ACTIVATIONS = ("relu", "leaky_relu", "relu6", "hard_sigmoid")


def _net(seed: int, act: str) -> sr.Sequential:
    rng = np.random.default_rng(seed)
    widths = (2, 6, 5, 2)
    layers = [sr.Dense(rng.normal(size=(a, b)), rng.normal(size=b), act) for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(sr.Dense(rng.normal(size=widths[-2:]), rng.normal(size=widths[-1])))
    return sr.Sequential(layers)


def _grid(n: int = 201) -> np.ndarray:
    g = np.linspace(-BOX, BOX, n)
    return np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), act=st.sampled_from(ACTIVATIONS), pick=st.integers(0, 201 * 201 - 1),
       backend=st.sampled_from(BACKENDS))
def test_tightened_bounds_contain_every_grid_solution(seed, act, pick, backend):
    model = _net(seed, act)
    net = PLNetwork.from_model(model)
    grid = _grid()
    out = model(grid)
    y = out[pick]
    band = np.full(2, 0.05)         # wide: many grid points meet it, each must stay inside the new bounds
    lo, hi = np.full(2, -BOX), np.full(2, BOX)
    box = hinge_bounds(model, lo, hi)
    t = tighten_for_target(net, box, lo, hi, y, band, rounds=4, backend=backend)
    assert not t.infeasible, "a target the grid reaches was called infeasible"
    inside = np.all(np.abs(out - y) <= band, axis=1)
    for (zlo, zhi), (blo, bhi), z in zip(t.zbounds, box, net.pre_activations(grid[inside])):
        assert np.all(zlo >= blo) and np.all(zhi <= bhi)
        assert np.all(z >= zlo - 1e-9) and np.all(z <= zhi + 1e-9)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("seed", range(3))
def test_decide_without_local_phase_agrees_with_the_grid(act, seed):
    model = _net(seed, act)
    grid = _grid()
    out = model(grid)
    rng = np.random.default_rng(200 + seed)
    reached = out[rng.choice(len(grid), 4, replace=False)]
    others = rng.uniform(out.min(axis=0), out.max(axis=0), size=(6, 2))
    s = Searcher.build(model, np.full(2, -BOX), np.full(2, BOX))
    for k, y in enumerate(np.vstack([reached, others])):
        v = s.decide(y, np.full(2, 1e-9), time_limit=20.0)
        if v.status is Status.INFEASIBLE:
            assert k >= len(reached), "a target the grid reaches was called infeasible"
            assert np.min(np.max(np.abs(out - y), axis=1)) > PROOF_BAND
            assert "infeasible" in v.certificate
        else:
            assert v.status is Status.CONVERGED
            assert np.max(np.abs(model(v.x) - y)) <= 1e-9 and np.all(np.abs(v.x) <= BOX)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_target_pins_the_hidden_units(backend):
    # y = relu(x) - relu(-x) = x with one input: the first pass (triangle relaxation) leaves x >= -1/3 for unit
    # 0; its new chord enters the LP at once, so unit 1 (z = -x) is bounded over the tighter relaxation and
    # becomes one-signed in the same pass; the second pass, with those bounds, settles unit 0 too; the
    # solution x = 1 stays inside
    model = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [-1.0]])])
    net = PLNetwork.from_model(model)
    lo, hi = np.array([-3.0]), np.array([3.0])
    box = hinge_bounds(model, lo, hi)
    assert unstable_units(net, box, 0).tolist() == [0, 1]
    one = tighten_for_target(net, box, lo, hi, np.array([1.0]), np.array([1e-6]), backend=backend)
    assert unstable_units(net, one.zbounds, 0).tolist() == [0]
    assert abs(one.zbounds[0][0][0] + 1.0 / 3.0) <= 10 * LP_SLACK
    two = tighten_for_target(net, box, lo, hi, np.array([1.0]), np.array([1e-6]), rounds=2, backend=backend)
    assert unstable_units(net, two.zbounds, 0).size == 0
    assert np.all(two.zbounds[0][0] <= [1.0, -1.0]) and np.all(two.zbounds[0][1] >= [1.0, -1.0])
