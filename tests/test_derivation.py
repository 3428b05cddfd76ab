"""Derivations: the write-up's sigmoid chain, LaTeX that compiles, compact wide layers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symrecon as sr
from symrecon.activations import Y, Z
from symrecon.symbolic import Derivation, Step
from symrecon.symbolic.latex import PseudoInverse, escape_text, latex, named_matrix


def _compile(tex: Path) -> Path:
    """pdflatex in the file's folder; a missing pdflatex FAILS (CI installs it)."""
    exe = shutil.which("pdflatex")
    assert exe is not None, "pdflatex is not installed (tools/test.sh installs texlive-latex-base)"
    proc = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent, check=False,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:]
    pdf = tex.with_suffix(".pdf")
    assert pdf.exists() and pdf.stat().st_size > 0
    return pdf


@pytest.fixture
def sigmoid_inverse():
    return sr.analytic_inverse(sr.Sequential([sr.Dense([[0.5]], [-1.0], "sigmoid")]))


def test_sigmoid_derivation_is_the_write_up_chain(sigmoid_inverse):
    x, W, b = (sp.Symbol(n, real=True) for n in ("x", "W", "b"))
    expected = [
        sp.Eq(Y, 1 / (1 + sp.exp(-Z)), evaluate=False),                                   # y = 1/(1+e^-z)
        sp.Eq(sp.exp(-Z), 1 / Y - 1, evaluate=False),                                     # e^-z = 1/y - 1
        sp.Eq(sp.log(sp.exp(-Z), evaluate=False), sp.log(1 / Y - 1), evaluate=False),    # log both sides
        sp.Eq(Z, -sp.log(1 / Y - 1), evaluate=False),                                     # z = -log(1/y - 1)
        sp.Eq(x, (Z - b) / W, evaluate=False),                                            # x = (z - b)/W
    ]
    steps = sigmoid_inverse.derivation.symbolic_steps
    assert [s.eq for s in steps] == expected
    assert [str(s.eq) for s in steps] == [
        "Eq(y, 1/(1 + exp(-z)))", "Eq(exp(-z), -1 + 1/y)", "Eq(log(exp(-z)), log(-1 + 1/y))",
        "Eq(z, -log(-1 + 1/y))", "Eq(x, (-b + z)/W)",
    ]
    assert all(s.text for s in steps)


def test_sigmoid_derivation_model_then_numbers(sigmoid_inverse):
    d = sigmoid_inverse.derivation
    assert [s.stage for s in d] == ["model"] + ["symbolic"] * 5 + ["numeric"] * 2
    assert str(d.stage("model")[0].eq) == "Eq(z, W*x + b)"
    numeric = d.numeric_steps
    assert "W = 0.5" in numeric[0].text and "b = -1" in numeric[0].text
    assert str(numeric[0].eq) == "Eq(x, 2.0*z + 2.0)"
    # the final closed form, evaluated, is the numeric inverse
    closed = sp.lambdify(Y, numeric[-1].eq.rhs, "numpy")
    y = np.array([0.01, 0.5, 0.9])
    np.testing.assert_allclose(closed(y), sigmoid_inverse(y[:, None])[:, 0], rtol=1e-12)


def test_to_latex_block_and_standalone(sigmoid_inverse, tmp_path):
    d = sigmoid_inverse.derivation
    block = d.to_latex()
    assert block.startswith("\\begin{align*}") and block.rstrip().endswith("\\end{align*}")
    assert "\\documentclass" not in block
    for piece in [r"y &= \frac{1}{1 + e^{- z}}", r"e^{- z} &= -1 + \frac{1}{y}",
                  r"z &= - \log{\left(-1 + \frac{1}{y} \right)}", r"x &= \frac{- b + z}{W}"]:
        assert piece in block
    doc = d.to_latex(standalone=True)
    assert doc.startswith("\\documentclass{article}") and "\\usepackage{amsmath}" in doc and block in doc
    path = d.save(tmp_path / "sigmoid.tex")
    assert path == tmp_path / "sigmoid.tex" and path.read_text() == doc
    _compile(path)


def test_repr_latex_and_text(sigmoid_inverse):
    d = sigmoid_inverse.derivation
    html = d._repr_latex_()
    assert html.startswith("$$\\begin{aligned}") and html.endswith("\\end{aligned}$$")
    text = str(d)
    for line in ["y = 1/(1 + exp(-z))", "exp(-z) = -1 + 1/y", "z = -log(-1 + 1/y)", "x = (-b + z)/W"]:
        assert line in text
    assert "Derivation(8 steps" in repr(d)


def test_linear_unit_derivation_is_the_write_up_formula():
    d = sr.analytic_inverse(sr.Sequential([sr.Dense([[0.4]], [-25.0])])).derivation
    assert str(d.symbolic_steps[-1].eq) == "Eq(x, (-b + z)/W)"
    assert str(d.steps[-1].eq) == "Eq(x, 2.5*y + 62.5)"


def test_general_network_derivation_compiles(tmp_path):
    rng = np.random.default_rng(7)
    model = sr.Sequential([
        sr.Dense(rng.normal(size=(3, 2)), rng.normal(size=2), "softplus", name="wide"),
        sr.Dense(np.array([[1.0, 0.5], [0.0, 1.0]]), [0.0, 0.1], "leaky_relu", name="square"),
        sr.Dense(rng.normal(size=(2, 3)), activation="tanh", name="tall"),
    ])
    d = sr.analytic_inverse(model).derivation
    stages = [s.stage for s in d]
    assert stages == sorted(stages, key=["model", "symbolic", "numeric"].index)
    eqs = [str(s.eq) for s in d.symbolic_steps]
    assert "Eq(a2, (-b3 + z3)*PseudoInverse(W3))" in eqs          # tall: least squares
    assert "Eq(a1, (-b2 + z2)*W2**(-1))" in eqs                   # square: inverse
    assert "Eq(x, (-b1 + z1)*PseudoInverse(W1) + t*N)" in eqs     # wide first: affine set
    latex_block = d.to_latex()
    assert r"\left(W^{(3)}\right)^{+}" in latex_block and r"\left(W^{(2)}\right)^{-1}" in latex_block
    _compile(d.save(tmp_path / "general.tex"))


def test_wide_layers_stay_in_matrix_form(tmp_path):
    rng = np.random.default_rng(1)
    q = [np.linalg.qr(rng.normal(size=(64, 64)))[0] for _ in range(2)]
    model = sr.Sequential([sr.Dense(q[0], activation="tanh"), sr.Dense(q[1], activation="sigmoid")])
    d = sr.analytic_inverse(model).derivation
    doc = d.to_latex(standalone=True)
    assert len(doc) < 8000, "a 64-wide layer was written out entry by entry"
    assert "64 x 64" in doc and r"B^{(2)}" in doc
    _compile(d.save(tmp_path / "wide.tex"))


def test_step_stage_is_checked():
    with pytest.raises(ValueError, match="stage"):
        Step(sp.Eq(Z, Y), "text", stage="later")
    d = Derivation((Step(sp.Eq(Z, Y), "identity"),))
    assert len(d) == 1 and d[0].stage == "symbolic"
    with pytest.raises(ValueError, match="stage"):
        d.stage("nope")


def test_printer_literals():
    W = named_matrix("Wt", "W^{(7)}", 2, 3)
    assert latex(sp.Inverse(named_matrix("Ws", "W^{(2)}", 3, 3))) == r"\left(W^{(2)}\right)^{-1}"
    assert latex(PseudoInverse(W)) == r"\left(W^{(7)}\right)^{+}"
    assert latex(sp.Inverse(sp.MatrixSymbol("A", 2, 2))) == r"A^{-1}"
    assert latex(sp.Float(0.123456789)) == "0.123457"
    assert latex(sp.Float(1.5e-12)) == r"1.5 \cdot 10^{-12}"
    assert latex(sp.Float(0.123456789), float_digits=3) == "0.123"
    assert escape_text("e^z_1 & 50% {x}") == r"e\textasciicircum{}z\_1 \& 50\% \{x\}"


def test_every_invertible_activation_derivation_compiles(tmp_path):
    from strategies import INVERTIBLE_NAMES

    for name in INVERTIBLE_NAMES:
        unit = sr.analytic_inverse(sr.Sequential([sr.Dense([[0.8]], [0.1], name)])).derivation
        two = sr.analytic_inverse(sr.Sequential([sr.Dense(np.eye(2) * 0.8, [0.1, 0.2], name)])).derivation
        assert unit.symbolic_steps[-1].eq.lhs == sp.Symbol("x", real=True)
        for label, d in (("unit", unit), ("two", two)):
            _compile(d.save(tmp_path / f"{name}_{label}.tex"))


def test_log_sigmoid_derivation_uses_its_closed_form(tmp_path):
    # The activation added as one table entry: its LaTeX name and its closed-form
    # inverse z = y - log(1 - e^y) reach the derivation, which compiles.
    model = sr.Sequential([sr.Dense(np.array([[0.8, 0.1], [-0.2, 0.9]]), [0.1, -0.3], "tanh", name="h"),
                           sr.Dense(np.eye(2) * 0.7, [0.0, 0.2], "log_sigmoid", name="out")])
    inv = sr.analytic_inverse(model)
    d = inv.derivation
    text = d.to_latex()
    assert r"\log\sigma" in text
    steps = sr.activations.get("log_sigmoid").inverse_steps
    assert str(steps[-1].rhs) == "y - log(1 - exp(y))"
    x = np.array([[0.3, -0.2]])
    np.testing.assert_allclose(inv.evaluate_expr(model(x)), x, rtol=1e-10)
    _compile(d.save(tmp_path / "log_sigmoid.tex"))
