"""forward_graph: SymPy forward pass agrees with the numeric model; compact LaTeX."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import inputs_for, invertible_networks

import symrecon as sr
from symrecon.errors import InvalidValueError, UnsupportedLayerError


def _evaluate(graph, expr, x):
    # Row by row through mpmath: its printer writes Piecewise as Python's conditional
    # expression, which also works when SymPy has folded a condition to a constant
    # (numpy's select() refuses a plain bool condition).
    fn = sp.lambdify(list(graph.inputs), list(expr), modules="mpmath")
    return np.array([[float(v) for v in fn(*(float(t) for t in row))] for row in x])


def _layer_values(model, x):
    zs, out = [], x
    for layer in model.layers:
        z = layer.pre_activation(out)
        zs.append(z)
        out = layer.activation.numpy(z)
    return zs


@settings(max_examples=25)
@given(invertible_networks(max_depth=3, max_width=3), st.data())
def test_numeric_graph_agrees_with_the_model(model, data):
    x = data.draw(inputs_for(model, n_rows=3))
    g = sr.forward_graph(model)
    np.testing.assert_allclose(_evaluate(g, g.output, x), model(x), rtol=1e-10, atol=1e-12)
    for l, z in enumerate(_layer_values(model, x), 1):
        np.testing.assert_allclose(_evaluate(g, g.pre_activation(l), x), z, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", ["relu", "gelu", "silu", "hard_sigmoid", "relu6", "softsign"])
def test_graph_of_non_invertible_activations(act):
    rng = np.random.default_rng(2)
    model = sr.Sequential([sr.Dense(rng.normal(size=(2, 3)), rng.normal(size=3), act),
                           sr.Dense(rng.normal(size=(3, 1)), activation="linear")])
    x = rng.normal(size=(6, 2))
    g = sr.forward_graph(model)
    assert g.output.shape == (1, 1)
    np.testing.assert_allclose(_evaluate(g, g.output, x), model(x), rtol=1e-10, atol=1e-12)


def test_layers_are_per_layer_equations_in_the_previous_variables():
    model = sr.Sequential([sr.Dense(np.eye(2), [0.0, 1.0], "tanh"), sr.Dense([[2.0], [3.0]], [0.5])])
    g = sr.forward_graph(model)
    assert g.layers[0].z.free_symbols == set(g.inputs)
    second = g.layers[1].z.free_symbols
    assert second and second.isdisjoint(g.inputs)                # compact: not in x
    assert g.output.free_symbols == set(g.inputs)                 # composed on request
    assert str(g.output[0]) == "2*tanh(x_0) + 3*tanh(x_1 + 1) + 0.5"


def test_symbolic_graph_keeps_matrix_symbols():
    model = sr.Sequential([sr.Dense(np.eye(2), activation="tanh"), sr.Dense(np.ones((2, 1)))])
    g = sr.forward_graph(model, numeric=False)
    W1, b1 = g.layers[0].W, g.layers[0].b
    assert isinstance(W1, sp.MatrixSymbol) and W1.shape == (2, 2) and b1.shape == (1, 2)
    assert str(g.layers[0].z) == "x*W1 + b1" or str(g.layers[0].z) == "b1 + x*W1"
    # substituting the trained numbers into the symbolic form gives the numeric model
    subs = {}
    for lg, layer in zip(g.layers, model.layers):
        subs[lg.W] = sp.ImmutableMatrix(layer.kernel)
        subs[lg.b] = sp.ImmutableMatrix(layer.bias[None, :])
    x_sym = g.layers[0].inputs
    explicit = g.output.as_explicit().subs(subs).doit()
    x = np.array([0.3, -0.7])
    value = float(explicit.subs({x_sym: sp.ImmutableMatrix([x.tolist()])}).doit()[0, 0])
    assert value == pytest.approx(float(model(x)[0]), rel=1e-12)


def test_latex_is_compact_for_wide_layers():
    rng = np.random.default_rng(0)
    model = sr.Sequential([sr.Dense(rng.normal(size=(64, 64)), activation="tanh"),
                           sr.Dense(rng.normal(size=(64, 2)))])
    g = sr.forward_graph(model)
    text = g.latex()
    assert text.startswith("\\begin{align*}") and text.endswith("\\end{align*}")
    assert len(text) < 1500 and r"\mathbb{R}^{64 \times 64}" in text
    assert text.count("\\\\") == 3  # four equations: z, a per layer


def test_latex_small_numeric_layer_shows_the_numbers():
    g = sr.forward_graph(sr.Sequential([sr.Dense([[0.5]], [-1.0], "sigmoid")]))
    text = g.latex()
    assert r"0.5 x_{0} - 1" in text and r"y &= \sigma\left(z^{(1)}\right)" in text
    assert g._repr_latex_().startswith("$$\\begin{aligned}")


def test_graph_errors():
    from symrecon.layers import Softmax

    with pytest.raises(UnsupportedLayerError, match="Softmax"):
        sr.forward_graph(sr.Sequential([sr.Dense(np.eye(2)), Softmax(2)]))
    with pytest.raises(TypeError):
        sr.forward_graph([[1.0]])
    g = sr.forward_graph(sr.Dense([[1.0]]))
    with pytest.raises(InvalidValueError, match="1..1"):
        g.activation(2)


@pytest.mark.parametrize("kind", ["lstm", "gru_after", "gru_before", "softmax_relu"])
def test_graph_expressions_of_any_graph_match_numpy_ref(rng, kind):
    # One SymPy builder: the same per-op forms give recurrent cells and softmax layers too.
    from symrecon.backends import numpy_ref
    from symrecon.layers import Softmax, ThresholdedReLU
    from symrecon.recurrent import GRU, LSTM
    from symrecon.symbolic.graph import graph_expressions

    if kind == "lstm":
        model, x = sr.Sequential([LSTM(rng.normal(size=(1, 4)), rng.normal(size=(1, 4)), rng.normal(size=4))]), \
            rng.normal(size=(1, 2, 1))
    elif kind.startswith("gru"):
        after = kind == "gru_after"
        bias = rng.normal(size=(2, 3)) if after else rng.normal(size=3)
        model = sr.Sequential([GRU(rng.normal(size=(1, 3)), rng.normal(size=(1, 3)), bias, reset_after=after)])
        x = rng.normal(size=(1, 2, 1))
    else:
        model = sr.Sequential([sr.Dense(rng.normal(size=(2, 2))), ThresholdedReLU(2, None, 0.3, 0.1), Softmax(2)])
        x = rng.normal(size=(1, 2))
    graph = numpy_ref.graph_of(model, x)
    exprs = graph_expressions(graph)
    subs = dict(zip(exprs["x"], x.ravel()))
    got = np.array(exprs[graph.output].xreplace(subs).evalf(30), dtype=np.float64)
    np.testing.assert_allclose(got, numpy_ref.forward(graph, x).reshape(1, -1), rtol=1e-12)
