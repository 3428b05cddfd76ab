"""The contract every registered solver must honour, run over the registry.

One mixin per capability (scipy's ``TestTRF(BaseMixin, BoundsMixin)`` pattern):
each registered solver gets a test class mixing in the contracts its flags
claim, and a solver that does not claim a capability is tested to *refuse*
it.  Class names carry the method name, so ``pytest -k gd`` selects one solver.
"""

from __future__ import annotations

import numpy as np
import pytest

import symrecon as sr
from problems import CATALOGUE, by_kind
from symrecon.milp.network import PIECEWISE_LINEAR
from symrecon.solvers import SOLVERS

#: residual tolerance each solver is held to on the catalogue (first-order methods are looser)
TEST_TOL = {"gd": 1e-6, "lbfgs": 1e-6}
DEFAULT_TEST_TOL = 1e-9


def _tol(name: str) -> float:
    return TEST_TOL.get(name, DEFAULT_TEST_TOL)


def _piecewise_linear(problem) -> bool:
    return all(layer.activation.name in PIECEWISE_LINEAR for layer in problem.model.layers)


def _claimed_problems(cls):
    """Catalogue problems a solver claims to solve: exact solvers only the invertible ones, bounded deciders
    (``milp``) only the piecewise-linear ones."""
    if cls.exact:
        return by_kind("invertible")
    if cls.requires_bounds:
        return tuple(p for p in CATALOGUE if _piecewise_linear(p))
    return tuple(p for p in CATALOGUE if cls.supports_bounds or p.bounds is None)


def _bounds(name, problem) -> dict:
    """The problem's bounds; for a solver that requires them, a box around the true inputs when it has none."""
    if problem.bounds is not None:
        return {"bounds": problem.bounds}
    if SOLVERS[name].requires_bounds:
        return {"bounds": (-2.0 * np.max(np.abs(problem.x_true)) - 1.0, 2.0 * np.max(np.abs(problem.x_true)) + 1.0)}
    return {}


def _run(name, problem, **extra):
    kw = {"tol": _tol(name)}
    if not SOLVERS[name].exact and problem.x0 is not None:
        kw["x0"] = problem.x0
    kw.update(_bounds(name, problem))
    kw.update(extra)
    return sr.reconstruct(problem.model, problem.y, method=name, **kw)


class SolverContract:
    """Every solver: recovers inputs, leaves its inputs alone, rejects unknown options."""

    solver: str

    def problems(self):
        return _claimed_problems(SOLVERS[self.solver])

    def test_recovers_catalogue(self):
        for problem in self.problems():
            res = _run(self.solver, problem)
            assert np.all(res.success), (problem.name, res.message)
            np.testing.assert_allclose(problem.model(res.x), problem.y, rtol=0, atol=_tol(self.solver),
                                       err_msg=problem.name)
            assert set(np.atleast_1d(res.method)) <= set(SOLVERS) - {"auto"}
            if problem.bounds is not None:
                lo, hi = (np.broadcast_to(b, (problem.model.n_in,)) for b in problem.bounds)
                assert np.all(res.x >= lo) and np.all(res.x <= hi), problem.name

    def test_does_not_mutate_inputs(self):
        problem = self.problems()[0]
        y = np.array(problem.y)
        y_copy = y.copy()
        x0 = None if SOLVERS[self.solver].exact else np.zeros((y.shape[0], problem.model.n_in))
        x0_copy = None if x0 is None else x0.copy()
        weights = [layer.kernel.copy() for layer in problem.model.layers]
        res = sr.reconstruct(problem.model, y, method=self.solver, x0=x0, tol=_tol(self.solver),
                             **_bounds(self.solver, problem))
        np.testing.assert_array_equal(y, y_copy)
        if x0 is not None:
            np.testing.assert_array_equal(x0, x0_copy)
        for layer, w in zip(problem.model.layers, weights):
            np.testing.assert_array_equal(layer.kernel, w)
        assert not res.x.flags.writeable  # results are immutable too

    def test_rejects_unknown_option(self):
        problem = self.problems()[0]
        with pytest.raises(TypeError, match="no_such_option"):
            sr.reconstruct(problem.model, problem.y, method=self.solver, no_such_option=1)

    def test_single_target_gives_single_result(self):
        problem = self.problems()[0]
        res = sr.reconstruct(problem.model, problem.y[0], method=self.solver, tol=_tol(self.solver),
                             **_bounds(self.solver, problem))
        assert not res.is_batch and res.x.shape == (problem.model.n_in,)
        assert isinstance(res.method, str) and res.method != "auto"


class BoundsContract:
    def test_answers_inside_bounds(self):
        for problem in by_kind("bounded"):
            if SOLVERS[self.solver].requires_bounds and not _piecewise_linear(problem):
                continue
            res = _run(self.solver, problem)
            lo, hi = (np.broadcast_to(b, (problem.model.n_in,)) for b in problem.bounds)
            assert np.all(res.x >= lo) and np.all(res.x <= hi)
            assert np.all(res.success), (problem.name, res.message)


class RefusesBounds:
    def test_refuses_bounds(self):
        problem = by_kind("invertible")[0]
        with pytest.raises(sr.CapabilityError, match="bounds"):
            sr.reconstruct(problem.model, problem.y, method=self.solver, bounds=(-1e9, 1e9))


class RefusesStartingPoint:
    def test_refuses_x0(self):
        problem = by_kind("invertible")[0]
        with pytest.raises(sr.CapabilityError, match="x0"):
            sr.reconstruct(problem.model, problem.y, method=self.solver, x0=np.zeros(problem.model.n_in))


class RefusesWithoutBounds:
    """Solvers that decide exactly within a box (``milp``): no bounds, no answer; other activations refused."""

    def test_asks_for_bounds(self):
        problem = next(p for p in CATALOGUE if _piecewise_linear(p) and p.bounds is None)
        with pytest.raises(sr.CapabilityError, match="bounds"):
            sr.reconstruct(problem.model, problem.y, method=self.solver)

    def test_refuses_other_activations(self):
        problem = by_kind("invertible")[1]
        with pytest.raises(sr.UnsupportedLayerError, match="not piecewise linear"):
            sr.reconstruct(problem.model, problem.y, method=self.solver, bounds=(-10.0, 10.0))


#: which solvers record ``history`` (x per iteration) for a single target: declared here, checked both ways.
#: ``auto`` records it exactly when the concrete method it used does.  A new iterative solver must be added.
RECORDS_HISTORY = {"gd": True, "newton": True, "scipy": False, "lbfgs": False, "milp": False}


class IterativeContract:
    def test_history_for_one_target(self):
        problem = by_kind("invertible")[1]
        res = sr.reconstruct(problem.model, problem.y[0], method=self.solver, tol=_tol(self.solver))
        used = res.method if self.solver == "auto" else self.solver
        assert used in RECORDS_HISTORY or used == "analytic", f"declare whether {used!r} records history"
        if RECORDS_HISTORY.get(used, False):
            assert res.history is not None, f"{used} declares a history but returned none"
            assert res.history.shape == (res.n_iter + 1, problem.model.n_in)
            np.testing.assert_array_equal(res.history[-1], res.x)
            np.testing.assert_allclose(problem.model(res.history[-1]), problem.y[0], atol=_tol(self.solver))
            assert np.all(np.isfinite(res.history))
        else:
            assert res.history is None, f"{used} declares no history but returned one: update RECORDS_HISTORY"

    def test_iteration_limit_is_reported(self):
        problem = next(p for p in by_kind("wide") if p.bounds is None)  # no closed form: auto iterates too
        res = sr.reconstruct(problem.model, problem.y, method=self.solver, max_iter=1, tol=1e-15)
        assert not np.all(res.success)
        assert "within tolerance" in res.message


def _contracts(cls) -> tuple[type, ...]:
    mixins = [SolverContract, BoundsContract if cls.supports_bounds else RefusesBounds]
    if cls.requires_bounds:
        return (*mixins, RefusesWithoutBounds)
    mixins.append(RefusesStartingPoint if cls.exact else IterativeContract)
    return tuple(mixins)


for _name, _cls in sorted(SOLVERS.items()):
    globals()[f"TestContract_{_name}"] = type(f"TestContract_{_name}", _contracts(_cls), {"solver": _name})


def test_auto_history_when_it_iterates():
    problem = next(p for p in by_kind("wide") if p.bounds is None)  # no closed form: auto iterates
    res = sr.reconstruct(problem.model, problem.y[0], method="auto", tol=1e-9)
    assert res.method in RECORDS_HISTORY
    assert (res.history is not None) == RECORDS_HISTORY[res.method]
    if res.history is not None:
        assert res.history.shape == (res.n_iter + 1, problem.model.n_in)
        np.testing.assert_array_equal(res.history[-1], res.x)


def test_every_iterative_solver_declares_its_history():
    assert {n for n, c in SOLVERS.items() if not c.exact and n != "auto"} == set(RECORDS_HISTORY)


def test_every_solver_has_a_contract_class():
    assert {n for n in SOLVERS} <= {k.removeprefix("TestContract_") for k in globals() if k.startswith("TestContract_")}
    assert {"analytic", "gd", "newton", "scipy", "lbfgs", "auto"} <= set(SOLVERS)
