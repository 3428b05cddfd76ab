"""One recurrent step in SymPy: the expressions evaluate to the numeric step, and the LaTeX compiles."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symrecon.gates import step
from symrecon.recurrent import GRU, LSTM, SimpleRNN
from symrecon.symbolic.gates import step_derivation, step_expressions, step_symbols

from helpers import compile_latex

LAYERS = {
    "simple_rnn": lambda r: SimpleRNN(r.normal(size=(2, 3)), r.normal(size=(3, 3)), r.normal(size=3)),
    "lstm": lambda r: LSTM(r.normal(size=(2, 12)), r.normal(size=(3, 12)), r.normal(size=12)),
    "lstm_hard": lambda r: LSTM(r.normal(size=(2, 12)), r.normal(size=(3, 12)), r.normal(size=12),
                                recurrent_activation="hard_sigmoid"),
    "gru": lambda r: GRU(r.normal(size=(2, 9)), r.normal(size=(3, 9)), r.normal(size=(2, 9))),
    "gru_reset_before": lambda r: GRU(r.normal(size=(2, 9)), r.normal(size=(3, 9)), r.normal(size=9),
                                      reset_after=False),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_expressions_evaluate_to_the_numeric_step(name, rng):
    layer = LAYERS[name](rng)
    exprs = step_expressions(layer)
    x_s, h_s, c_s = step_symbols(layer)
    x, h, c = rng.normal(size=(5, 2)), rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    numeric = step(layer, x, h, c if c_s else None)
    assert set(exprs) == set(numeric)
    for key, expr in exprs.items():
        f = sp.lambdify(x_s + h_s + c_s, list(expr), modules="numpy")
        for row in range(5):
            args = [*x[row], *h[row], *(c[row] if c_s else [])]
            np.testing.assert_allclose(np.array(f(*args), dtype=float), numeric[key][row], rtol=1e-12, atol=1e-14)
    assert exprs["h"].free_symbols <= set(x_s + h_s + c_s)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_step_derivation_compiles(name, rng, tmp_path):
    layer = LAYERS[name](rng)
    deriv = step_derivation(layer)
    text = deriv.to_latex()
    assert r"\sigma" in text or r"\tanh" in text
    if isinstance(layer, LSTM):
        assert r"c_{t} &= f \circ c_{t-1} + i \circ \tilde{c}" in text
    if isinstance(layer, GRU):
        assert r"\tilde{h}" in text and ("b'_{h}" in text) == layer.reset_after
    compile_latex(deriv.save(tmp_path / f"{name}.tex"))
