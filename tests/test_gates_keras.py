"""Per-step gate values, h and c against live Keras on the recurrent fixtures (tests/data/keras/rnn_*).

Keras runs its own cells (``layer.cell(x_t, states)``) step by step, in
processing order (reversed input for ``go_backwards``), for h and c; the gate
values come from Keras's activation functions applied to Keras's matrix
products of the cell's own weights, and the forget gate a second way, from
the cell alone: ``c_t(c_{t-1}=1) - c_t(c_{t-1}=0) = f``.  Tolerance as in
tests/test_keras_fixtures.py: Keras computes in float32, so errors are
measured relative to each unit's largest magnitude, ``<= 1e-6``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from helpers import import_keras_or_skip  # noqa: E402

keras = import_keras_or_skip()  # in CI a missing Keras is an error, never a silent pass

import symrecon as sr

DATA = Path(__file__).parent / "data" / "keras"
RTOL = 1e-6
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def scaled_error(ours, ref):
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.max(np.abs(ref).reshape(-1, ref.shape[-1]), axis=0)
    return float(np.max(np.abs(ours - ref) / np.maximum(scale, 1e-30)))


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t), dtype=np.float64)


def keras_trace(layer, x):
    """Keras's per-step gates, h and c of one recurrent layer, in processing order."""
    cell, u = layer.cell, layer.cell.units
    xs = x[:, ::-1] if layer.go_backwards else x
    kind = type(cell).__name__
    h = np.zeros((x.shape[0], u), dtype="float32")
    c = np.zeros_like(h)
    rows = {}
    for t in range(x.shape[1]):
        xt = xs[:, t].astype("float32")
        zx = keras.ops.matmul(xt, cell.kernel)
        zh = keras.ops.matmul(h, cell.recurrent_kernel)
        bias = keras.ops.convert_to_tensor(cell.bias) if cell.use_bias else keras.ops.zeros((cell.kernel.shape[1],))
        gates = {}
        if kind == "LSTMCell":
            z = zx + zh + bias
            ra, act = cell.recurrent_activation, cell.activation
            gates = {"input": ra(z[:, :u]), "forget": ra(z[:, u:2 * u]), "cell": act(z[:, 2 * u:3 * u]),
                     "output": ra(z[:, 3 * u:])}
            _, (h_new, c_new) = cell(xt, [h, c])
            c_one, c_zero = (cell(xt, [h, fill(c)])[1][1] for fill in (np.ones_like, np.zeros_like))
            gates["forget (from c)"] = _np(c_one) - _np(c_zero)
        elif kind == "GRUCell":
            ra, act = cell.recurrent_activation, cell.activation
            b_in, b_rec = (bias[0], bias[1]) if cell.reset_after else (bias, keras.ops.zeros_like(bias))
            zx, zh = zx + b_in, zh + b_rec
            gates["update"] = ra(zx[:, :u] + zh[:, :u])
            gates["reset"] = r = ra(zx[:, u:2 * u] + zh[:, u:2 * u])
            rec = r * zh[:, 2 * u:] if cell.reset_after else keras.ops.matmul(r * keras.ops.convert_to_tensor(h),
                                                                      keras.ops.convert_to_tensor(cell.recurrent_kernel)[:, 2 * u:])
            gates["candidate"] = act(zx[:, 2 * u:] + rec)
            _, states = cell(xt, [h])
            h_new, c_new = states[0], None
        else:
            out, states = cell(xt, [h])
            h_new, c_new = states[0], None
            gates["hidden"] = out
        for name, value in gates.items():
            rows.setdefault(name, []).append(_np(value))
        rows.setdefault("h", []).append(_np(h_new))
        h = _np(h_new).astype("float32")
        if c_new is not None:
            rows.setdefault("c", []).append(_np(c_new))
            c = _np(c_new).astype("float32")
    return {name: np.stack(v, axis=1) for name, v in rows.items()}


@pytest.mark.parametrize("stem", ["rnn_simple_rnn", "rnn_lstm", "rnn_gru"])
def test_gate_values_match_keras_per_step(stem):
    model = keras.saving.load_model(DATA / f"{stem}.keras")
    ours = sr.load_keras(DATA / f"{stem}.keras")
    x = np.load(DATA / f"{stem}.npz")["x"].astype("float32")
    checked = 0
    for k_layer, o_layer in zip(model.layers, ours.layers):
        if not hasattr(k_layer, "cell"):
            break
        ref = keras_trace(k_layer, x)
        trace = sr.gate_values(o_layer, x.astype(np.float64))
        for name, value in trace.gates.items():
            assert scaled_error(value, ref[name]) <= RTOL, (stem, k_layer.name, name)
            checked += 1
        assert scaled_error(trace.h, ref["h"]) <= RTOL
        if trace.c is not None:
            assert scaled_error(trace.c, ref["c"]) <= RTOL
            assert scaled_error(trace.gates["forget"], ref["forget (from c)"]) <= RTOL
        # the next layer reads this layer's sequence as Keras returns it (processing order)
        x = ref["h"].astype("float32")
    assert checked >= 2


def test_training_script_runs_and_its_file_loads(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "lstm.keras"
    script = Path(__file__).parent / "train_lstm_forget_gate.py"
    proc = subprocess.run([sys.executable, str(script), "--out", str(out), "--epochs", "1", "--n", "200"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "KERAS_BACKEND": "torch"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "training loss" in proc.stdout
    model = sr.load_keras(out)
    assert isinstance(model.layers[0], sr.LSTM) and model.layers[0].units == 4
    x = np.random.default_rng(0).normal(size=(3, 12, 2))
    ref = np.asarray(keras.saving.load_model(out).predict(x.astype("float32"), verbose=0))
    assert scaled_error(model(x), ref) <= RTOL
