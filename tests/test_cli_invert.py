"""`symrecon invert` as a user meets it (issue 9, items 11, 12 and 15).

Every reconstructed input is printed (a table for several targets) and can be
written with ``--out``; output paths are checked before any work, existing
files are kept without ``--force``, symbolic links are never written through;
``--version``, ``--no-progress`` and the exit codes in ``--help``; the
iteration count is called ``n_iter`` as on the result.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pytest

import symrecon as sr
from symrecon import cli
from symrecon.demo import shipped_model_path
from helpers import check_png

MODEL = str(shipped_model_path())
DATA = Path(__file__).resolve().parent / "data" / "keras"
NO_CLOSED_FORM = str(DATA / "dense_chain.keras")  # tanh -> sigmoid -> a 4-to-2 linear layer


def _invert(capsys, *args):
    code = cli.main(["invert", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------
# item 11: the reconstructed inputs are printed, and --out writes them all

def test_several_targets_print_every_reconstructed_input(capsys):
    code, out, _ = _invert(capsys, MODEL, "--y", "100", "--y", "200")
    assert code == 0
    model = sr.load_keras(MODEL)
    rows = re.findall(r"^\s*(\d+)\s+([-0-9.e+]+)\s+([-0-9.e+]+)\s+\S+\s+yes\s+analytic\s+0\s*$", out, flags=re.M)
    assert [r[0] for r in rows] == ["0", "1"], out
    for _, y, x in rows:
        assert float(model([float(x)])[0]) == pytest.approx(float(y), rel=1e-9)
    assert "x[0]" in out and "n_iter" in out


def test_long_batches_print_first_and_last_rows_and_say_so(capsys):
    ys = [str(v) for v in range(100, 130)]
    code, out, _ = _invert(capsys, MODEL, *(a for y in ys for a in ("--y", y)))
    assert code == 0
    assert re.search(r"^\s*0\s+100\s", out, flags=re.M) and re.search(r"^\s*29\s+129\s", out, flags=re.M)
    assert not re.search(r"^\s*12\s+112\s", out, flags=re.M)
    assert "15 rows not shown" in out and "--out" in out


def test_out_csv_and_npy_hold_every_input_exactly(tmp_path, capsys):
    model = sr.load_keras(MODEL)
    expected = sr.reconstruct(model, [[100.0], [200.0], [-3.5]]).x
    csv_path, npy_path = tmp_path / "x.csv", tmp_path / "x.npy"
    for path in (csv_path, npy_path):
        code, out, _ = _invert(capsys, MODEL, "--y", "100", "--y", "200", "--y", "-3.5", "--out", path)
        assert code == 0 and f"wrote inputs {path}" in out
    x = np.load(npy_path, allow_pickle=False)
    assert x.shape == (3, 1) and x.dtype == np.float64
    np.testing.assert_array_equal(x, expected)
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["x0"]) for r in rows] == list(expected[:, 0])  # exact: written with repr()
    assert [float(r["y0"]) for r in rows] == [100.0, 200.0, -3.5]
    assert {r["success"] for r in rows} == {"True"} and {r["method"] for r in rows} == {"analytic"}
    assert {"residual", "n_iter"} <= set(rows[0])


def test_single_target_writes_a_one_row_file(tmp_path, capsys):
    code, _, _ = _invert(capsys, MODEL, "--y", "100", "--out", tmp_path / "x.npy")
    assert code == 0 and np.load(tmp_path / "x.npy").shape == (1, 1)


def test_unreached_target_exits_1_and_its_row_says_no(capsys):
    code, out, _ = _invert(capsys, MODEL, "--y", "100", "--y", "200", "--method", "gd", "--max-iter", "1")
    assert code == 1
    assert re.search(r"\sNO\s+gd\s+1\s*$", out, flags=re.M), out


# ---------------------------------------------------------------------------
# item 12: outputs checked first, never overwritten silently, links never followed

@pytest.mark.parametrize("option, name", [("--plot", "r.png"), ("--latex", "d.tex"), ("--out", "x.csv")])
def test_missing_folder_fails_before_any_work(option, name, tmp_path, capsys):
    target = tmp_path / "no_such_folder" / name
    code, out, err = _invert(capsys, MODEL, "--y", "100", option, target)
    assert code == 2
    assert out == "", "the reconstruction ran before the output path was checked"
    assert "no_such_folder" in err and "does not exist" in err and "Traceback" not in err


def test_latex_on_a_model_without_closed_form_fails_before_any_work(tmp_path, capsys):
    code, out, err = _invert(capsys, NO_CLOSED_FORM, "--y=-0.5,-0.6", "--latex", tmp_path / "d.tex")
    assert code == 2 and out == ""
    assert "NotInvertibleError" in err and "--latex needs a closed form" in err
    assert not (tmp_path / "d.tex").exists()


@pytest.mark.parametrize("option, name", [("--plot", "r.png"), ("--latex", "d.tex"), ("--out", "x.npy")])
def test_existing_file_is_kept_without_force_and_replaced_with_it(option, name, tmp_path, capsys):
    path = tmp_path / name
    path.write_bytes(b"precious")
    code, out, err = _invert(capsys, MODEL, "--y", "100", option, path)
    assert code == 2 and out == "" and "--force" in err
    assert path.read_bytes() == b"precious"
    code, out, _ = _invert(capsys, MODEL, "--y", "100", option, path, "--force")
    assert code == 0 and path.read_bytes() != b"precious" and f"{path}" in out
    if option == "--plot":
        check_png(path)


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("dangling", [False, True])
def test_symbolic_links_are_never_written_through(force, dangling, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("do not touch")
    link = tmp_path / "r.png"
    link.symlink_to(victim)
    code, out, err = _invert(capsys, MODEL, "--y", "100", "--plot", link, *(["--force"] if force else []))
    assert code == 2 and out == "" and "symbolic link" in err
    assert link.is_symlink()
    assert victim.read_text() == "do not touch" if not dangling else not victim.exists()


def test_a_link_planted_after_the_check_is_refused_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch")
    path = tmp_path / "out.csv"
    path.symlink_to(victim)
    for force in (False, True):
        with pytest.raises(cli.OutputPathError, match="not overwritten"):
            cli._write_new(path, b"new", force=force)
    assert victim.read_text() == "do not touch" and path.is_symlink()


@pytest.mark.parametrize("extra, fragment", [
    (["--plot", "{d}/a.png", "--out", "{d}/a.png"], "expected a file name ending in .csv or .npy"),
    (["--plot", "{d}/a.png", "--latex", "{d}/a.png"], "a.png: is also --latex"),
    (["--latex", "{model}", "--force"], "is also the model"),
    (["--plot", "{d}/a.txt"], "ending in .png or .pdf or .svg"),
    (["--plot", "{d}/folder.png"], "is not a regular file"),
])
def test_bad_output_combinations_exit_2_before_work(extra, fragment, tmp_path, capsys):
    (tmp_path / "folder.png").mkdir()
    args = [a.format(d=tmp_path, model=MODEL) for a in extra]
    code, out, err = _invert(capsys, MODEL, "--y", "100", *args)
    assert code == 2 and out == "" and fragment in err, err


def test_written_files_are_regular_with_default_permissions(tmp_path, capsys):
    code, _, _ = _invert(capsys, MODEL, "--y", "100", "--out", tmp_path / "x.csv")
    umask = os.umask(0)
    os.umask(umask)
    st = os.lstat(tmp_path / "x.csv")
    assert code == 0 and (st.st_mode & 0o777) == (0o666 & ~umask)


# ---------------------------------------------------------------------------
# --version, --no-progress, exit codes in --help, n_iter

def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"symrecon {sr.__version__}"


@pytest.mark.parametrize("flag, expected", [([], None), (["--no-progress"], False)])
def test_no_progress_reaches_reconstruct(flag, expected, monkeypatch, capsys):
    seen = {}
    real = sr.reconstruct

    def spy(*args, **kwargs):
        seen["progress"] = kwargs.get("progress", "missing")
        return real(*args, **kwargs)

    monkeypatch.setattr(sr, "reconstruct", spy)
    code, _, _ = _invert(capsys, MODEL, "--y", "100", *flag)
    assert code == 0 and seen["progress"] is expected


@pytest.mark.parametrize("argv", [["--help"], ["invert", "--help"], ["demo", "--help"]])
def test_help_documents_the_exit_codes(argv, capsys):
    with pytest.raises(SystemExit):
        cli.main(argv)
    text = capsys.readouterr().out
    assert "exit codes:" in text
    for code in ("0", "1", "2", "130"):
        assert re.search(rf"^\s+{code}\s+\S", text, flags=re.M), f"exit code {code} missing from {argv}"


def test_iteration_count_is_called_n_iter_like_the_result(capsys):
    code, out, _ = _invert(capsys, MODEL, "--y", "100", "--method", "gd")
    assert code == 0
    n_iter = int(re.search(r"^\s*n_iter\s+(\d+)\s*$", out, flags=re.M).group(1))
    assert n_iter == sr.reconstruct(sr.load_keras(MODEL), [100.0], method="gd").n_iter
    assert "iterations" not in out


# ---------------------------------------------------------------------------
# item 14 (command line side): --plot shows what invert knows

def test_plot_of_one_input_model_shows_the_curve_around_the_answers(tmp_path, capsys):
    png = tmp_path / "r.png"
    code, _, _ = _invert(capsys, MODEL, "--y", "100", "--y", "300", "--plot", png)
    assert code == 0
    check_png(png, min_width=800, min_height=350)


def test_plot_of_multi_input_batch(tmp_path, capsys):
    y = np.load(DATA / "dense_chain.npz")["y"][:3]
    png = tmp_path / "r.png"
    args = ["--y=" + ",".join(repr(float(v)) for v in row) for row in y]  # "=": the values are negative
    code, out, _ = _invert(capsys, NO_CLOSED_FORM, *args, "--method", "newton", "--plot", png)
    assert code in (0, 1) and "x[2]" in out
    check_png(png, min_width=800, min_height=350)
