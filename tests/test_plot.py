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


# ---------------------------------------------------------------------------
# issue 9, item 14: the residual beside x on a log axis; invert's --plot shows what it knows

def test_convergence_shows_the_residual_on_a_log_axis_beside_x(linear, tmp_path):
    res = sr.reconstruct(linear, [100.0], method="gd", x0=[1.0], max_iter=200, learning_rate=0.4,
                         optimizer="constant")
    ax = sr.plot.convergence(res, model=linear)
    fig = ax.figure
    assert len(fig.axes) == 2 and fig.axes[0] is ax
    log_ax = fig.axes[1]
    assert ax.get_yscale() == "linear" and log_ax.get_yscale() == "log"
    hist = np.asarray(res.history)
    expected = np.abs(linear(hist)[:, 0] - 100.0)
    line = log_ax.get_lines()[-1]
    np.testing.assert_allclose(line.get_ydata(), np.where(expected > 0, expected, sr.plot.LOG_FLOOR))
    # The residual falls by orders of magnitude where x looks flat: the reason for the log panel.
    assert expected[0] / expected[-1] > 1e9
    assert any(t.get_text().startswith("tolerance") for t in log_ax.get_legend().get_texts())
    assert any(t.get_text().startswith("final x = 312.5") for t in ax.get_legend().get_texts())
    fig.savefig(tmp_path / "conv.png", dpi=100)
    check_png(tmp_path / "conv.png", min_width=900)
    plt.close("all")


def test_convergence_without_model_shows_distance_to_the_answer_and_respects_given_axes(linear, tmp_path):
    res = sr.reconstruct(linear, [100.0], method="gd", x0=[1.0], max_iter=200)
    fig, ax = plt.subplots(figsize=(9, 4))
    out = sr.plot.convergence(res, ax=ax)
    assert out is ax and len(fig.axes) == 2 and fig.axes[1].get_yscale() == "log"
    assert "distance" in fig.axes[1].get_ylabel()
    fig.savefig(tmp_path / "conv.png", dpi=100)
    check_png(tmp_path / "conv.png")
    plt.close("all")


def test_reconstruction_without_data_shows_the_curve_well_around_the_answer(linear):
    res = sr.reconstruct(linear, [100.0], method="analytic")
    ax = sr.plot.reconstruction(linear, res)
    xs = ax.get_lines()[0].get_xdata()
    # Not a +-1 stub around x0 = 312.5: the window is at least as wide as |x0|.
    assert xs.min() <= 312.5 / 2 and xs.max() >= 1.5 * 312.5
    plt.close("all")


def test_overview_one_input_batch(linear, tmp_path):
    res = sr.reconstruct(linear, [[100.0], [300.0], [-50.0]], method="analytic")
    axes = sr.plot.overview(linear, res)
    assert len(axes) == 2 and len(axes[0].figure.axes) == 2
    curve_ax, res_ax = axes
    xs = curve_ax.get_lines()[0].get_xdata()
    assert xs.min() < np.min(res.x) and xs.max() > np.max(res.x)
    points = np.vstack([c.get_offsets() for c in curve_ax.collections])
    np.testing.assert_allclose(np.sort(points[:, 0]), np.sort(np.ravel(res.x)))
    assert res_ax.get_yscale() == "log" and len(res_ax.patches) == 3
    assert curve_ax.get_xlabel() and curve_ax.get_ylabel() and curve_ax.get_legend() is not None
    axes[0].figure.savefig(tmp_path / "ov.png", dpi=100)
    check_png(tmp_path / "ov.png", min_width=900)
    plt.close("all")


def test_overview_several_inputs_single_and_batch(tmp_path, rng):
    m = sr.Sequential([sr.Dense(rng.normal(size=(3, 3)), rng.normal(size=3), "tanh")])
    y = m(rng.normal(size=(4, 3)) * 0.3)
    single = sr.plot.overview(m, sr.reconstruct(m, y[0], method="analytic"))
    assert len(single[0].patches) == 3  # one bar per input component
    assert [t.get_text() for t in single[0].get_xticklabels()] == ["x[0]", "x[1]", "x[2]"]
    batch = sr.reconstruct(m, y, method="newton")
    axes = sr.plot.overview(m, batch)
    lines = axes[0].get_lines()
    assert len(lines) == 4  # parallel coordinates: one line per target
    np.testing.assert_allclose(np.vstack([ln.get_ydata() for ln in lines]), batch.x)
    assert axes[1].get_yscale() == "log"
    axes[0].figure.savefig(tmp_path / "pc.png", dpi=100)
    check_png(tmp_path / "pc.png", min_width=900)
    plt.close("all")
