"""Targets as dask arrays: the same answers as in memory, lazily, with clear errors before any task runs.

Equality with the in-memory path is exact (``assert_array_equal``): each chunk
runs the same solver on the same rows, and each target carries its own
tolerance into the kernels, so the split into chunks changes nothing
(tests/test_architecture.py::test_executors_cover_every_row_once).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from dask_support import assert_same_rows, da, dask, tanh_problem

import symrecon as sr
from symrecon import distributed
from symrecon.distributed import DaskReconstruction, _pack as pack
from symrecon.status import Status

THREADS = {"scheduler": "threads"}


@pytest.mark.parametrize("method", ["newton", "auto", "analytic"])
def test_threaded_results_equal_the_in_memory_path(method):
    model, y = tanh_problem(20_000)
    memory = sr.reconstruct(model, y, method=method)
    res = sr.reconstruct(model, da.from_array(y, chunks=(1_500, 4)), method=method)
    assert isinstance(res, DaskReconstruction) and res.x.chunks[0] == da.from_array(y, chunks=1_500).chunks[0]
    assert_same_rows(res.compute(**THREADS), memory, exact=method == "newton")
    assert np.all(memory.success)


def test_fields_are_lazy_dask_arrays_solved_once_per_chunk(monkeypatch):
    model, y = tanh_problem(1_000)
    res = sr.reconstruct(model, da.from_array(y, chunks=(100, 4)), method="newton")
    for field, dtype, shape in [("x", np.float64, (1_000, 4)), ("y_pred", np.float64, (1_000, 4)),
                                ("residual", np.float64, (1_000,)), ("status", np.int8, (1_000,)),
                                ("n_iter", np.int64, (1_000,)), ("success", bool, (1_000,)),
                                ("method", object, (1_000,))]:
        value = getattr(res, field)
        assert isinstance(value, da.Array) and value.dtype == dtype and value.shape == shape, field
    # x and status together: one solver task per chunk in the merged graph
    calls = []
    monkeypatch.setattr(distributed, "_pack", lambda res, names: calls.append(1) or pack(res, names))
    x, status = dask.compute(res.x, res.status, scheduler="sync")
    assert len(calls) == 10
    np.testing.assert_allclose(model(x), y, atol=1e-9)
    assert np.all(status == Status.CONVERGED)


def test_summary_equals_the_in_memory_summary():
    model, y = tanh_problem(3_000)
    y = y.copy()
    y[5] = 0.9999  # reachable by no input of this net: not CONVERGED
    memory = sr.reconstruct(model, y, method="newton")
    lazy = sr.reconstruct(model, da.from_array(y, chunks=(700, 4)), method="newton").summary(**THREADS)
    expected = memory.summary()
    del expected["elapsed"]
    assert lazy == expected
    assert sum(lazy["status_counts"].values()) == 3_000 and lazy["n_success"] < 3_000


def test_the_model_is_in_one_task_of_the_graph_not_one_per_chunk():
    model, y = tanh_problem(2_000)
    marker = model.layers[0].kernel.tobytes()
    res = sr.reconstruct(model, da.from_array(y, chunks=(100, 4)), method="newton")
    graph = dict(res.packed.__dask_graph__())
    carrying = [k for k, task in graph.items() if marker in pickle.dumps(task)]
    assert len(graph) >= 20 and len(carrying) == 1, carrying


def test_starting_points_and_bounds_reach_every_chunk():
    model, y = tanh_problem(600, seed=2)
    x0 = np.full((600, 4), 0.1)
    bounds = (-3.0, 3.0)
    memory = sr.reconstruct(model, y, method="newton", x0=x0, bounds=bounds)
    for start in (x0, da.from_array(x0, chunks=(77, 2)), x0[0]):
        res = sr.reconstruct(model, da.from_array(y, chunks=(100, 4)), method="newton", x0=start, bounds=bounds)
        assert_same_rows(res.compute(**THREADS), memory)


def test_persist_then_fields_and_compute():
    model, y = tanh_problem(500)
    res = sr.reconstruct(model, da.from_array(y, chunks=(100, 4)), method="newton").persist(**THREADS)
    assert res.summary(**THREADS)["n_success"] == 500
    assert_same_rows(res.compute(**THREADS), sr.reconstruct(model, y, method="newton"))
    assert "DaskReconstruction(n_targets=500" in repr(res) and isinstance(res, sr.DaskReconstruction)


# ---------------------------------------------------------------------------
# bad input: clear errors before any task runs

def _never_runs(block):
    raise AssertionError("a task ran although the input was refused")


def _untouchable(y):
    """``y`` as a dask array whose every task fails: an error raised now proves nothing was computed."""
    return da.from_array(np.asarray(y), chunks=(50,) + (np.shape(y)[1:] or ())).map_blocks(_never_runs,
                                                                                        dtype=np.float64)


@pytest.mark.parametrize("y, error, match", [
    (np.zeros(100), sr.ShapeError, r"must be 2-D \(N, 4\).*got 1-D"),
    (np.zeros((100, 4, 1)), sr.ShapeError, r"must be 2-D .*got 3-D"),
    (np.zeros((100, 3)), sr.ShapeError, r"shape \(N, 4\) to match the model's n_out = 4; got shape \(100, 3\)"),
])
def test_bad_dask_targets_are_refused_before_any_task(y, error, match):
    model, _ = tanh_problem(1)
    with pytest.raises(error, match=match):
        sr.reconstruct(model, _untouchable(y), method="newton")


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "newton", "max_iter": -1}, "max_iter"),
    ({"method": "analytic", "bounds": (0, 1)}, "does not support bounds"),
    ({"method": "newton", "bogus": 1}, "unknown option"),
    ({"method": "newton", "x0": np.zeros(3)}, r"x0 must have shape \(4,\)"),
    ({"method": "newton", "x0": np.zeros((99, 4))}, r"x0 must have shape \(4,\) or \(100, 4\)"),
    ({"method": "newton", "executor": "threads"}, "does not apply to dask targets"),
    ({"method": "newton", "x0": np.full(4, 5.0), "bounds": (-1, 1)}, "x0 lies outside the bounds"),
])
def test_bad_options_are_refused_before_any_task(kwargs, match):
    model, _ = tanh_problem(1)
    with pytest.raises(sr.SymreconError, match=match) as info:
        sr.reconstruct(model, _untouchable(np.zeros((100, 4))), **kwargs)
    assert isinstance(info.value, ValueError)


def test_non_real_and_unknown_chunks_are_refused():
    model, _ = tanh_problem(1)
    with pytest.raises(sr.InvalidValueError, match="real numbers; got dtype complex128"):
        sr.reconstruct(model, da.zeros((10, 4), dtype=complex, chunks=5))
    unknown = da.from_array(np.zeros((10, 4)), chunks=5)
    unknown = unknown[unknown[:, 0] > -1]  # row count unknown until computed
    with pytest.raises(sr.ShapeError, match="compute_chunk_sizes"):
        sr.reconstruct(model, unknown)


def test_chunks_along_columns_are_rechunked_with_a_note():
    model, y = tanh_problem(300)
    res = sr.reconstruct(model, da.from_array(y, chunks=(100, 2)), method="newton")
    assert res.x.chunks == ((100, 100, 100), (4,))
    assert "rechunked to whole rows" in res.stats["notes"][0]
    assert_same_rows(res.compute(**THREADS), sr.reconstruct(model, y, method="newton"))


def test_a_bad_value_in_a_chunk_raises_the_in_memory_error_naming_the_chunk():
    model, y = tanh_problem(300)
    y = y.copy()
    y[205, 1] = 1.5  # outside tanh's image
    res = sr.reconstruct(model, da.from_array(y, chunks=(100, 4)), method="newton")  # values: checked per chunk
    with pytest.raises(sr.InfeasibleTargetError, match=r"target 5, output unit 1 = 1.5 .*starting at row 200"):
        res.x.compute(**THREADS)


def test_dask_is_not_imported_unless_used():
    code = ("import sys, numpy as np, symrecon as sr\n"
            "m = sr.Sequential([sr.Dense([[2.0]], [1.0])])\n"
            "sr.reconstruct(m, np.ones((3, 1)))\n"
            "print(sorted(k for k in sys.modules if k == 'dask' or k.startswith(('dask.', 'distributed'))))\n")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(sr.__file__))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
