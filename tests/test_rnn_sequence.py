"""reconstruct(model, y, steps=T) for models that start with a recurrent layer.

The numba BPTT kernel is checked against its NumPy twins (forward-mode
Jacobians of the unrolled graph; the NumPy Gauss-Newton loop), and every
reconstruction is re-checked by a forward pass: model(x) reproduces y.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symrecon as sr
from symrecon.backends import numpy_ref
from symrecon.backends.numba.bptt import jacobian_batch
from symrecon.errors import CapabilityError, InfeasibleTargetError, InvalidParameterError, ShapeError
from symrecon.recurrent import GRU, LSTM, SimpleRNN
from symrecon.rnn_inverse import pack_sequence_model

CELLS = {
    "simple_rnn": lambda r, n, u, **k: SimpleRNN(r.normal(size=(n, u)), 0.5 * r.normal(size=(u, u)), r.normal(size=u), **k),
    "lstm": lambda r, n, u, **k: LSTM(r.normal(size=(n, 4 * u)), r.normal(size=(u, 4 * u)), r.normal(size=4 * u), **k),
    "lstm_hard": lambda r, n, u, **k: LSTM(r.normal(size=(n, 4 * u)), r.normal(size=(u, 4 * u)), None,
                                           recurrent_activation="hard_sigmoid", **k),
    "gru": lambda r, n, u, **k: GRU(r.normal(size=(n, 3 * u)), r.normal(size=(u, 3 * u)), r.normal(size=(2, 3 * u)), **k),
    "gru_reset_before": lambda r, n, u, **k: GRU(r.normal(size=(n, 3 * u)), r.normal(size=(u, 3 * u)),
                                                 r.normal(size=3 * u), reset_after=False, **k),
}


def model_of(name, rng, n=3, u=4, head=True, **kw):
    layers = [CELLS[name](rng, n, u, **kw)]
    if head:
        layers += [sr.Dense(rng.normal(size=(u, 3)), rng.normal(size=3), "tanh"), sr.Dense(rng.normal(size=(3, 2)))]
    return sr.Sequential(layers)


@pytest.mark.parametrize("name", sorted(CELLS))
@given(seed=st.integers(0, 2**32 - 1), backwards=st.booleans())
@settings(max_examples=15)
def test_bptt_jacobian_matches_the_forward_mode_twin(name, seed, backwards):
    rng = np.random.default_rng(seed)
    model = model_of(name, rng, go_backwards=backwards)
    x = rng.normal(size=(4, 5, 3))
    out_ref, jac_ref = numpy_ref.jacobian(model, x)
    xs = x[:, ::-1] if backwards else x  # the kernel reads processing order
    cell, meta, par, head, dims, codes = pack_sequence_model(model)
    zeros = np.zeros((4, 4))
    out, jac = jacobian_batch(np.ascontiguousarray(xs.reshape(4, -1)), zeros, zeros, cell, meta, par, head, dims, codes)
    if backwards:
        jac = jac.reshape(4, 2, 5, 3)[:, :, ::-1].reshape(4, 2, 15)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jac, jac_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_sequences_reproduce_their_targets_and_the_twin_agrees(name, rng):
    model = model_of(name, rng, go_backwards=name == "lstm")
    y = model(rng.normal(size=(30, 6, 3)))
    fast = sr.reconstruct(model, y, steps=6)
    slow = sr.reconstruct(model, y, steps=6, backend="numpy")
    assert fast.x.shape == (30, 6, 3) and set(fast.method) == {"newton"} and set(slow.method) == {"newton-numpy"}
    assert fast.success.mean() >= 0.95, fast.message
    np.testing.assert_allclose(model(fast.x[fast.success]), y[fast.success], atol=1e-9)
    same = fast.success & slow.success
    assert same.mean() >= 0.9
    np.testing.assert_allclose(fast.x[same], slow.x[same], atol=1e-7)  # the same iterations, up to rounding


def test_single_target_and_models_the_kernel_does_not_cover(rng):
    model = model_of("gru", rng)
    y = model(rng.normal(size=(1, 4, 3)))[0]
    res = sr.reconstruct(model, y, steps=4)
    assert res.x.shape == (4, 3) and res.success and res.method == "newton"
    stacked = sr.Sequential([CELLS["lstm"](rng, 2, 3, return_sequences=True), CELLS["gru"](rng, 3, 2),
                             sr.Dense(rng.normal(size=(2, 1)))])
    y = stacked(rng.normal(size=(5, 3, 2)))
    res = sr.reconstruct(stacked, y, steps=3)
    assert set(res.method) == {"newton-numpy"} and res.success.all()
    np.testing.assert_allclose(stacked(res.x), y, atol=1e-9)


@pytest.mark.parametrize("stem", ["rnn_lstm", "rnn_simple_rnn"])
def test_keras_fixtures_stacked_recurrent_layers(stem):
    data = Path(__file__).parent / "data" / "keras"
    model = sr.load_keras(data / f"{stem}.keras")
    x = np.load(data / f"{stem}.npz")["x"]
    y = model(x)
    res = sr.reconstruct(model, y, steps=x.shape[1])
    assert res.success.all(), res.message
    np.testing.assert_allclose(model(res.x), y, atol=1e-9)


@pytest.mark.parametrize("regularizer", ["smallness", "smoothness"])
def test_regulariser_chooses_a_smaller_or_smoother_sequence(regularizer, rng):
    model = model_of("lstm", rng, n=2, u=3)
    y = model(rng.normal(size=(20, 8, 2)))
    plain = sr.reconstruct(model, y, steps=8, x0=rng.normal(size=(8, 2)))
    reg = sr.reconstruct(model, y, steps=8, x0=rng.normal(size=(8, 2)), regularizer=regularizer, reg_weight=1e-2)
    both = plain.success & reg.success
    assert both.mean() >= 0.8
    size = {"smallness": lambda x: np.sum(x ** 2, axis=(1, 2)),
            "smoothness": lambda x: np.sum(np.diff(x, axis=1) ** 2, axis=(1, 2))}[regularizer]
    assert np.median(size(reg.x[both]) / size(plain.x[both])) < 0.5
    assert reg.stats["regularizer"] == regularizer


@pytest.mark.parametrize("kwargs, error, match", [
    ({}, InvalidParameterError, "'steps'"),
    ({"steps": 0}, InvalidParameterError, "'steps'"),
    ({"steps": 3, "method": "gd"}, CapabilityError, "newton"),
    ({"steps": 3, "bounds": (-1, 1)}, CapabilityError, "bounds"),
    ({"steps": 3, "regularizer": "tv"}, InvalidParameterError, "'regularizer'"),
    ({"steps": 3, "regularizer": "smoothness", "reg_weight": -1.0}, InvalidParameterError, "reg_weight"),
    ({"steps": 3, "x0": np.zeros((4, 3))}, ShapeError, "x0"),
    ({"steps": 3, "learning_rate": 0.1}, InvalidParameterError, "learning_rate"),
    ({"steps": 3, "backend": "cuda"}, InvalidParameterError, "'backend'"),
])
def test_bad_input_is_refused_by_name(kwargs, error, match, rng):
    model = model_of("lstm", rng)
    with pytest.raises(error, match=match):
        sr.reconstruct(model, np.zeros(2), **kwargs)


def test_infeasible_target_before_any_iteration(rng):
    model = sr.Sequential([CELLS["lstm"](rng, 2, 3), sr.Dense(rng.normal(size=(3, 1)), activation="sigmoid")])
    with pytest.raises(InfeasibleTargetError):
        sr.reconstruct(model, [1.5], steps=3)
