"""Dense / Sequential: forward pass, shapes, validation, immutability."""

import numpy as np
import pytest

import symrecon as sr
from symrecon.errors import InfeasibleTargetError, InvalidValueError, ShapeError


def test_dense_forward_matches_keras_convention(rng):
    kernel = rng.normal(size=(3, 2))
    bias = rng.normal(size=2)
    x = rng.normal(size=(5, 3))
    layer = sr.Dense(kernel, bias, "tanh")
    np.testing.assert_allclose(layer.forward(x), np.tanh(x @ kernel + bias), rtol=1e-15)


def test_sequential_single_and_batch(rng):
    m = sr.Sequential([sr.Dense(rng.normal(size=(3, 4)), activation="sigmoid"), sr.Dense(rng.normal(size=(4, 2)))])
    x = rng.normal(size=(7, 3))
    batch = m(x)
    assert batch.shape == (7, 2)
    np.testing.assert_allclose(m(x[2]), batch[2], rtol=1e-15)
    assert m(x[2]).shape == (2,)


def test_scalar_input_for_one_input_model():
    m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
    assert m(312.5).shape == (1,)
    assert float(m(312.5)[0]) == pytest.approx(100.0, rel=1e-15)


def test_weights_are_copied_frozen_float64():
    kernel = np.array([[1.0, 2.0]], dtype=np.float32)
    bias = np.array([0.5, -0.5])
    layer = sr.Dense(kernel, bias)
    kernel[0, 0] = 99.0
    bias[0] = 99.0
    assert layer.kernel.dtype == np.float64 and layer.kernel[0, 0] == 1.0 and layer.bias[0] == 0.5
    assert not layer.kernel.flags.writeable
    assert kernel.flags.writeable  # the caller's array is untouched


def test_forward_does_not_mutate_input(rng):
    m = sr.Sequential([sr.Dense(rng.normal(size=(2, 2)), activation="elu")])
    x = rng.normal(size=(4, 2))
    before = x.copy()
    m(x)
    np.testing.assert_array_equal(x, before)
    assert x.flags.writeable


@pytest.mark.parametrize(
    "kernel, bias, match",
    [
        (np.ones(3), None, r"2-D"),
        (np.ones((2, 3)), np.ones(2), r"\(3,\)"),
        (np.ones((0, 3)), None, "non-zero"),
    ],
)
def test_dense_shape_errors(kernel, bias, match):
    with pytest.raises(ShapeError, match=match):
        sr.Dense(kernel, bias)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_dense_rejects_non_finite_weights(bad):
    kernel = np.ones((2, 2))
    kernel[1, 0] = bad
    with pytest.raises(InvalidValueError, match="NaN or inf"):
        sr.Dense(kernel)
    bias = np.zeros(2)
    bias[1] = bad
    with pytest.raises(InvalidValueError, match="NaN or inf"):
        sr.Dense(np.ones((2, 2)), bias)


def test_sequential_width_mismatch_names_layers():
    with pytest.raises(ShapeError, match=r"layer 1 \('b'\) expects 3 inputs but layer 0 \('a'\) outputs 2"):
        sr.Sequential([sr.Dense(np.ones((2, 2)), name="a"), sr.Dense(np.ones((3, 1)), name="b")])


def test_sequential_rejects_empty_and_foreign_layers():
    with pytest.raises(ShapeError):
        sr.Sequential([])
    with pytest.raises(TypeError, match="symrecon layer"):
        sr.Sequential([np.eye(2)])


@pytest.mark.parametrize("x", [np.ones(3), np.ones((4, 3)), np.ones((2, 2, 3))])
def test_forward_wrong_width(x):
    m = sr.Sequential([sr.Dense(np.ones((2, 1)))])
    with pytest.raises(ShapeError, match=r"\(2,\) or \(N, 2\)"):
        m(x)


def test_forward_rejects_nan_input():
    m = sr.Sequential([sr.Dense(np.ones((2, 1)))])
    with pytest.raises(InvalidValueError, match="NaN or inf"):
        m([1.0, np.nan])


def test_check_target_names_unit_value_interval():
    m = sr.Sequential([sr.Dense(np.eye(2), activation="sigmoid", name="out")])
    with pytest.raises(InfeasibleTargetError) as info:
        m.check_target(np.array([[0.5, 1.2]]))
    err = info.value
    assert err.unit == 1 and err.value == 1.2 and err.layer == "out"
    assert float(err.interval.end) == 1.0 and err.interval.right_open
    assert "Interval.open(0, 1)" in str(err) and "1.2" in str(err)
