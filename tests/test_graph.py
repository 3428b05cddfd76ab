"""The operation graph: node names, declared shapes, conversion of every layer, and the NumPy reference on it."""

from __future__ import annotations

import numpy as np
import pytest

import symrecon as sr
from symrecon.backends import numpy_ref
from symrecon.errors import InvalidValueError, ShapeError
from symrecon.graph import Affine, Elementwise, Graph, GraphBuilder, Mul, Slice, to_graph
from symrecon.layers import Softmax, ThresholdedReLU
from symrecon.recurrent import GRU, LSTM, SimpleRNN


def _dense_model(rng):
    return sr.Sequential([sr.Dense(rng.normal(size=(3, 4)), rng.normal(size=4), "tanh", name="dense_1"),
                          sr.Dense(rng.normal(size=(4, 2)), rng.normal(size=2), "sigmoid", name="dense_2")])


def _lstm_model(rng, return_sequences=False):
    lstm = LSTM(rng.normal(size=(2, 8)), rng.normal(size=(2, 8)), rng.normal(size=8),
                return_sequences=return_sequences, name="lstm")
    return sr.Sequential([lstm, sr.Dense(rng.normal(size=(2, 1)), name="head")])


def test_dense_chain_nodes_and_shapes(rng):
    g = _dense_model(rng).graph
    assert g.names == ("x", "dense_1/z", "dense_1/a", "dense_2/z", "dense_2/a")
    assert isinstance(g["dense_1/z"].op, Affine) and isinstance(g["dense_1/a"].op, Elementwise)
    assert g["dense_2/z"].inputs == ("dense_1/a",)
    assert (g.input_shape, g.output, g.output_shape, g.n_in, g.n_out) == ((3,), "dense_2/a", (2,), 3, 2)
    assert sr.Dense(np.eye(2), name="d").graph.names == ("x", "d/z", "d/a")


def test_duplicate_layer_names_get_distinct_scopes():
    m = sr.Sequential([sr.Dense(np.eye(2)), sr.Dense(np.eye(2))])
    assert m.graph.names == ("x", "dense/z", "dense/a", "dense_2/z", "dense_2/a")


def test_numpy_ref_is_the_forward_pass(rng):
    m = _dense_model(rng)
    x = rng.normal(size=(6, 3))
    expected = 1 / (1 + np.exp(-(np.tanh(x @ m.layers[0].kernel + m.layers[0].bias) @ m.layers[1].kernel
                                 + m.layers[1].bias)))
    np.testing.assert_allclose(numpy_ref.forward(m, x), expected, rtol=1e-14)
    np.testing.assert_allclose(m(x), expected, rtol=1e-14)
    values = numpy_ref.evaluate(m.graph, x)
    np.testing.assert_allclose(values["dense_1/z"], x @ m.layers[0].kernel + m.layers[0].bias, rtol=1e-15)


def _fd_jacobian(model, x, eps=1e-6):
    flat = x.reshape(x.shape[0], -1)
    cols = []
    for j in range(flat.shape[1]):
        d = np.zeros_like(flat)
        d[:, j] = eps
        up = numpy_ref.forward(model, (flat + d).reshape(x.shape)).reshape(x.shape[0], -1)
        down = numpy_ref.forward(model, (flat - d).reshape(x.shape)).reshape(x.shape[0], -1)
        cols.append((up - down) / (2 * eps))
    return np.stack(cols, axis=2)


@pytest.mark.parametrize("make", ["dense", "lstm", "lstm_seq", "gru_after", "gru_before", "rnn"])
def test_jacobian_and_gradient_match_finite_differences(rng, make):
    if make == "dense":
        model, x = _dense_model(rng), rng.normal(size=(4, 3))
    elif make.startswith("lstm"):
        model, x = _lstm_model(rng, make == "lstm_seq"), rng.normal(size=(3, 4, 2))
    elif make.startswith("gru"):
        after = make == "gru_after"
        bias = rng.normal(size=(2, 6)) if after else rng.normal(size=6)
        model = sr.Sequential([GRU(rng.normal(size=(2, 6)), rng.normal(size=(2, 6)), bias, reset_after=after,
                                   go_backwards=True)])
        x = rng.normal(size=(3, 4, 2))
    else:
        model = sr.Sequential([SimpleRNN(rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=3),
                                         return_sequences=True), sr.Dense(rng.normal(size=(3, 2)), name="head")])
        x = rng.normal(size=(2, 5, 2))
    out, jac = numpy_ref.jacobian(model, x)
    np.testing.assert_allclose(out.reshape(numpy_ref.forward(model, x).shape), model(x), rtol=1e-14)
    np.testing.assert_allclose(jac, _fd_jacobian(model, x), rtol=1e-5, atol=1e-7)
    y = rng.normal(size=model(x).shape)
    cost, grad = numpy_ref.gradient(model, x, y)
    r = out - y.reshape(out.shape)
    np.testing.assert_allclose(cost, np.sum(r * r, axis=1), rtol=1e-14)
    np.testing.assert_allclose(grad.reshape(jac.shape[0], -1), 2 * np.einsum("nij,ni->nj", jac, r), rtol=1e-9,
                               atol=1e-12)
    assert grad.shape == x.shape


def test_lstm_unrolls_with_every_gate_a_node(rng):
    model = _lstm_model(rng)
    g = model.to_graph(4)
    assert g.input_shape == (4, 2) and g.is_sequence
    for t in range(4):
        for gate in ("i", "f", "g", "o", "c", "h"):
            assert f"lstm/t{t}/{gate}" in g
    assert isinstance(g["lstm/t3/f"].op, Elementwise) and g["lstm/t3/f"].op.activation.name == "sigmoid"
    assert isinstance(g["lstm/t3/zf"].op, Slice) and isinstance(g["lstm/t3/h"].op, Mul)
    assert g["lstm/t3/fc"].inputs == ("lstm/t3/f", "lstm/t2/c")
    assert g.output == "head/a" and g["head/z"].inputs == ("lstm/t3/h",)
    # The forget gate's value is there to be read (the question "what closes the forget gate?").
    x = rng.normal(size=(5, 4, 2))
    f = numpy_ref.evaluate(g, x)["lstm/t3/f"]
    assert f.shape == (5, 2) and np.all((f > 0) & (f < 1))


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_are_nodes(rng, reset_after):
    bias = rng.normal(size=(2, 6)) if reset_after else rng.normal(size=6)
    g = GRU(rng.normal(size=(1, 6)), rng.normal(size=(2, 6)), bias, reset_after=reset_after, name="gru").to_graph(3)
    for gate in ("z", "r", "cand", "h"):
        assert f"gru/t2/{gate}" in g
    assert g.output == "gru/t2/h"


def test_dense_after_a_returned_sequence_applies_per_step(rng):
    model = _lstm_model(rng, return_sequences=True)
    g = model.to_graph(3)
    assert "head/t2/z" in g and g.output == "output" and g.output_shape == (3, 1)
    x = rng.normal(size=(2, 3, 2))
    y = model(x)
    assert y.shape == (2, 3, 1)
    np.testing.assert_allclose(y, model.layers[1].forward(model.layers[0](x)), rtol=1e-14)


def test_softmax_and_thresholded_relu_layers_convert(rng):
    model = sr.Sequential([sr.Dense(rng.normal(size=(3, 3)), name="d"), ThresholdedReLU(3, 1.0, 0.1, 0.2, name="t"),
                           Softmax(3, name="s")])
    g = model.graph
    assert g.names[-2:] == ("t/a", "s/a")
    x = rng.normal(size=(4, 3))
    z = x @ model.layers[0].kernel
    pos = np.clip(np.where(z > 0.2, z, 0.0), 0.0, 1.0) - 0.1 * np.maximum(0.2 - z, 0.0)
    e = np.exp(pos)
    np.testing.assert_allclose(model(x), e / e.sum(axis=1, keepdims=True), rtol=1e-14)


def test_shapes_are_never_guessed(rng):
    dense = sr.Sequential([sr.Dense(np.ones((1, 1)))])
    assert dense(np.ones((3, 1))).shape == (3, 1)          # three targets
    lstm = sr.Sequential([LSTM(rng.normal(size=(1, 4)), rng.normal(size=(1, 4)))])
    with pytest.raises(ShapeError, match=r"\(N, T, 1\).*batch axis"):
        lstm(np.ones((3, 1)))                               # not one sequence of three steps
    assert lstm(np.ones((1, 3, 1))).shape == (1, 1)
    with pytest.raises(ShapeError, match="timesteps"):
        lstm.graph
    with pytest.raises(ShapeError, match="not sequences"):
        to_graph(dense, timesteps=3)
    with pytest.raises(ShapeError, match=r"\(N, 3, 1\).*batch axis"):
        numpy_ref.forward(lstm.to_graph(3), np.ones((3, 1)))
    with pytest.raises(ShapeError, match="needs a sequence"):
        sr.Sequential([sr.Dense(np.ones((1, 1))), LSTM(np.ones((1, 4)), np.ones((1, 4)))]).graph


def test_builder_checks_names_and_widths():
    b = GraphBuilder((2,))
    b.add("a", Affine(np.ones((2, 3))), ["x"])
    with pytest.raises(InvalidValueError, match="twice"):
        b.add("a", Affine(np.ones((3, 1))), ["a"])
    with pytest.raises(InvalidValueError, match="undefined"):
        b.add("c", Affine(np.ones((3, 1))), ["nope"])
    with pytest.raises(ShapeError, match="node 'c'"):
        b.add("c", Affine(np.ones((2, 1))), ["a"])
    g = b.finish(b.single("a"))
    assert isinstance(g, Graph) and to_graph(g) is g and len(g) == 2


def test_duck_typed_models_still_evaluate(rng):
    # numpy_ref accepts anything with .layers of kernel/bias/activation (the kernels' packed models do).
    class Layer:
        def __init__(self, k, b, act):
            self.kernel, self.bias, self.activation, self.name = k, b, sr.activations.get(act), None

    class Model:
        layers = (Layer(np.eye(2), np.zeros(2), "tanh"), Layer(np.ones((2, 1)), np.ones(1), "linear"))

    x = rng.normal(size=(3, 2))
    np.testing.assert_allclose(numpy_ref.forward(Model(), x), np.tanh(x).sum(axis=1, keepdims=True) + 1, rtol=1e-14)


def test_layer_values_reads_the_graph(rng):
    m = _dense_model(rng)
    x = rng.normal(size=(3, 3))
    (l1, a1, d1), (l2, a2, d2) = numpy_ref.layer_values(m, x)
    assert (l1, l2) == m.layers
    z1 = x @ m.layers[0].kernel + m.layers[0].bias
    np.testing.assert_allclose(a1, np.tanh(z1), rtol=1e-15)
    np.testing.assert_allclose(d1, 1 - np.tanh(z1) ** 2, rtol=1e-14)
    np.testing.assert_allclose(a2, m(x), rtol=1e-15)
    with pytest.raises(TypeError, match="chain of dense layers"):
        list(numpy_ref.layer_values(_lstm_model(rng), rng.normal(size=(1, 2, 2))))


def test_ops_pickle_frozen_and_models_drop_their_graph_cache(rng):
    import pickle

    op = pickle.loads(pickle.dumps(Affine(np.eye(2), [1.0, 2.0])))
    assert not op.W.flags.writeable and not op.b.flags.writeable
    lstm = LSTM(rng.normal(size=(1, 4)), rng.normal(size=(1, 4)))
    lstm.to_graph(3)
    assert "_graphs" not in lstm.__getstate__() and "_ops" not in lstm.__getstate__()
    g = lstm.to_graph(3)
    assert g["lstm/t0/xproj"].op is g["lstm/t2/xproj"].op   # weights shared across steps, not copied
    m = _dense_model(rng)
    m.graph
    assert "_graphs" not in m.__getstate__() and "_graph" not in m.layers[0].__getstate__()


@pytest.mark.parametrize("kind", ["dense", "lstm", "gru"])
def test_graph_bounds_contain_every_sampled_value(rng, kind):
    if kind == "dense":
        model = sr.Sequential([sr.Dense(rng.normal(size=(2, 3)), rng.normal(size=3), "silu", name="d1"),
                               sr.Dense(rng.normal(size=(3, 2)), activation="tanh", name="d2"), Softmax(2, name="s")])
        lo = rng.normal(size=(1, 2))
    else:
        cls, k = (LSTM, 4) if kind == "lstm" else (GRU, 3)
        model = sr.Sequential([cls(rng.normal(size=(2, 2 * k)), rng.normal(size=(2, 2 * k)), return_sequences=True),
                               sr.Dense(rng.normal(size=(2, 1)), name="head")])
        lo = rng.normal(size=(1, 3, 2))
    hi = lo + rng.uniform(0, 1, size=lo.shape)
    box = numpy_ref.bounds(model, lo, hi)
    samples = lo + (hi - lo) * rng.uniform(size=(500,) + lo.shape[1:])
    values = numpy_ref.evaluate(numpy_ref.graph_of(model, samples), samples)
    for name, v in values.items():
        assert np.all(v >= box[name][0] - 1e-12) and np.all(v <= box[name][1] + 1e-12), name
    with pytest.raises(ValueError, match="lower <= upper"):
        numpy_ref.bounds(model, hi, lo)
