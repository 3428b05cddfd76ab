"""Acceptance on a real classifier: the digits MLP that Keras trained (examples/data/digits_mlp.keras).

Keras itself (live, torch backend) judges every prototype symrecon finds: it
must call it the target digit with probability 0.99 within float32's
accuracy (Keras evaluates in float32: ``2e-6`` on a probability covers a few
ulps of the 64-term sums; symrecon's own float64 re-check is ``1e-9``-tight).
Like tests/test_keras_live.py, this skips without Keras only outside CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import import_keras_or_skip  # noqa: E402

keras = import_keras_or_skip()  # in CI a missing Keras is an error, never a silent pass

import symrecon as sr
from helpers import check_png, compile_latex

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "data" / "digits_mlp.keras"
sys.path.insert(0, str(MODEL.parent))
from train_digits_mlp import digits_split  # noqa: E402

PIXELS = (0.0, 16.0)
CONFIDENCE = 0.99
KERAS_ATOL = 2e-6

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def setting():
    model = sr.load_keras(MODEL)
    live = keras.saving.load_model(MODEL)
    x_train, x_test, y_train, y_test = digits_split()
    mean = x_train.mean(axis=0)
    res = sr.prototype(model, np.arange(10), confidence=CONFIDENCE, bounds=PIXELS, x_ref=mean)
    return model, live, mean, res, (x_test, y_test)


def _keras(live, x):
    return np.asarray(live.predict(np.asarray(x, dtype=np.float32), verbose=0), dtype=np.float64)


def test_the_shipped_model_is_what_keras_computes(setting):
    model, live, _, _, (x_test, y_test) = setting
    np.testing.assert_allclose(model(x_test[:50]), _keras(live, x_test[:50]), rtol=0, atol=KERAS_ATOL)
    assert np.mean(model(x_test).argmax(axis=1) == y_test) > 0.9


def test_every_prototype_is_in_bounds_and_keras_calls_it_the_digit(setting):
    model, live, _, res, _ = setting
    assert np.all(res.success), res.message
    assert np.all((res.x >= PIXELS[0]) & (res.x <= PIXELS[1]))
    p = _keras(live, res.x)
    np.testing.assert_array_equal(p.argmax(axis=1), np.arange(10))
    assert np.all(p[np.arange(10), np.arange(10)] >= CONFIDENCE - KERAS_ATOL)
    np.testing.assert_allclose(p, res.y_target, rtol=0, atol=KERAS_ATOL)  # the requested vector, all of it
    np.testing.assert_allclose(model(res.x), res.y_target, rtol=0, atol=1e-9)


def test_nearest_prototypes_are_no_farther_from_the_mean_than_newtons(setting):
    model, _, mean, res, _ = setting
    starts = np.random.default_rng(0).uniform(0.0, 1.0, size=(10, 64))
    newton = sr.reconstruct(model, res.y_target, method="newton", x0=starts, bounds=PIXELS)
    assert np.all(newton.success), newton.message  # a real comparison needs newton's answers to be answers
    ours = np.linalg.norm(res.x - mean, axis=1)
    theirs = np.linalg.norm(newton.x - mean, axis=1)
    assert np.all(ours <= theirs), (ours, theirs)


def test_the_smallest_class_change_is_confirmed_by_keras(setting):
    model, live, _, _, (x_test, y_test) = setting
    right = np.flatnonzero(model(x_test).argmax(axis=1) == y_test)
    x = x_test[right[0]]
    change = sr.smallest_class_change(model, x, bounds=PIXELS)
    assert change.from_class == y_test[right[0]] != change.to_class
    assert _keras(live, change.x[None])[0].argmax() == change.to_class
    assert np.all((change.x >= PIXELS[0]) & (change.x <= PIXELS[1]))
    # no other class is reached by a smaller step along the straight line to its own answer
    for k in range(10):
        if k not in (change.from_class, change.to_class):
            other = sr.smallest_class_change(model, x, to_class=k, bounds=PIXELS)
            assert other.distance >= change.distance - 1e-9


def test_cli_inverts_keras_classifiers(tmp_path, capsys):
    from symrecon.cli import main

    p = ",".join(["0.01"] * 3 + ["0.91"] + ["0.01"] * 6)
    assert main(["invert", str(MODEL), "--y", p]) == 0, capsys.readouterr().out
    small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    small.save(tmp_path / "clf.keras")
    assert main(["invert", str(tmp_path / "clf.keras"), "--y", "0.2,0.3,0.5", "--latex",
                 str(tmp_path / "d.tex")]) == 0, capsys.readouterr().out
    compile_latex(tmp_path / "d.tex")
    assert "softmax" in (tmp_path / "d.tex").read_text()


def test_readme_shows_the_prototype_grid():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/digits_prototypes.png)" in readme
    check_png(ROOT / "docs" / "digits_prototypes.png")
