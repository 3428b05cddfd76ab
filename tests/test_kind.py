"""``Reconstruction.kind`` (issue 10, item 7): every answer says what sort of answer it is, per row."""

from __future__ import annotations

import numpy as np
import pytest

import symrecon as sr
from symrecon import cli
from symrecon.reconstruct import make_problem
from symrecon.solvers import BlockResult
from symrecon.status import Status


def _tanh_square():
    return sr.Sequential([sr.Dense([[0.5, 0.1], [0.2, 0.7]], [0.0, 0.1], "tanh")])


def test_closed_form_is_exact_and_a_wide_layer_is_an_exact_set():
    model = _tanh_square()
    assert sr.reconstruct(model, [0.1, 0.2], method="analytic").kind == "exact"
    wide = sr.Sequential([sr.Dense([[1.0], [1.0]], [0.0], "tanh")])
    res = sr.reconstruct(wide, [0.5], method="analytic")
    assert res.kind == "exact-set" and res.affine_set is not None


def test_iterative_answers_are_local_and_proved_infeasible_rows_say_so():
    model = _tanh_square()
    assert sr.reconstruct(model, [0.1, 0.2], method="newton").kind == "local"
    chain = sr.Sequential([sr.Dense([[0.1]], None, "tanh"), sr.Dense([[1.0]], None, "tanh")])
    res = sr.reconstruct(chain, [[0.05], [0.9], [-0.05]])
    assert res.kind.tolist() == ["exact", "infeasible", "exact"]
    assert res.statuses[1] is Status.INFEASIBLE


@pytest.mark.parametrize("code, method, stats, kind", [
    (Status.NOT_RUN, "newton", {}, "undecided"),
    (Status.UNDECIDED, "milp", {}, "undecided"),
    (Status.CONVERGED, "milp", {}, "exact"),          # a certified MILP witness (re-checked below)
    (Status.STALLED, "newton", {}, "local"),
    (Status.CONVERGED, "scipy", {"least_squares": [True, False]}, "least-squares"),
])
def test_kind_per_status_and_method(code, method, stats, kind):
    model = _tanh_square()
    x = np.array([[0.2, 0.1], [0.3, -0.1]])
    y = model(x)
    ok_x = x if code in (Status.CONVERGED,) else np.array([[0.0, 0.0], [0.3, -0.1]])
    block = BlockResult(x=ok_x, status=np.array([code, Status.CONVERGED], dtype=np.int8),
                        n_iter=np.zeros(2, dtype=np.int64), method=method, stats=stats)
    res = sr.Reconstruction.from_block(make_problem(model, y), block, elapsed=0.0)
    assert res.kind[0] == kind and res.kind.shape == (2,)


def test_undecided_status_is_fixed_and_not_a_success():
    assert int(Status.UNDECIDED) == 8 and not Status.UNDECIDED.success
    assert Status.UNDECIDED.message == "not decided within the time limit"


def test_compare_has_a_kind_column():
    cmp = sr.compare(_tanh_square(), [0.1, 0.2], methods=("analytic", "newton"))
    header, rows = cmp.table()
    col = header.index("kind")
    assert [r[col] for r in rows] == ["exact", "local"]
    assert cmp["newton"].kind == "local"


def test_cli_prints_the_kind(capsys, tmp_path):
    from symrecon.demo import shipped_model_path

    code = cli.main(["invert", str(shipped_model_path()), "--y", "100", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and any(line.split() == ["kind", "exact"] for line in out.splitlines())
    code = cli.main(["invert", str(shipped_model_path()), "--y", "100", "--y", "50", "--no-progress"])
    out = capsys.readouterr().out
    assert any(line.split() == ["kind", "exact:", "2"] for line in out.splitlines())


def test_auto_on_a_wide_model_says_exact_set_and_carries_the_set():
    rng = np.random.default_rng(5)
    wide = sr.Sequential([sr.Dense(rng.normal(size=(3, 2)), rng.normal(size=2), "tanh")])
    y = wide(rng.normal(size=(4, 3)) * 0.5)
    res = sr.reconstruct(wide, y)   # auto
    assert list(res.method) == ["analytic"] * 4 and list(res.kind) == ["exact-set"] * 4
    # every member of the returned set maps to its target, not only x
    t = rng.normal(size=(4, res.affine_set.dimension))
    np.testing.assert_allclose(wide(res.affine_set.sample(t)), y, atol=1e-9)
    bounded = sr.reconstruct(wide, y, bounds=(-10.0, 10.0))   # the box cuts the set: preimage() returns it
    assert bounded.affine_set is None and "exact-set" not in list(bounded.kind)
