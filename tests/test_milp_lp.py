"""The LP relaxation behind bound tightening (symrecon.milp.lp): both backends, in-place chord updates.

The law: updating a hinge's bounds in place (its chord row and the bound of
its output) gives the same LP as building the relaxation afresh with those
bounds, for every objective; and both backends (highspy warm starts, SciPy
cold solves) agree.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon.errors import CapabilityError
from symrecon.milp.formulation import build_model, hinge_bounds
from symrecon.milp.lp import BACKENDS, LPOutcome, RelaxedLP
from symrecon.milp.network import PLNetwork

#: both backends, always: the CI installs highspy (the ``milp`` extra), so a missing one fails here
NAMES = ("highspy", "scipy")


def _setup(seed: int):
    rng = np.random.default_rng(seed)
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 8)), rng.normal(size=8), "relu"),
                           sr.Dense(rng.normal(size=(8, 2)), rng.normal(size=2))])
    lo, hi = np.full(3, -2.0), np.full(3, 2.0)
    y = model(rng.uniform(lo, hi))
    return model, PLNetwork.from_model(model), hinge_bounds(model, lo, hi), lo, hi, y


def test_both_backends_are_installed():
    assert set(NAMES) <= set(BACKENDS)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), shrink=st.lists(st.floats(0.0, 0.9), min_size=16, max_size=16),
       backend=st.sampled_from(NAMES))
def test_in_place_chords_equal_a_fresh_relaxation(seed, shrink, backend):
    model, net, zb, lo, hi, y = _setup(seed)
    band = np.full(2, 0.5)
    M = build_model(net, zb, lo, hi, relaxed=True)
    lp = RelaxedLP(M, *M.for_target(y, band), backend=backend)
    Ez, ez = M.pre[0]
    new = [(a.copy(), b.copy()) for a, b in zb]
    zlo, zhi = new[0]
    for i in np.flatnonzero((zlo < 0) & (zhi > 0)):
        # shrink towards 0 but keep the hinge unstable (a one-signed hinge is fixed, tested below)
        zlo[i], zhi[i] = min(zlo[i] * (1 - shrink[2 * i]), -1e-3), max(zhi[i] * (1 - shrink[2 * i + 1]), 1e-3)
        lp.tighten_hinge(M.n_in + int(i), Ez[i], float(ez[i]), float(zlo[i]), float(zhi[i]))
    M2 = build_model(net, new, lo, hi, relaxed=True)
    fresh = RelaxedLP(M2, *M2.for_target(y, band), backend=backend)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        c = np.zeros(M.n_vars)
        c[: M.n_in + 8] = rng.normal(size=M.n_in + 8)
        (a, va), (b, vb) = lp.minimize(c), fresh.minimize(c)
        assert a is b
        if a is LPOutcome.OPTIMAL:
            assert abs(va - vb) <= 1e-6 * (1 + abs(vb))


@pytest.mark.parametrize("backend", NAMES)
def test_one_signed_hinges_become_exact(backend):
    # z = x, y = relu(x) + relu(-x) = |x| = 1 over [-2, 2]: with unit 0 known on (x >= 0.5), the relaxation
    # pins x = 1 exactly; with unit 0 off instead (x <= 0, r0 = 0) it pins x = -1
    model = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]])])
    net = PLNetwork.from_model(model)
    lo, hi = np.array([-2.0]), np.array([2.0])
    for (L, U), x in (((0.5, 2.0), 1.0), ((-2.0, -0.5), -1.0)):
        M = build_model(net, hinge_bounds(model, lo, hi), lo, hi, relaxed=True)
        lp = RelaxedLP(M, *M.for_target(np.array([1.0]), np.array([1e-9])), backend=backend)
        lp.tighten_hinge(1, M.pre[0][0][0], float(M.pre[0][1][0]), L, U)
        lp.tighten_hinge(2, M.pre[0][0][1], float(M.pre[0][1][1]), -U, -L)
        e = np.eye(M.n_vars)[0]
        assert [round(lp.minimize(s * e)[1] * s, 6) for s in (1.0, -1.0)] == [x, x]


def test_backends_agree_and_infeasibility_is_found():
    model, net, zb, lo, hi, y = _setup(3)
    M = build_model(net, zb, lo, hi, relaxed=True)
    c = np.random.default_rng(0).normal(size=M.n_vars)
    values = [RelaxedLP(M, *M.for_target(y, np.full(2, 0.1)), backend=b).minimize(c) for b in NAMES]
    assert values[0][0] is values[1][0] is LPOutcome.OPTIMAL
    assert abs(values[0][1] - values[1][1]) <= 1e-6 * (1 + abs(values[1][1]))
    far = np.full(2, 1e6)          # far outside what the network reaches: every backend proves it
    assert all(RelaxedLP(M, *M.for_target(far, np.full(2, 0.1)), backend=b).minimize(c)[0] is LPOutcome.INFEASIBLE
               for b in NAMES)


def test_highs_prints_nothing(capfd):
    model, net, zb, lo, hi, y = _setup(1)
    M = build_model(net, zb, lo, hi, relaxed=True)
    RelaxedLP(M, *M.for_target(y, np.full(2, 0.1)), backend="highspy").minimize(np.zeros(M.n_vars))
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_unknown_backend_is_refused_by_name():
    model, net, zb, lo, hi, y = _setup(1)
    M = build_model(net, zb, lo, hi, relaxed=True)
    with pytest.raises(CapabilityError, match="'cplex' is not available"):
        RelaxedLP(M, *M.for_target(y, np.full(2, 0.1)), backend="cplex")


def test_without_highspy_milp_falls_back_to_scipy(monkeypatch):
    # |x| over [-2, 2] with one input: 1.5 is reached (x = +-1.5), 3 is not (though inside [0, 4], what interval
    # propagation allows): the proof and the witness come the same way through SciPy's LPs when highspy is missing
    monkeypatch.delitem(BACKENDS, "highspy")
    from symrecon.milp.lp import default_backend

    assert default_backend() == "scipy"
    model = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]])])
    res = sr.reconstruct(model, [[1.5], [3.0]], method="milp", bounds=(-2.0, 2.0))
    assert [s.name for s in res.statuses] == ["CONVERGED", "INFEASIBLE"]
    assert abs(abs(float(res.x[0, 0])) - 1.5) <= 1e-9
    assert 1 in res.stats["certificates"]
