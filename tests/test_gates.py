"""gate_values and step: the unrolled graph's gates replayed one step at a time, shapes and refusals."""

from __future__ import annotations

import numpy as np
import pytest

import symrecon as sr
from symrecon.errors import CapabilityError, InvalidParameterError, ShapeError
from symrecon.gates import GATES, gate_spec, step
from symrecon.recurrent import GRU, LSTM, SimpleRNN


def layers(rng, **kw):
    return [SimpleRNN(rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=3), **kw),
            LSTM(rng.normal(size=(2, 12)), rng.normal(size=(3, 12)), rng.normal(size=12), **kw),
            GRU(rng.normal(size=(2, 9)), rng.normal(size=(3, 9)), rng.normal(size=(2, 9)), **kw),
            GRU(rng.normal(size=(2, 9)), rng.normal(size=(3, 9)), rng.normal(size=9), reset_after=False, **kw)]


@pytest.mark.parametrize("backwards", [False, True])
def test_trace_replays_step_by_step_and_ends_at_the_layer_output(rng, backwards):
    x = rng.normal(size=(4, 6, 2))
    for layer in layers(rng, go_backwards=backwards):
        trace = sr.gate_values(layer, x)
        assert set(trace.gates) == {s.name for s in GATES[type(layer)]}
        h = np.zeros((4, 3))
        c = np.zeros((4, 3)) if isinstance(layer, LSTM) else None
        xs = x[:, ::-1] if backwards else x  # processing order, as Keras returns sequences
        for t in range(6):
            out = step(layer, xs[:, t], h, c)
            for name, values in trace.gates.items():
                np.testing.assert_allclose(values[:, t], out[name], rtol=1e-13, atol=1e-15)
            h, c = out["h"], out.get("c")
            np.testing.assert_allclose(trace.h[:, t], h, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(trace.h[:, -1], layer(x), rtol=1e-13, atol=1e-15)
        assert (trace.c is not None) == isinstance(layer, LSTM)
        assert not trace.h.flags.writeable


def test_lstm_state_update_holds_between_gates(rng):
    layer = layers(rng)[1]
    t = sr.gate_values(layer, rng.normal(size=(3, 5, 2)))
    g = t.gates
    c_prev = np.concatenate([np.zeros((3, 1, 3)), t.c[:, :-1]], axis=1)
    np.testing.assert_allclose(t.c, g["forget"] * c_prev + g["input"] * g["cell"], rtol=1e-13)
    np.testing.assert_allclose(t.h, g["output"] * np.tanh(t.c), rtol=1e-13)


def test_aliases_and_refusals(rng):
    lstm, gru = layers(rng)[1], layers(rng)[2]
    assert [gate_spec(lstm, a).name for a in "ifco"] == ["input", "forget", "cell", "output"]
    assert [gate_spec(gru, a).name for a in "zrh"] == ["update", "reset", "candidate"]
    with pytest.raises(InvalidParameterError, match="'gate'.*'update'"):
        gate_spec(gru, "forget")
    with pytest.raises(CapabilityError, match="'mask'"):
        sr.gate_values(lstm, np.zeros((1, 2, 2)), mask=np.ones((1, 2), bool))
    with pytest.raises(ShapeError, match=r"\(N, T, 2\)"):
        sr.gate_values(lstm, np.zeros((2, 2)))
    with pytest.raises(InvalidParameterError, match="SimpleRNN, LSTM or GRU"):
        sr.gate_values(sr.Dense([[1.0]]), np.zeros((1, 1, 1)))
    with pytest.raises(ShapeError, match="h_prev"):
        step(lstm, np.zeros(2), h_prev=np.zeros(2), c_prev=np.zeros(3))
    with pytest.raises(InvalidParameterError, match="c_prev"):
        step(lstm, np.zeros(2), h_prev=np.zeros(3))
