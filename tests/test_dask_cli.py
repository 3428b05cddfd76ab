"""``symrecon invert MODEL --targets y.zarr|y.parquet --out x.zarr|x.parquet [--scheduler ADDRESS]``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dask_support import da, local_cluster, tanh_problem

import symrecon as sr
from symrecon import cli_dask
from symrecon.cli import main
from symrecon.status import Status

KERAS_LINEAR = sr.__file__.replace("__init__.py", "data/writeup_linear.keras")


@pytest.fixture
def linear_targets(tmp_path):
    y = np.linspace(50.0, 150.0, 1_000).reshape(-1, 1)
    da.to_zarr(da.from_array(y, chunks=100), str(tmp_path / "y.zarr"))
    pd.DataFrame({"y0": y[:, 0]}).to_parquet(tmp_path / "y.parquet")
    return y


def _zarr_result(path):
    import zarr

    group = zarr.open_group(str(path), mode="r")
    return {name: group[name][:] for name in ("x", "residual", "status", "n_iter", "success", "method")}, \
        dict(group.attrs)


def test_zarr_in_zarr_out_equals_the_in_memory_path(tmp_path, linear_targets, capsys):
    rc = main(["invert", KERAS_LINEAR, "--targets", str(tmp_path / "y.zarr"), "--out", str(tmp_path / "x.zarr")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "targets       1000" in printed and "wrote inputs" in printed
    memory = sr.reconstruct(sr.load_keras(KERAS_LINEAR), linear_targets)
    arrays, attrs = _zarr_result(tmp_path / "x.zarr")
    np.testing.assert_allclose(arrays["x"], memory.x, rtol=1e-12)  # closed form: NumPy or numba by chunk size
    np.testing.assert_array_equal(arrays["status"], memory.status)
    assert arrays["success"].all() and arrays["n_iter"].dtype == np.int64
    assert [attrs["method_names"][c] for c in arrays["method"]] == list(memory.method)
    assert attrs["summary"]["status_counts"] == {"EXACT": 1000} and attrs["status_names"]["1"] == "EXACT"


def test_parquet_in_parquet_out(tmp_path, linear_targets):
    rc = main(["invert", KERAS_LINEAR, "--targets", str(tmp_path / "y.parquet"), "--out",
               str(tmp_path / "x.parquet"), "--method", "newton"])
    assert rc == 0
    frame = pd.read_parquet(tmp_path / "x.parquet")
    memory = sr.reconstruct(sr.load_keras(KERAS_LINEAR), linear_targets, method="newton")
    assert list(frame.columns) == ["x0", "residual", "status", "n_iter", "success", "method"]
    np.testing.assert_array_equal(frame["x0"].to_numpy(), memory.x[:, 0])
    assert list(frame["status"]) == [s.name for s in memory.statuses]
    assert set(frame["method"]) == {"newton"} and frame["success"].all()


def test_a_zarr_group_with_y_and_the_progress_bar(tmp_path, monkeypatch, capsys):
    model, y = tanh_problem(400)
    # a model file is what the command reads: the square tanh net as Keras would save it
    import zarr

    group = zarr.open_group(str(tmp_path / "data.zarr"), mode="w")
    group.create_array("y", data=y, chunks=(100, 4))
    monkeypatch.setattr(cli_dask, "AUTO_THRESHOLD", 0.0)  # show the bar however short the run
    monkeypatch.setattr(sr, "load_keras", lambda path: model)
    rc = main(["invert", "unused.keras", "--targets", str(tmp_path / "data.zarr"), "--out",
               str(tmp_path / "x.zarr"), "--method", "newton"])
    assert rc == 0
    assert "100% Completed" in capsys.readouterr().err
    arrays, _ = _zarr_result(tmp_path / "x.zarr")
    np.testing.assert_array_equal(arrays["x"], sr.reconstruct(model, y, method="newton").x)


def test_scheduler_address_runs_on_that_cluster(tmp_path, linear_targets, capsys):
    with local_cluster(n_workers=1) as client:
        address = client.scheduler.address
        rc = main(["invert", KERAS_LINEAR, "--targets", str(tmp_path / "y.zarr"), "--out",
                   str(tmp_path / "x.zarr"), "--scheduler", address, "--no-progress"])
        done = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.transition_log))
    assert rc == 0 and done > 0, capsys.readouterr().err
    arrays, _ = _zarr_result(tmp_path / "x.zarr")
    np.testing.assert_allclose(arrays["x"][:, 0], (linear_targets[:, 0] + 25.04122) / 0.39793429, rtol=1e-6)
    assert (arrays["status"] == Status.EXACT).all()


@pytest.mark.parametrize("extra, match", [
    (["--y", "100"], "either with --y or with --targets"),
    (["--latex", "d.tex"], "--latex is not available with --targets"),
    (["--out", "x.csv"], "expected a name ending in .zarr or .parquet"),
    ([], "--targets needs --out"),
    (["--out", "y.zarr", "--force"], "is also the --targets input"),
    (["--out", "y.parquet"], "exists; pass --force"),
])
def test_bad_command_lines_exit_2_before_any_work(tmp_path, linear_targets, capsys, monkeypatch, extra, match):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sr, "load_keras", lambda path: pytest.fail("the model was loaded before the check"))
    rc = main(["invert", KERAS_LINEAR, "--targets", "y.zarr", *extra])
    assert rc == 2
    assert match in capsys.readouterr().err


def test_wrong_width_and_missing_targets_exit_2(tmp_path, capsys):
    da.to_zarr(da.zeros((10, 3), chunks=5), str(tmp_path / "wide.zarr"))
    assert main(["invert", KERAS_LINEAR, "--targets", str(tmp_path / "wide.zarr"), "--out",
                 str(tmp_path / "x.zarr")]) == 2
    assert "shape (N, 1) to match the model's n_out = 1; got shape (10, 3)" in capsys.readouterr().err
    assert main(["invert", KERAS_LINEAR, "--targets", str(tmp_path / "none.zarr"), "--out",
                 str(tmp_path / "x.zarr")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["invert", KERAS_LINEAR]) == 2
    assert "invert needs targets" in capsys.readouterr().err


def test_force_overwrites_a_store_and_links_are_never_written_through(tmp_path, linear_targets, capsys):
    out = tmp_path / "x.zarr"
    args = ["invert", KERAS_LINEAR, "--targets", str(tmp_path / "y.zarr"), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    assert main(args) == 2 and "exists; pass --force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    link = tmp_path / "link.zarr"
    link.symlink_to(out)
    assert main([*args[:-3], "--out", str(link), "--force"]) == 2
    assert "symbolic link" in capsys.readouterr().err


def test_targets_not_all_reached_exit_1(tmp_path, monkeypatch, capsys):
    model, y = tanh_problem(300)
    y = y.copy()
    y[7] = 0.9999  # no input of this net reaches it
    da.to_zarr(da.from_array(y, chunks=(100, 4)), str(tmp_path / "y.zarr"))
    monkeypatch.setattr(sr, "load_keras", lambda path: model)
    rc = main(["invert", "unused.keras", "--targets", str(tmp_path / "y.zarr"), "--out", str(tmp_path / "x.parquet"),
               "--method", "newton", "--no-progress"])
    assert rc == 1
    assert "299 of 300 targets within tolerance" in capsys.readouterr().out
    frame = pd.read_parquet(tmp_path / "x.parquet")
    assert len(frame) == 300 and not frame["success"][7] and frame["success"].sum() == 299
