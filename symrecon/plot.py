"""Plots of reconstructions (matplotlib).

Every function takes ``ax=None`` (a new figure is made when None), imports
pyplot only when called, and returns the ``Axes`` it drew on.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> res = sr.reconstruct(m, [100.0], method="analytic")
>>> ax = sr.plot.reconstruction(m, res)
>>> ax.get_xlabel()
'x'
"""

from __future__ import annotations

import numpy as np

__all__ = ["convergence", "reconstruction"]


def _axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("symrecon.plot needs matplotlib: pip install matplotlib") from exc
    _, ax = plt.subplots(figsize=(6.4, 4.2))
    return ax


def convergence(res, ax=None, *, components=None):
    """Plot ``x`` against iteration from a single-target result's ``history``.

    Parameters
    ----------
    res : Reconstruction
        A single-target result of an iterative method (``res.history`` set).
    ax : matplotlib Axes, optional
    components : sequence of int, optional
        Which input components to draw (default: up to the first 8).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        The result has no history (a batch, or a closed-form answer).
    """
    if res.history is None:
        raise ValueError(
            f"result of method {res.method!r} has no iteration history; convergence plots need a "
            "single-target result of an iterative method (e.g. method='gd')"
        )
    hist = np.asarray(res.history, dtype=np.float64)
    if hist.ndim == 1:
        hist = hist[:, None]
    comps = list(range(min(hist.shape[1], 8))) if components is None else list(components)
    ax = _axes(ax)
    it = np.arange(hist.shape[0])
    for c in comps:
        label = "x" if hist.shape[1] == 1 else f"x[{c}]"
        ax.plot(it, hist[:, c], marker="o", markersize=2.5, linewidth=1.0, label=label)
        ax.axhline(float(np.ravel(res.x)[c]), color="0.6", linestyle=":", linewidth=1.0)
    ax.set_xlabel("iteration")
    ax.set_ylabel("x")
    ax.set_title(f"Input reconstruction by {res.method}: x per iteration")
    if len(comps) > 1:
        ax.legend(fontsize="small")
    return ax


def reconstruction(model, res, data=None, ax=None):
    """Show where the reconstructed input lands.

    For a one-input, one-output model: the training data (if given), the
    model's curve over their range, and the reconstructed point
    ``(x0, y0)``.  Otherwise: target and achieved output per unit.

    Parameters
    ----------
    model : Sequential
    res : Reconstruction
        A single-target result.
    data : (x, y) arrays, optional
        Training data to scatter, shapes ``(N,)`` or ``(N, 1)``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if res.is_batch:
        raise ValueError("reconstruction() plots a single-target result; pass one target, not a batch")
    ax = _axes(ax)
    x0 = np.ravel(res.x)
    y0 = np.ravel(res.y_target)
    if model.n_in == 1 and model.n_out == 1:
        xs = [x0[0]]
        if data is not None:
            xd, yd = (np.ravel(np.asarray(a, dtype=np.float64)) for a in data)
            ax.scatter(xd, yd, s=12, color="tab:blue", alpha=0.7, label="training data")
            xs += [xd.min(), xd.max()]
        lo, hi = min(xs), max(xs)
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        grid = np.linspace(lo - pad, hi + pad, 400)
        ax.plot(grid, model(grid[:, None])[:, 0], color="tab:red", linewidth=1.5, label="model")
        ax.scatter([x0[0]], [y0[0]], s=70, color="tab:orange", edgecolor="black", zorder=5,
                   label=f"reconstructed x0 = {x0[0]:.6g} for y0 = {y0[0]:.6g}")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title("Input reconstruction")
    else:
        units = np.arange(y0.size)
        ax.bar(units - 0.2, y0, width=0.4, label="target y0")
        ax.bar(units + 0.2, np.ravel(res.y_pred), width=0.4, label="model(x0)")
        ax.set_xlabel("output unit")
        ax.set_ylabel("y")
        ax.set_title(f"Reconstruction by {res.method}: residual {res.residual:.2e}")
    ax.legend(fontsize="small")
    return ax
