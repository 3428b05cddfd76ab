"""Scaled-down benchmark problems: the success fractions the README's benchmark table states hold.

Each problem of ``benchmarks/run.py`` is solved on its first 2 000 targets (the
same seeded targets the benchmark uses) and the fraction of targets brought to a
residual <= 1e-10 — computed here by a forward pass, and compared with
``res.success`` — must agree with the fraction the README states for
``symrecon newton`` (within the binomial sampling error of 2 000 targets).  The
README's "for one target or a million" is checked on a million targets of the
tanh problem through ``reconstruct``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import symrecon as sr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import TIGHT, make_layers, make_problem, residuals  # noqa: E402

N = 2000


def readme_fractions() -> dict[tuple[str, str], float]:
    """``(problem, method) -> fraction <= 1e-10`` from the README's benchmark table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- benchmark:start", 1)[1].split("<!-- benchmark:end -->", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ")]
    header = rows[0]
    col = header.index("best fraction <= 1e-10")
    out = {}
    for r in rows[1:]:
        if len(r) == len(header) and (m := re.match(r"([\d.]+) %", r[col])):
            out[(r[0], r[1])] = float(m.group(1)) / 100
    return out


def _tolerance(p: float, n: int = N) -> float:
    """Four binomial standard deviations (at least one target)."""
    return max(4 * np.sqrt(p * (1 - p) / n), 1.0 / n)


@pytest.mark.parametrize("problem", ["tanh", "sigmoid", "relu"])
def test_newton_success_fraction_matches_the_readme(problem):
    stated = readme_fractions()[(problem, "symrecon newton")]
    model, _, y = make_problem(problem, N)
    layers, _ = make_layers(problem)
    res = sr.reconstruct(model, y, method="newton", tol=TIGHT, progress=False)
    r = residuals(layers, res.x, y)
    measured = float(np.mean(r <= TIGHT))
    # success is the re-checked residual, and agrees with an independent forward pass
    np.testing.assert_array_equal(np.asarray(res.success), r <= TIGHT * (1 + 1e-6))
    assert abs(measured - stated) <= _tolerance(stated), (problem, measured, stated)
    if stated == 1.0:
        assert measured == 1.0


def test_tanh_closed_form_on_a_million_targets():
    stated = readme_fractions()[("tanh", "symrecon auto (closed form)")]
    assert stated == 1.0
    model, _, _ = make_problem("tanh", 10)
    layers, _ = make_layers("tanh")
    rng = np.random.default_rng(11)
    y = model(rng.normal(size=(1_000_000, 16)))
    res = sr.reconstruct(model, y, progress=False)
    assert set(np.unique(res.method)) == {"analytic"}
    assert bool(np.all(res.success))
    idx = rng.choice(len(y), 20_000, replace=False)
    assert np.max(residuals(layers, np.asarray(res.x)[idx], y[idx])) <= 1e-9


def test_readme_table_is_parsed():
    fr = readme_fractions()
    assert {("tanh", "symrecon newton"), ("sigmoid", "symrecon newton"), ("relu", "symrecon newton")} <= set(fr)
