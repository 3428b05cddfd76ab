"""The architecture's contracts: fixed status codes, solvers as pure blocks, one executor, one error for bad options."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest

import symrecon as sr
from symrecon.errors import InvalidParameterError, InvalidValueError
from symrecon.executor import run_blocks
from symrecon.reconstruct import make_problem
from symrecon.solvers import SOLVERS, BlockResult
from symrecon.status import LaneState, Status

PACKAGE = Path(sr.__file__).parent


def _tanh_chain(seed=0, n=3):
    rng = np.random.default_rng(seed)
    layers = [sr.Dense(rng.normal(size=(n, n)) * 0.8, rng.normal(size=n) * 0.3, "tanh") for _ in range(2)]
    return sr.Sequential(layers), rng


def test_status_values_are_fixed_and_not_run_is_zero():
    assert [(s.name, int(s)) for s in Status] == [
        ("NOT_RUN", 0), ("EXACT", 1), ("CONVERGED", 2), ("MAX_ITER", 3), ("STALLED", 4), ("DIVERGED", 5),
        ("INACCURATE", 6), ("INFEASIBLE", 7), ("UNDECIDED", 8)]
    assert not Status.NOT_RUN.success and {s for s in Status if s.success} == {Status.EXACT, Status.CONVERGED}
    assert all(int(s) < 0 for s in LaneState)
    assert all(s.message for s in Status)


def test_a_row_never_written_reads_not_run_never_success():
    model, _ = _tanh_chain()
    y = model(np.zeros((2, 3)))
    block = BlockResult(x=np.array([[0.0, 0.0, 0.0], [np.nan] * 3]),
                        status=np.array([Status.CONVERGED, Status.NOT_RUN], dtype=np.int8),
                        n_iter=np.zeros(2, dtype=np.int64), method="newton")
    res = sr.Reconstruction.from_block(make_problem(model, y), block, elapsed=0.0)
    assert res.success.tolist() == [True, False]
    assert res.statuses == [Status.CONVERGED, Status.NOT_RUN]


def test_no_bare_integer_status_codes_outside_the_enum_module():
    pattern = re.compile(r"\b(status\w*|st|STATUS_\w+)(\[[^\]]*\])?\s*(=|==|!=)\s*-?\d+\b")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "status.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_public_api_exports_what_users_touch():
    for name in sr.__all__:
        assert getattr(sr, name) is not None
    exported_solvers = {getattr(sr, n) for n in sr.__all__ if isinstance(getattr(sr, n), type)
                        and issubclass(getattr(sr, n), sr.AbstractSolver) and getattr(sr, n) is not sr.AbstractSolver}
    assert exported_solvers == set(SOLVERS.values())
    doc = sr.reconstruct.__doc__
    for name, cls in SOLVERS.items():
        assert f"``{name!r}``" in doc
        for option in cls.option_names():
            assert f"option ``{option}``" in doc


def test_problem_solver_and_block_result_pickle():
    model, rng = _tanh_chain()
    y = model(rng.normal(size=(5, 3)) * 0.05)
    problem = make_problem(model, y)
    solver = SOLVERS["newton"]()
    problem2, solver2 = pickle.loads(pickle.dumps((problem, solver)))
    block = solver2.solve_block(problem2.rows(slice(0, 5), x0=np.zeros((5, 3))))
    again = pickle.loads(pickle.dumps(block))
    assert np.all(again.status == Status.CONVERGED)
    np.testing.assert_allclose(model(again.x), y, atol=1e-9)


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_executors_cover_every_row_once(executor, monkeypatch):
    model, rng = _tanh_chain(seed=3)
    y = model(rng.normal(size=(50, 3)) * 0.5)
    whole = sr.reconstruct(model, y, method="newton")
    monkeypatch.setattr(SOLVERS["newton"], "block_size", 7)  # 8 blocks, the last one short
    calls = []
    original = SOLVERS["newton"].solve_block

    def counting(self, problem):
        calls.append(problem.n_targets)
        return original(self, problem)

    monkeypatch.setattr(SOLVERS["newton"], "solve_block", counting)
    res = sr.reconstruct(model, y, method="newton", executor=executor)
    assert sorted(calls) == sorted([7] * 7 + [1])
    # each target carries its own tolerance into the kernels: the split changes nothing
    np.testing.assert_array_equal(res.x, whole.x)
    assert np.all(res.success) and res.stats["n_damped"] == whole.stats["n_damped"]


def test_run_blocks_without_reconstruct_is_raw_arrays():
    model, rng = _tanh_chain(seed=4)
    y = model(rng.normal(size=(4, 3)) * 0.5)
    problem = make_problem(model, y, x0=np.zeros((4, 3)))
    block = run_blocks(SOLVERS["newton"](), problem)
    assert block.x.shape == (4, 3) and block.status.dtype == np.int8 and np.all(block.status == Status.CONVERGED)


def test_auto_routes_rows_and_proves_infeasible_rows():
    # rows 0 and 2 have a closed form; row 1 needs tanh(0.1 x) = artanh(0.9) > 1: no input reaches it
    model = sr.Sequential([sr.Dense([[0.1]], None, "tanh"), sr.Dense([[1.0]], None, "tanh")])
    res = sr.reconstruct(model, [[0.05], [0.9], [-0.05]])
    assert res.method.tolist()[0::2] == ["analytic", "analytic"]
    assert res.statuses == [Status.EXACT, Status.INFEASIBLE, Status.EXACT]
    analytic = sr.reconstruct(model, [[0.05], [0.9]], method="analytic")
    assert analytic.statuses == [Status.EXACT, Status.INFEASIBLE]
    assert np.isnan(analytic.x[1]).all() and "hidden" not in analytic.stats["reason"] or analytic.stats["reason"]


@pytest.mark.parametrize("method, options, match", [
    ("bogus", {}, "unknown method 'bogus'"),
    ("gd", {"learning_rte": 0.1}, "unknown option"),
    ("gd", {"eps": float("inf")}, "'eps' option of method 'gd'"),
    ("gd", {"learning_rate": -1.0}, "'learning_rate'"),
    ("newton", {"structured": "yes"}, "'structured' option"),
    ("lbfgs", {"memory": 0}, "'memory' option"),
    ("scipy", {"lsq_method": "nope"}, "'lsq_method' option"),
    ("auto", {"fallback": 1}, "'fallback' option"),
])
def test_bad_options_raise_invalid_parameter_error(method, options, match):
    model, _ = _tanh_chain()
    with pytest.raises(InvalidParameterError, match=match) as info:
        sr.reconstruct(model, [0.1, 0.1, 0.1], method=method, **options)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_numpy_scalars_are_accepted_as_options():
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    res = sr.reconstruct(model, [100.0], method="gd", optimizer="constant", learning_rate=np.float32(0.4),
                         x0=[1.0], max_iter=np.int64(500))
    assert res.success and res.stats["learning_rate"] == pytest.approx(0.4) and type(res.stats["learning_rate"]) is float
    assert sr.reconstruct(model, [100.0], method="newton", structured=np.bool_(False)).success


@pytest.mark.parametrize("y, match", [
    (None, "target y must be an array of real numbers; got NoneType"),
    ([1 + 2j], "dtype complex128"),
    (np.ma.masked_array([1.0], mask=[True]), "MaskedArray"),
    (["a"], "dtype <U1"),
])
def test_targets_that_are_not_real_arrays_are_refused(y, match):
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    with pytest.raises(InvalidValueError, match=match):
        sr.reconstruct(model, y)


@pytest.mark.parametrize("bounds, match", [
    ("ab", "bounds must be a pair"),
    ((1j, 2.0), "lower bound must be real numbers"),
    ((np.inf, np.inf), "leave no room"),
    ((0.0, -np.inf), "leave no room"),
])
def test_bad_bounds_name_the_parameter(bounds, match):
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    with pytest.raises(InvalidValueError, match=match):
        sr.reconstruct(model, [100.0], method="newton", bounds=bounds)


def test_iteration_limits_never_allocate_in_proportion():
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    res = sr.reconstruct(model, [100.0], method="gd", max_iter=10**11, x0=[1.0])
    assert res.success and res.n_iter < 10**6
    for bad in (2**63, 0, 2.5, True):
        with pytest.raises(InvalidParameterError, match="max_iter"):
            sr.reconstruct(model, [100.0], method="gd", max_iter=bad)


def test_compare_refuses_a_bare_method_string():
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    with pytest.raises(InvalidParameterError, match="methods must be a sequence .*got 'newton'"):
        sr.compare(model, [100.0], methods="newton")


def test_tolerance_is_relative_and_tightens_at_the_ends_of_the_image():
    # a sigmoid target of 1e-300 is not "reached" by sigmoid(-25) = 1.4e-11, though within 1e-9 of it
    sig = sr.Sequential([sr.Dense([[0.4]], [-25.0], "sigmoid")])
    x_wrong = np.array([[0.0]])
    block = BlockResult(x=x_wrong, status=np.array([Status.CONVERGED], dtype=np.int8),
                        n_iter=np.ones(1, dtype=np.int64), method="newton")
    res = sr.Reconstruction.build(sig, block, np.array([[1e-300]]), tol=1e-9, elapsed=0.0, single=True, rtol=1e-12)
    assert not res.success and res.status is sr.Status.INACCURATE
    good = sr.reconstruct(sig, [1e-300])
    assert good.success and good.x[0] == pytest.approx((np.log(1e-300) + 25.0) / 0.4, rel=1e-9)
    # a linear target of 1e307: the closed form is within a few ulps, and that is success
    lin = sr.Sequential([sr.Dense([[2.0]], [0.0])])
    for method in ("auto", "analytic"):
        res = sr.reconstruct(lin, [1e307], method=method)
        assert res.success, (method, res.message)
        assert res.x[0] == pytest.approx(5e306, rel=1e-15)


@pytest.mark.parametrize("method", ["gd", "newton", "scipy", "lbfgs"])
def test_failure_advice_never_names_the_method_that_ran_or_a_limit_in_force(method):
    # ReLUs are >= 0, so a negative target is unreachable; a small budget makes gd run out of iterations
    model = sr.Sequential([sr.Dense([[1.0, 2.0]], [0.5, -0.5], "relu"), sr.Dense([[1.0], [1.0]])])
    res = sr.reconstruct(model, [-1.0], method=method, max_iter=40)
    assert not res.success
    assert f"method='{method}'" not in res.message
    if res.status is Status.MAX_ITER and method != "gd":
        assert "above 40" in res.message


def test_analytic_and_auto_agree_on_a_hidden_value_at_the_end_of_an_image():
    # sigmoid(40) == 1.0 in float64, but no real input gives 1.0: the rule is the mathematical one,
    # the same for a hidden layer as for the output layer (which raises)
    model = sr.Sequential([sr.Dense([[1.0]], [0.0], "sigmoid", name="hidden"), sr.Dense([[1.0]], [0.0], name="out")])
    for method in ("analytic", "auto"):
        res = sr.reconstruct(model, [[1.0], [0.5]], method=method)
        assert res.statuses == [Status.INFEASIBLE, Status.EXACT], method
        assert np.isnan(res.x[0]).all() and res.method[0] == "analytic"
        single = sr.reconstruct(model, [1.0], method=method)
        assert single.status is Status.INFEASIBLE and "'hidden'" in single.message and "(0, 1)" in single.message
    with pytest.raises(sr.InfeasibleTargetError, match=r"Interval.open\(0, 1\)"):
        sr.reconstruct(sr.Sequential([sr.Dense([[1.0]], [0.0], "sigmoid")]), [1.0])


@pytest.mark.parametrize("where", ["x0", "lower", "kernel"])
def test_masked_and_complex_inputs_are_refused_wherever_they_enter(where):
    masked = np.ma.masked_array([0.0], mask=[True])
    with pytest.raises(InvalidValueError, match="mask"):
        if where == "x0":
            sr.reconstruct(sr.Sequential([sr.Dense([[0.4]], [-25.0])]), [100.0], method="newton", x0=masked)
        elif where == "lower":
            sr.reconstruct(sr.Sequential([sr.Dense([[0.4]], [-25.0])]), [100.0], method="newton",
                           bounds=(masked, 1000.0))
        else:
            sr.Dense(np.ma.masked_array([[0.4]], mask=[[False]]))
    with pytest.raises(InvalidValueError, match="complex"):
        sr.Dense([[0.4 + 1j]])


def test_cli_refuses_an_iteration_limit_beyond_int64_without_a_traceback(capsys):
    from symrecon.cli import main
    from symrecon.demo import shipped_model_path

    code = main(["invert", str(shipped_model_path()), "--y", "100", "--method", "gd", "--max-iter", str(2**63)])
    err = capsys.readouterr().err
    assert code == 2 and "max_iter" in err and "Traceback" not in err


def test_a_single_target_keeps_its_history_with_a_progress_bar(capsys):
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    res = sr.reconstruct(model, [100.0], method="gd", optimizer="constant", learning_rate=0.4, x0=[1.0],
                         progress=True)
    assert "gd" in capsys.readouterr().err
    assert res.history is not None and res.history.shape == (res.n_iter + 1, 1)
    assert res.history[0, 0] == 1.0 and res.history[-1, 0] == pytest.approx(res.x[0])
