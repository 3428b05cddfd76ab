"""`symrecon demo`'s output folder (issue 9, item 12 applied to the demo's files)."""

from __future__ import annotations

import io

import pytest

from symrecon import cli
from symrecon.demo import run_demo
from helpers import check_png

OUTPUT_NAMES = ("linear_derivation.tex", "sigmoid_derivation.tex", "dataset.png", "reconstruction.png",
                "convergence.png")


def test_demo_never_writes_through_a_link_in_its_folder(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"do not touch")
    (out / "convergence.png").symlink_to(victim)
    assert cli.main(["demo", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "symbolic link" in captured.err and captured.out == ""  # refused before any work
    assert victim.read_bytes() == b"do not touch" and (out / "convergence.png").is_symlink()


def test_demo_reruns_over_its_own_files(tmp_path):
    out = tmp_path / "demo"
    for _ in range(2):
        result = run_demo(out, stream=io.StringIO())
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_NAMES)
    for name in ("dataset.png", "reconstruction.png", "convergence.png"):
        check_png(out / name)
    assert result.files["linear_tex"].read_text().startswith("\\documentclass")


def test_demo_refuses_a_folder_where_a_file_goes(tmp_path):
    out = tmp_path / "demo"
    (out / "dataset.png").mkdir(parents=True)
    with pytest.raises(ValueError, match="not a regular file"):  # cli.OutputPathError
        run_demo(out, stream=io.StringIO())
