"""Plots: real matplotlib figures written to disk and checked."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import symrecon as sr  # noqa: E402
from helpers import check_png  # noqa: E402


@pytest.fixture
def linear():
    return sr.Sequential([sr.Dense([[0.4]], [-25.0])])


def test_convergence_plot_draws_history(linear, tmp_path):
    res = sr.reconstruct(linear, [100.0], method="gd", x0=[1.0], max_iter=200)
    ax = sr.plot.convergence(res)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), np.asarray(res.history)[:, 0])
    assert ax.get_xlabel() == "iteration"
    ax.figure.savefig(tmp_path / "conv.png", dpi=100)
    check_png(tmp_path / "conv.png")
    plt.close("all")


def test_convergence_needs_history(linear):
    res = sr.reconstruct(linear, [100.0], method="analytic")
    with pytest.raises(ValueError, match="no iteration history"):
        sr.plot.convergence(res)


def test_reconstruction_plot_on_given_axes(linear, tmp_path):
    res = sr.reconstruct(linear, [100.0], method="analytic")
    fig, ax = plt.subplots()
    x = np.linspace(0, 1000, 50)
    out = sr.plot.reconstruction(linear, res, data=(x, 0.4 * x - 25), ax=ax)
    assert out is ax
    offsets = [c.get_offsets() for c in ax.collections]
    assert any(np.allclose(o, [[312.5, 100.0]]) for o in offsets)
    fig.savefig(tmp_path / "rec.png", dpi=100)
    check_png(tmp_path / "rec.png")
    plt.close("all")


def test_reconstruction_plot_multi_output(tmp_path):
    m = sr.Sequential([sr.Dense(np.eye(3) * 2.0, np.ones(3), "tanh")])
    res = sr.reconstruct(m, [0.1, -0.2, 0.3], method="analytic")
    ax = sr.plot.reconstruction(m, res)
    assert len(ax.patches) == 6
    ax.figure.savefig(tmp_path / "bars.png", dpi=100)
    check_png(tmp_path / "bars.png")
    plt.close("all")


def test_reconstruction_plot_refuses_batch():
    m = sr.Sequential([sr.Dense(np.eye(2))])
    res = sr.reconstruct(m, np.ones((3, 2)), method="analytic")
    with pytest.raises(ValueError, match="single-target"):
        sr.plot.reconstruction(m, res)
