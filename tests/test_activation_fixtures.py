"""Keras 3's mish and log_sigmoid end to end, from a real Keras-written file (tests/make_activation_fixtures.py).

The generic loader tests of ``test_keras_fixtures.py`` also run on this
fixture (every format, every weight array); here: the activations resolve to
the table's entries, symrecon's forward (NumPy, numba, SymPy) reproduces
Keras's stored predictions, and the log_sigmoid tail has a closed-form inverse.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symrecon as sr
from symrecon.models import Dense
from symrecon.backends.numba.activations import act_vec

DATA = Path(__file__).parent / "data" / "keras"
STEM = "keras3_activations"
#: float32 predictions against a float64 forward pass (see test_keras_fixtures.py)
RTOL = 1e-6


@pytest.fixture(scope="module")
def loaded():
    ref = np.load(DATA / f"{STEM}.npz", allow_pickle=False)
    return sr.load_keras(DATA / f"{STEM}.keras"), ref["x"].astype(np.float64), ref["y"].astype(np.float64)


def _scaled(ours, ref):
    return float(np.max(np.abs(ours - ref) / np.max(np.abs(ref), axis=0)))


def test_activations_resolve_to_the_table(loaded):
    model, _, _ = loaded
    assert all(isinstance(layer, Dense) for layer in model.layers)
    names = [layer.activation.name for layer in model.layers]
    assert names == ["mish", "log_sigmoid", "mish", "tanh", "log_sigmoid"]  # Activation("mish") became Dense(eye)


def test_numpy_forward_matches_keras(loaded):
    model, x, y = loaded
    assert _scaled(model(x), y) <= RTOL


def test_numba_forward_matches_keras(loaded):
    # the numba formulas the kernels use (act_vec), layer by layer
    model, x, y = loaded
    a = x
    for layer in model.layers:
        z = np.ascontiguousarray((a @ layer.kernel + layer.bias).ravel())
        out, deriv = np.empty_like(z), np.empty_like(z)
        act_vec(z, out, deriv, z.size, layer.activation.kernel_code, layer.activation.param)
        a = out.reshape(x.shape[0], layer.n_out)
    assert _scaled(a, y) <= RTOL
    np.testing.assert_allclose(a, model(x), rtol=1e-13, atol=1e-15)


def test_sympy_forward_matches_keras(loaded):
    model, x, y = loaded
    graph = sr.forward_graph(model)

    fn = sp.lambdify(list(graph.inputs), list(graph.output), modules=["scipy", "numpy"])
    ours = np.column_stack([np.broadcast_to(c, (x.shape[0],)) for c in fn(*x.T)])
    assert _scaled(ours, y) <= RTOL
    assert r"\log\sigma" in graph.latex() and r"\operatorname{mish}" in graph.latex()


def test_log_sigmoid_tail_inverts_in_closed_form(loaded):
    model, x, y = loaded
    tail = sr.Sequential(list(model.layers[-2:]))
    head = sr.Sequential(list(model.layers[:-2]))
    h = head(x)
    inv = sr.analytic_inverse(tail)
    np.testing.assert_allclose(inv(tail(h)), h, rtol=1e-10, atol=1e-10)
    # Keras's own float32 output is reachable: its preimage reproduces it
    assert _scaled(tail(inv(y)), y) <= 1e-12
    with pytest.raises(sr.NotInvertibleError, match="mish"):
        sr.analytic_inverse(model)
