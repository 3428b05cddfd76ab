"""invert_step: closed forms where the algebra allows, Gauss-Newton otherwise; both agree to >= 9 digits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symrecon as sr
from symrecon.errors import InfeasibleTargetError, InvalidParameterError, NotInvertibleError, ShapeError
from symrecon.gates import step
from symrecon.recurrent import GRU, LSTM, SimpleRNN
from symrecon.rnn_step import CLOSED_FORMS


def one_block(kind, block, rng, u=3, **kw):
    """A cell whose input kernel feeds only gate block ``block`` (the closed-form cases)."""
    K = np.zeros((u, kind.n_gates * u))
    K[:, block * u:(block + 1) * u] = rng.normal(size=(u, u)) + 2 * np.eye(u)
    R = rng.normal(size=(u, kind.n_gates * u)) * 0.5
    if kind is GRU:
        return GRU(K, R, rng.normal(size=(2, 3 * u)) if kw.get("reset_after", True) else rng.normal(size=3 * u), **kw)
    return kind(K, R, rng.normal(size=kind.n_gates * u), **kw)


CLOSED = [(kind, block, targets, kw) for (kind, block, targets) in CLOSED_FORMS
          for kw in ([{"reset_after": True}, {"reset_after": False}] if kind is GRU else [{}])]


@pytest.mark.parametrize("kind, block, targets, kw", CLOSED,
                         ids=[f"{k.__name__}-{b}-{'+'.join(t)}-{kw}" for k, b, t, kw in CLOSED])
def test_closed_form_and_newton_agree_to_nine_digits(kind, block, targets, kw, rng):
    layer = one_block(kind, block, rng, **kw)
    N, u = 8, layer.units
    h_prev, x = rng.normal(size=(N, u)) * 0.5, rng.normal(size=(N, u)) * 0.5
    c_prev = rng.normal(size=(N, u)) if kind is LSTM else None
    out = step(layer, x, h_prev, c_prev)
    target = {t: out[t] for t in targets}
    exact = sr.invert_step(layer, **target, h_prev=h_prev, c_prev=c_prev, method="analytic")
    assert exact.method.tolist() == ["analytic"] * N and exact.success.all()
    np.testing.assert_allclose(exact.x, x, rtol=1e-9, atol=1e-9)  # square, well-conditioned: unique input
    newton = sr.invert_step(layer, **target, h_prev=h_prev, c_prev=c_prev, method="newton", tol=1e-12)
    assert newton.success.all() and set(newton.method) == {"newton"}
    digits = -np.log10(np.max(np.abs(newton.x - exact.x) / np.maximum(np.abs(exact.x), 1.0)))
    assert digits >= 9, digits
    auto = sr.invert_step(layer, **target, h_prev=h_prev, c_prev=c_prev)
    assert set(auto.method) == {"analytic"}


@pytest.mark.parametrize("kind, targets", [(LSTM, ("h",)), (LSTM, ("c",)), (LSTM, ("h", "c")), (GRU, ("h",)),
                                           (SimpleRNN, ("h",))])
def test_general_cells_reach_their_targets(kind, targets, rng):
    u, n = 3, 4
    layer = kind(rng.normal(size=(n, kind.n_gates * u)), rng.normal(size=(u, kind.n_gates * u)) * 0.5)
    N = 12
    h_prev, x = rng.normal(size=(N, u)) * 0.5, rng.normal(size=(N, n))
    c_prev = rng.normal(size=(N, u)) if kind is LSTM else None
    out = step(layer, x, h_prev, c_prev)
    res = sr.invert_step(layer, **{t: out[t] for t in targets}, h_prev=h_prev, c_prev=c_prev)
    assert res.success.all(), res.message
    again = step(layer, res.x, h_prev, c_prev)
    for t in targets:
        np.testing.assert_allclose(again[t], out[t], atol=1e-9)


def test_single_target_gives_single_result(rng):
    rnn = SimpleRNN(np.eye(2) * 2, np.eye(2) * 0.3, [0.1, 0.0])
    res = sr.invert_step(rnn, h=[0.2, -0.4], h_prev=[0.1, 0.1])
    assert res.x.shape == (2,) and res.success and res.method == "analytic"
    np.testing.assert_allclose(np.arctanh([0.2, -0.4]) - np.array([0.1, 0.0]) - 0.03, 2 * res.x, rtol=1e-14)


def test_refusals_name_the_problem(rng):
    lstm = LSTM(rng.normal(size=(2, 12)), rng.normal(size=(3, 12)))
    with pytest.raises(NotInvertibleError, match="4 gate blocks"):
        sr.invert_step(lstm, h=np.zeros(3), h_prev=np.zeros(3), c_prev=np.zeros(3), method="analytic")
    with pytest.raises(InvalidParameterError, match="c_prev"):
        sr.invert_step(lstm, h=np.zeros(3), h_prev=np.zeros(3))
    with pytest.raises(ShapeError, match="h_prev"):
        sr.invert_step(lstm, h=np.zeros(3), h_prev=np.zeros(2), c_prev=np.zeros(3))
    with pytest.raises(InvalidParameterError, match="target"):
        sr.invert_step(lstm, h_prev=np.zeros(3), c_prev=np.zeros(3))
    rnn = SimpleRNN(np.eye(2), np.zeros((2, 2)))
    with pytest.raises(InvalidParameterError, match="'c' target"):
        sr.invert_step(rnn, h=[0.0, 0.0], c=[0.0, 0.0], h_prev=[0.0, 0.0])
    with pytest.raises(InfeasibleTargetError, match="image"):
        sr.invert_step(rnn, h=[1.5, 0.0], h_prev=[0.0, 0.0])
    with pytest.raises(InvalidParameterError, match="'method'"):
        sr.invert_step(rnn, h=[0.5, 0.0], h_prev=[0.0, 0.0], method="gd")


@given(seed=st.integers(0, 2**32 - 1), u=st.integers(1, 5))
def test_simple_rnn_round_trip_law(seed, u):
    """inv(step(x)) = x for a square, well-conditioned input kernel (closed form, ~1e-10)."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.normal(size=(u, u)))[0]
    rnn = SimpleRNN(q * rng.uniform(0.5, 2.0, size=u), rng.normal(size=(u, u)) * 0.3, rng.normal(size=u) * 0.3)
    h_prev, x = rng.normal(size=(6, u)) * 0.5, rng.normal(size=(6, u)) * 0.5
    res = sr.invert_step(rnn, h=step(rnn, x, h_prev)["h"], h_prev=h_prev, method="analytic")
    np.testing.assert_allclose(res.x, x, atol=1e-10)
