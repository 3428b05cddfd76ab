"""Recurrent layers: forward passes against scalar reference loops and shape rules.

The references below are written unit by unit with Python floats (no matrix
products, no gate slicing), so they check the gate order and the bias layout
independently of the vectorised implementation.  Agreement with real Keras is
tested on the fixtures (tests/test_keras_fixtures.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import symrecon as sr
from symrecon.errors import ShapeError
from symrecon.recurrent import GRU, LSTM, SimpleRNN


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def col(K, gate, j, u):
    """Column of unit ``j`` in gate block ``gate``."""
    return K[:, gate * u + j]


def ref_lstm(x, K, R, b, u):
    h, c = [0.0] * u, [0.0] * u
    for xt in x:
        z = [[sum(xt[i] * col(K, g, j, u)[i] for i in range(len(xt)))
              + sum(h[k] * col(R, g, j, u)[k] for k in range(u)) + b[g * u + j] for j in range(u)] for g in range(4)]
        c = [sig(z[1][j]) * c[j] + sig(z[0][j]) * math.tanh(z[2][j]) for j in range(u)]
        h = [sig(z[3][j]) * math.tanh(c[j]) for j in range(u)]
    return np.array(h)


def ref_gru(x, K, R, b, u, reset_after):
    h = [0.0] * u
    for xt in x:
        def xin(g, j, xt=xt):
            return sum(xt[i] * col(K, g, j, u)[i] for i in range(len(xt)))

        def rec(g, j, state):
            return sum(state[k] * col(R, g, j, u)[k] for k in range(u))

        if reset_after:
            z = [sig(xin(0, j) + b[0][j] + rec(0, j, h) + b[1][j]) for j in range(u)]
            r = [sig(xin(1, j) + b[0][u + j] + rec(1, j, h) + b[1][u + j]) for j in range(u)]
            cand = [math.tanh(xin(2, j) + b[0][2 * u + j] + r[j] * (rec(2, j, h) + b[1][2 * u + j])) for j in range(u)]
        else:
            z = [sig(xin(0, j) + b[j] + rec(0, j, h)) for j in range(u)]
            r = [sig(xin(1, j) + b[u + j] + rec(1, j, h)) for j in range(u)]
            rh = [r[k] * h[k] for k in range(u)]
            cand = [math.tanh(xin(2, j) + b[2 * u + j] + rec(2, j, rh)) for j in range(u)]
        h = [z[j] * h[j] + (1 - z[j]) * cand[j] for j in range(u)]
    return np.array(h)


def test_simple_rnn_matches_loop(rng):
    K, R, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)
    x = rng.normal(size=(5, 2))
    h = np.zeros(3)
    for xt in x:
        h = np.tanh(xt @ K + h @ R + b)
    np.testing.assert_allclose(SimpleRNN(K, R, b)(x[None])[0], h, rtol=1e-14)


def test_lstm_gate_order(rng):
    u = 2
    K, R, b = rng.normal(size=(3, 4 * u)), rng.normal(size=(u, 4 * u)), rng.normal(size=4 * u)
    x = rng.normal(size=(4, 3))
    np.testing.assert_allclose(LSTM(K, R, b)(x[None])[0], ref_lstm(x, K, R, b, u), rtol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_both_bias_modes(rng, reset_after):
    u = 3
    K, R = rng.normal(size=(2, 3 * u)), rng.normal(size=(u, 3 * u))
    b = rng.normal(size=(2, 3 * u)) if reset_after else rng.normal(size=3 * u)
    x = rng.normal(size=(5, 2))
    got = GRU(K, R, b, reset_after=reset_after)(x[None])[0]
    np.testing.assert_allclose(got, ref_gru(x, K, R, b, u, reset_after), rtol=1e-12)


def test_gru_modes_differ():
    # Same weights, different placement of the reset gate: different outputs.
    rng = np.random.default_rng(1)
    K, R = rng.normal(size=(1, 6)), rng.normal(size=(2, 6))
    x = rng.normal(size=(3, 1))
    a = GRU(K, R, None, reset_after=True)(x[None])
    b = GRU(K, R, None, reset_after=False)(x[None])
    assert not np.allclose(a, b)


@pytest.mark.parametrize("cls, gates", [(SimpleRNN, 1), (LSTM, 4), (GRU, 3)])
def test_batches_sequences_and_direction(rng, cls, gates):
    K, R = rng.normal(size=(2, 2 * gates)), rng.normal(size=(2, 2 * gates))
    xs = rng.normal(size=(3, 5, 2))
    last = cls(K, R)(xs)
    assert last.shape == (3, 2)
    seq = cls(K, R, return_sequences=True)(xs)
    assert seq.shape == (3, 5, 2)
    np.testing.assert_allclose(seq[:, -1], last, rtol=1e-14)
    for n in range(3):
        np.testing.assert_allclose(cls(K, R)(xs[n:n + 1])[0], last[n], rtol=1e-14)
        # Shapes are never guessed: one sequence (T, n) needs its batch axis.
        with pytest.raises(ShapeError, match=r"batch axis"):
            cls(K, R)(xs[n])
    # go_backwards reads time reversed and returns the sequence in processing order.
    back = cls(K, R, return_sequences=True, go_backwards=True)(xs)
    np.testing.assert_allclose(back, cls(K, R, return_sequences=True)(xs[:, ::-1]), rtol=1e-14)


def test_in_a_sequential_model(rng):
    lstm = LSTM(rng.normal(size=(2, 8)), rng.normal(size=(2, 8)), rng.normal(size=8))
    head = sr.Dense(rng.normal(size=(2, 1)))
    model = sr.Sequential([lstm, head])
    x = rng.normal(size=(4, 6, 2))
    np.testing.assert_allclose(model(x), head.forward(lstm(x)), rtol=1e-14)
    assert (model.n_in, model.n_out) == (2, 1)


def test_shape_errors():
    with pytest.raises(ShapeError, match="4\\*units"):
        LSTM(np.ones((2, 6)), np.ones((2, 6)))
    with pytest.raises(ShapeError, match="recurrent_kernel"):
        GRU(np.ones((2, 6)), np.ones((3, 6)))
    with pytest.raises(ShapeError, match=r"\(2, 6\)"):
        GRU(np.ones((2, 6)), np.ones((2, 6)), np.ones(6), reset_after=True)
    rnn = SimpleRNN(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ShapeError, match=r"\(N, T, 2\)"):
        rnn(np.ones((1, 4, 3)))
    with pytest.raises(ShapeError, match=r"\(N, T, 2\).*batch axis"):
        rnn(np.ones((4, 2)))
    with pytest.raises(ShapeError):
        rnn(np.ones(2))


def test_activations_are_configurable(rng):
    K, R = rng.normal(size=(1, 4)), rng.normal(size=(1, 4))
    x = rng.normal(size=(3, 1))
    a = LSTM(K, R, recurrent_activation="hard_sigmoid")(x[None])
    b = LSTM(K, R, recurrent_activation="hard_sigmoid_keras2")(x[None])
    assert not np.allclose(a, b)
    assert LSTM(K, R, activation="linear").activation.name == "linear"
