"""`symrecon demo` and `symrecon invert`: the write-up reproduced, and the command line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symrecon as sr
from symrecon import cli
from symrecon.demo import Y0, run_demo, shipped_model_path, writeup_dataset
from helpers import check_png, compile_latex


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import io

    out = tmp_path_factory.mktemp("demo")
    buf = io.StringIO()
    result = run_demo(out, stream=buf)
    return result, buf.getvalue(), out


def test_shipped_model_is_the_trained_linear_fit():
    x, y = writeup_dataset()
    model = sr.load_keras(shipped_model_path())
    # Keras's fit must be close to the least-squares line of the same data.
    slope, intercept = np.polyfit(x[:, 0], y[:, 0], 1)
    w, b = float(model.layers[0].kernel[0, 0]), float(model.layers[0].bias[0])
    assert w == pytest.approx(slope, rel=2e-3) and b == pytest.approx(intercept, abs=0.5)


def test_demo_reconstructs_x0_near_312_by_both_methods(demo):
    result, text, _ = demo
    x_a = float(result.analytic.x[0])
    x_g = float(result.gradient_descent.x[0])
    assert x_a == pytest.approx((Y0 - result.bias) / result.kernel, rel=1e-12)
    assert 300 < x_a < 325
    # Six agreeing digits between the closed form and the write-up's gradient descent.
    assert abs(x_g - x_a) <= 1e-6 * abs(x_a)
    assert result.gradient_descent.n_iter <= 200
    assert result.analytic.success and result.gradient_descent.success
    assert f"{x_a:.6g}"[:5] in text and "analytic" in text and "gd" in text


def test_demo_sigmoid_variant(demo):
    result, text, _ = demo
    res = result.sigmoid
    m = sr.Sequential([sr.Dense([[result.kernel]], [result.bias], "sigmoid")])
    assert float(m(res.x)[0]) == pytest.approx(0.75, abs=1e-12)
    assert "log" in text


def test_demo_files_compile_and_open(demo):
    result, _, _ = demo
    files = result.files
    for key in ("linear_tex", "sigmoid_tex"):
        compile_latex(files[key])
    for key in ("dataset_png", "reconstruction_png", "convergence_png"):
        check_png(files[key])


def test_symrecon_demo_console_script(tmp_path):
    exe = shutil.which("symrecon")
    assert exe, "console script missing: pip install -e ."
    proc = subprocess.run([exe, "demo", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    found = dict(re.findall(r"^(analytic|gd) x0 = ([0-9.]+)", proc.stdout, flags=re.M))
    a, g = float(found["analytic"]), float(found["gd"])
    assert 300 < a < 325 and abs(a - g) <= 1e-6 * a
    assert {p.name for p in tmp_path.iterdir()} >= {"linear_derivation.tex", "sigmoid_derivation.tex",
                                                     "dataset.png", "reconstruction.png", "convergence.png"}


def test_invert_prints_result_and_writes_files(tmp_path, capsys):
    tex, png = tmp_path / "d.tex", tmp_path / "r.png"
    code = cli.main(["invert", str(shipped_model_path()), "--y", "100", "--latex", str(tex), "--plot", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    model = sr.load_keras(shipped_model_path())
    x = float(re.search(r"x\s+\[([-0-9.e+]+)\]", out).group(1))
    assert float(model([x])[0]) == pytest.approx(100.0, abs=1e-6)
    compile_latex(tex)
    check_png(png)


def _summary_field(out, name):
    match = re.search(rf"^\s*{name}\s+(.+?)\s*$", out, flags=re.M)
    assert match, f"no {name!r} line in:\n{out}"
    return match.group(1)


def test_invert_batch_and_method(capsys):
    code = cli.main(["invert", str(shipped_model_path()), "--y", "100", "--y", "50", "--method", "newton"])
    out = capsys.readouterr().out
    assert code == 0
    assert int(_summary_field(out, "targets")) == 2
    assert _summary_field(out, "within tol") == "2 (100.00 %)"
    assert float(_summary_field(out, "max residual")) <= 1e-9
    assert float(_summary_field(out, "tolerance")) == 1e-9
    assert _summary_field(out, "methods") == "newton: 2"
    assert _summary_field(out, "message") == "2 of 2 targets within tolerance 1e-09."


def test_invert_batch_prints_each_reconstruction(capsys):
    model = sr.load_keras(shipped_model_path())
    code = cli.main(["invert", str(shipped_model_path()), "--y", "100", "--y", "50", "--method", "newton"])
    out = capsys.readouterr().out
    assert code == 0
    numbers = [float(v) for v in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", out)]
    for y in (100.0, 50.0):
        x = float((y - model.layers[0].bias[0]) / model.layers[0].kernel[0, 0])
        assert any(abs(v - x) <= 1e-6 * abs(x) for v in numbers), f"x = {x:.6g} for y = {y} not printed:\n{out}"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["invert", "no_such_file.keras", "--y", "1"], "no_such_file.keras"),
        (["invert", "{model}", "--y", "1,2"], "shape"),
        (["invert", "{model}", "--y", "1", "--method", "nope"], "unknown method"),
        (["invert", "{bad}", "--y", "1"], "bad.keras"),
    ],
)
def test_invert_bad_input_exits_2_with_message(args, fragment, tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"this is not a zip archive")
    args = [a.format(model=shipped_model_path(), bad=bad) for a in args]
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_invert_infeasible_target_exits_2(tmp_path, capsys):
    # A sigmoid model cannot output 1.5.
    import keras  # noqa: F401  (live Keras writes the file)

    m = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1, activation="sigmoid")])
    path = tmp_path / "sig.keras"
    m.save(path)
    code = cli.main(["invert", str(path), "--y", "1.5"])
    err = capsys.readouterr().err
    assert code == 2 and "InfeasibleTargetError" in err and "Interval.open(0, 1)" in err


def test_bad_target_text_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["invert", "m.keras", "--y", "abc"])
    assert info.value.code == 2
    assert "comma-separated numbers" in capsys.readouterr().err
