"""compare(): agreement in digits with the closed form, and every output format."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import symrecon as sr
from symrecon.compare import agreeing_digits


def _invertible_model():
    rng = np.random.default_rng(7)
    layers = []
    for act in ("tanh", "sigmoid"):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        layers.append(sr.Dense(0.9 * q, 0.1 * rng.normal(size=3), act))
    return sr.Sequential(layers), rng


@pytest.fixture(scope="module")
def comparison():
    model, rng = _invertible_model()
    y = model(0.5 * rng.normal(size=(4, 3)))
    return sr.compare(model, y, methods=("analytic", "newton", "scipy", "gd"), tol=1e-12)


def test_iterative_methods_agree_with_analytic_to_nine_digits(comparison):
    assert comparison.reference is not None
    for method in ("newton", "scipy", "gd"):
        row = comparison[method]
        assert row.digits >= 9, (method, row.digits)
        assert row.success_rate == 1.0
        assert row.distance < 1e-8
    assert comparison["analytic"].n_iter == 0


def test_writeup_model_compare_single_target():
    m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    cmp = sr.compare(m, [100.0], methods=("analytic", "gd", "scipy"))
    assert [r.method for r in cmp.rows] == ["analytic", "gd", "scipy"]
    np.testing.assert_allclose(cmp.reference, [312.5])
    assert all(r.digits >= 9 for r in cmp.rows)


def test_method_without_closed_form_gets_a_row_not_an_error():
    relu = sr.Sequential([sr.Dense([[1.0, 2.0]], [0.5, -0.5], "relu"), sr.Dense([[1.0], [1.0]])])
    cmp = sr.compare(relu, [3.0], methods=("analytic", "newton"))
    assert cmp["analytic"].result is None and "closed-form" in cmp["analytic"].error
    assert np.isnan(cmp["newton"].digits)
    assert "not run" in str(cmp) and "note: analytic" in str(cmp)


def test_compare_rejects_method_specific_options():
    m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    with pytest.raises(TypeError, match="learning_rate"):
        sr.compare(m, [100.0], learning_rate=0.1)


def test_text_and_markdown(comparison):
    text = str(comparison)
    assert text.startswith("[[Comparison]] 4 target(s)")
    for method in ("analytic", "newton", "scipy", "gd"):
        assert method in text
    md = comparison.to_markdown().splitlines()
    assert md[0].startswith("| method | x | residual")
    assert md[1].count("---") == 9
    assert len(md) == 2 + 4
    assert all(line.count(" | ") == 8 for line in md[:6])
    kinds = {line.split(" | ")[0].strip("| "): line.split(" | ")[4] for line in md[2:]}
    assert kinds["analytic"] == "exact 4" and kinds["gd"] == "local 4"


def test_html(comparison):
    html = comparison._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 5
    assert re.sub(r"</?(table|caption|thead|tbody|tr|th|td|p|em)>", "", html).count("<") == 0


def test_html_escapes_text_from_the_model():
    # a layer name with markup reaches the notes (the reason analytic did not run): it must arrive escaped
    relu = sr.Sequential([sr.Dense([[1.0, 2.0]], [0.5, -0.5], "relu"),
                          sr.Dense([[1.0], [1.0]], name="<b>w&b</b>")])
    html = sr.compare(relu, [3.0], methods=("analytic", "newton"))._repr_html_()
    assert "&lt;b&gt;w&amp;b&lt;/b&gt;" in html
    assert "<b>" not in html
    assert re.sub(r"</?(table|caption|thead|tbody|tr|th|td|p|em)>", "", html).count("<") == 0


def test_agreeing_digits():
    assert agreeing_digits([1.0], [1.0]) == 16.0
    assert agreeing_digits([1.0 + 1e-9], [1.0]) == pytest.approx(9.0, abs=0.01)
    assert agreeing_digits([2.0], [1.0]) == 0.0
    assert np.isnan(agreeing_digits([1.0], [np.nan]))


def test_to_latex_compiles_with_pdflatex(tmp_path, comparison):
    # a missing pdflatex is a broken test machine, not a reason to skip
    pdflatex = shutil.which("pdflatex")
    assert pdflatex is not None, "pdflatex is required by this test (tools/test.sh installs it)"
    relu = sr.Sequential([sr.Dense([[1.0, 2.0]], [0.5, -0.5], "relu"), sr.Dense([[1.0], [1.0]])])
    tables = [comparison.to_latex(), sr.compare(relu, [3.0], methods=("analytic", "newton")).to_latex()]
    doc = "\\documentclass{article}\n\\begin{document}\n" + "\n\n".join(tables) + "\n\\end{document}\n"
    (tmp_path / "cmp.tex").write_text(doc)
    proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "cmp.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "cmp.pdf").stat().st_size > 0


def test_solver_instances_as_methods():
    from symrecon.solvers.gd import GradientDescent

    m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    gd = GradientDescent(learning_rate=0.4, optimizer="constant")
    cmp = sr.compare(m, [100.0], methods=("analytic", gd), x0=[1.0], max_iter=200)
    assert [r.method for r in cmp.rows] == ["analytic", "gd"]
    assert cmp["gd"].digits >= 9
