"""Every example in examples/ and every code block in the README runs, and what it writes is opened."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import check_png, compile_latex

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def _env():
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _check_outputs(folder: Path):
    written = sorted(p for p in folder.rglob("*") if p.suffix in {".tex", ".png"})
    for path in written:
        if path.suffix == ".png":
            check_png(path)
        else:
            compile_latex(path)
    return written


def test_there_are_examples_and_readme_blocks():
    assert EXAMPLES, "examples/ is empty"
    assert sum(lang == "python" for lang, _ in BLOCKS) >= 3


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_its_files_open(script, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True, text=True,
                          env=_env(), cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "the example printed nothing"
    written = _check_outputs(out)
    assert written, f"{script.name} wrote no .tex/.png files into --out"


PY_BLOCKS = [code for lang, code in BLOCKS if lang == "python"]


@pytest.mark.parametrize("index", range(len(PY_BLOCKS)))
def test_readme_python_block(index, tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    exec(compile(PY_BLOCKS[index], f"README.md[python block {index}]", "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out.strip(), "README block printed nothing"
    for tex in tmp_path.glob("*.tex"):
        compile_latex(tex)


SHELL_LINES = [line.strip() for lang, code in BLOCKS if lang == "bash" for line in code.splitlines()
               if line.strip().startswith("symrecon ") or " && symrecon " in line]


def test_readme_commands_are_known():
    # The install parts (pip install ..., bash tools/test.sh) are what CI itself runs;
    # the symrecon commands are run below.
    assert any("symrecon demo" in line for line in SHELL_LINES)
    assert any("bash tools/test.sh" in code for lang, code in BLOCKS if lang == "bash")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "tools/test.sh" in ci


@pytest.mark.parametrize("line", SHELL_LINES)
def test_readme_symrecon_command(line, tmp_path):
    command = line.split("&&")[-1].strip()
    exe = shutil.which("symrecon")
    assert exe, "the symrecon console script is not installed (pip install -e .)"
    data = tmp_path / "symrecon" / "data"
    data.mkdir(parents=True)
    for f in (ROOT / "symrecon" / "data").iterdir():
        shutil.copy(f, data / f.name)
    args = command.split()[1:]
    if args[0] == "demo":
        args += ["--out", str(tmp_path / "demo")]
    proc = subprocess.run([exe, *args], capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    written = _check_outputs(tmp_path)
    assert written


def test_readme_quotes_what_the_demo_prints(tmp_path):
    # Issue 9, item 15: the README said "x0 ≈ 312" and "200 iterations" while the demo printed
    # x0 = 314.2257995 after 189; the README must say what the demo prints and why it differs.
    import io

    import matplotlib

    matplotlib.use("Agg")
    from symrecon.demo import run_demo

    buf = io.StringIO()
    result = run_demo(tmp_path / "demo", stream=buf)
    text = buf.getvalue()
    analytic = re.search(r"^analytic x0 = (\S+)", text, flags=re.M).group(1)
    gd_x, gd_n = re.search(r"^gd x0 = (\S+)\s+\(gradient descent, (\d+) iterations;", text, flags=re.M).groups()
    assert f"analytic x0 = {analytic}" in README
    assert f"gd x0 = {gd_x} (gradient descent, {gd_n} iterations;" in README, "README misquotes the demo's gd line"
    assert f"{result.gradient_descent.n_iter} iterations, not 200" in README
    assert f"W = {result.kernel:.8g}" in README and f"b = {result.bias:.7g}" in README
    assert "x0 ≈ 312)" not in README  # the old claim, as if the demo printed it
