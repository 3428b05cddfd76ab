"""Plots of reconstructions (matplotlib).

:func:`reconstruction` and :func:`convergence` take ``ax=None`` (a new figure
is made when None) and return the ``Axes`` they drew on (:func:`convergence`
adds a log-scale residual panel beside it); :func:`overview`, what
``symrecon invert --plot`` draws, returns its two panels.  pyplot is imported
only when a function is called.

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

__all__ = ["convergence", "reconstruction", "overview", "solution_set"]

#: Residuals of exactly 0 are drawn at this height on log axes (and said so in the legend).
LOG_FLOOR = 1e-17


def _axes(ax):
    if ax is not None:
        return ax
    return _pyplot().subplots(figsize=(6.4, 4.2))[1]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("symrecon.plot needs matplotlib: pip install matplotlib") from exc
    return plt


def _beside(ax):
    """A new Axes to the right of ``ax``, taking half of its space (the caller's layout is kept)."""
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    return make_axes_locatable(ax).append_axes("right", size="100%", pad=0.8)


def _log_values(values):
    """Values for a log axis: zeros raised to :data:`LOG_FLOOR`; also whether any were."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    return np.where(v > 0, v, LOG_FLOOR), bool(np.any(v == 0))


def convergence(res, ax=None, *, model=None, components=None, residual_ax=None):
    """Plot ``x`` per iteration and, beside it on a log axis, the residual per iteration.

    Parameters
    ----------
    res : Reconstruction
        A single-target result of an iterative method (``res.history`` set).
    ax : matplotlib Axes, optional
        Where ``x`` is drawn.  With ``ax=None`` a new figure holds both panels.
    model : Sequential, optional
        The model ``res`` came from: the right panel then shows the residual
        ``max_i |model(x_k)_i - y0_i|`` per iteration with the tolerance.
        Without it the right panel shows ``max_j |x_k,j - x_j|``, the distance
        to the final answer (a result does not carry its model).
    components : sequence of int, optional
        Which input components to draw (default: up to the first 8).
    residual_ax : matplotlib Axes, optional
        Where the log-scale panel goes; default: a new Axes to the right of ``ax``.

    Returns
    -------
    matplotlib.axes.Axes
        The ``x`` panel.  The log-scale panel is the Axes after it in
        ``ax.figure.axes`` (or ``residual_ax`` when given).

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
    if ax is None and residual_ax is None:
        _, (ax, residual_ax) = _pyplot().subplots(1, 2, figsize=(10.5, 4.2))
    ax = _axes(ax)
    residual_ax = residual_ax if residual_ax is not None else _beside(ax)
    it = np.arange(hist.shape[0])
    final = np.ravel(res.x)
    for c in comps:
        name = "x" if hist.shape[1] == 1 else f"x[{c}]"
        (line,) = ax.plot(it, hist[:, c], marker="o", markersize=2.5, linewidth=1.0, label=name)
        ax.axhline(float(final[c]), color=line.get_color(), linestyle=":", linewidth=1.0,
                   label=f"final {name} = {final[c]:.8g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("x")
    ax.set_title(f"{res.method}: x per iteration")
    ax.legend(fontsize="small")

    if model is not None:
        with np.errstate(all="ignore"):
            err = np.max(np.abs(model(hist) - np.ravel(res.y_target)[None, :]), axis=1)
        what = "residual max|model(x) - y0|"
        residual_ax.axhline(res.tol, color="0.4", linestyle="--", linewidth=1.0, label=f"tolerance {res.tol:.0e}")
    else:
        err = np.max(np.abs(hist - final[None, :]), axis=1)
        what = "distance to the final x, max|x - x_final|"
    values, floored = _log_values(err)
    residual_ax.plot(it, values, color="tab:red", marker="o", markersize=2.5, linewidth=1.0,
                     label=what + (f" (0 drawn at {LOG_FLOOR:.0e})" if floored else ""))
    residual_ax.set_yscale("log")
    residual_ax.set_xlabel("iteration")
    residual_ax.set_ylabel("residual" if model is not None else "distance to final x")
    residual_ax.set_title(f"after {res.n_iter} iterations: residual {res.residual:.2e}")
    residual_ax.legend(fontsize="small")
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
        # Without data, show the curve well around the answer (a +-1 window looked like a dot on a line).
        pad = 0.05 * (hi - lo) if hi > lo else max(0.5 * abs(x0[0]), 1.0)
        grid = np.linspace(lo - pad, hi + pad, 400)
        ax.plot(grid, model(grid[:, None])[:, 0], color="tab:red", linewidth=1.5, label="model")
        ax.scatter([x0[0]], [y0[0]], s=70, color="tab:orange", edgecolor="black", zorder=5,
                   label=f"reconstructed x0 = {x0[0]:.6g} for y0 = {y0[0]:.6g}")
        ax.axvline(x0[0], color="0.6", linestyle=":", linewidth=1.0)
        ax.axhline(y0[0], color="0.6", linestyle=":", linewidth=1.0)
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


def overview(model, res, *, fig=None):
    """Everything a reconstruction knows, single target or batch: two labelled panels.

    Left: for a one-input model, the model's output curve(s) around the
    reconstructed inputs with each ``(x0, y0)`` marked; for several inputs,
    the components of ``x0`` (bars for one target, parallel coordinates for a
    batch, failed targets dashed).  Right: each target's residual on a log
    axis, with the tolerance.

    Parameters
    ----------
    model : Sequential
        The model ``res`` came from.
    res : Reconstruction
        Single or batch.
    fig : matplotlib Figure, optional
        Drawn into (two subplots are added); default a new figure.

    Returns
    -------
    list of matplotlib.axes.Axes
        ``[inputs panel, residual panel]``.
    """
    if fig is None:
        fig = _pyplot().figure(figsize=(11.0, 4.4))
    ax_x, ax_r = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    x = np.atleast_2d(np.asarray(res.x, dtype=np.float64))
    y = np.atleast_2d(np.asarray(res.y_target, dtype=np.float64))
    ok = np.atleast_1d(res.success)
    if model.n_in == 1:
        _curve_panel(ax_x, model, x[:, 0], y, ok)
    elif x.shape[0] == 1:
        _bar_panel(ax_x, x[0])
    else:
        _parallel_panel(ax_x, x, ok)
    _residual_panel(ax_r, np.atleast_1d(res.residual), res.tol, ok)
    n = x.shape[0]
    fig.suptitle(f"symrecon: {n} target{'s' if n > 1 else ''}, {int(ok.sum())} within tolerance "
                 f"(method {', '.join(sorted({str(m) for m in np.atleast_1d(res.method)}))})", fontsize="medium")
    return [ax_x, ax_r]


#: At most this many targets are drawn one by one (curves/points/lines); the title says so.
MAX_DRAWN = 200


def _curve_panel(ax, model, x0, y, ok):
    lo, hi = float(np.min(x0)), float(np.max(x0))
    pad = max(0.25 * (hi - lo), 0.5 * max(abs(lo), abs(hi)), 1.0)
    grid = np.linspace(lo - pad, hi + pad, 400)
    out = model(grid[:, None])
    units = range(min(model.n_out, 4))
    for u in units:
        (line,) = ax.plot(grid, out[:, u], linewidth=1.5, label="model" if model.n_out == 1 else f"model, y[{u}]")
        shown = slice(0, MAX_DRAWN)
        ax.scatter(x0[shown], y[shown, u], s=45, color=line.get_color(), edgecolor="black", zorder=5,
                   label="reconstructed (x0, y0)" if u == 0 else None)
    if x0.size == 1:
        ax.axvline(x0[0], color="0.6", linestyle=":", linewidth=1.0, label=f"x0 = {x0[0]:.8g}")
        ax.axhline(y[0, 0], color="0.6", linestyle="--", linewidth=1.0, label=f"y0 = {y[0, 0]:.8g}")
    if np.any(~ok):
        ax.scatter(x0[~ok][:MAX_DRAWN], y[~ok, 0][:MAX_DRAWN], s=90, marker="x", color="red", zorder=6,
                   label="not within tolerance")
    ax.set_xlabel("input x")
    ax.set_ylabel("output y")
    ax.set_title("model output around the reconstructed input" + ("s" if x0.size > 1 else ""))
    ax.legend(fontsize="small")


def _bar_panel(ax, x0):
    idx = np.arange(x0.size)
    bars = ax.bar(idx, x0, color="tab:blue", label="reconstructed x0")
    if x0.size <= 16:
        ax.bar_label(bars, labels=[f"{v:.4g}" for v in x0], fontsize="x-small")
        ax.set_xticks(idx, [f"x[{j}]" for j in idx])
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlabel("input component")
    ax.set_ylabel("value")
    ax.set_title("reconstructed input x0")
    ax.legend(fontsize="small")


def _parallel_panel(ax, x, ok):
    idx = np.arange(x.shape[1])
    drawn = min(x.shape[0], MAX_DRAWN)
    for i in range(drawn):
        label = f"target {i}" if drawn <= 10 else None
        ax.plot(idx, x[i], marker="o", markersize=3, linewidth=1.0, alpha=0.8 if drawn <= 10 else 0.3,
                linestyle="-" if ok[i] else "--", color=None if drawn <= 10 else ("tab:blue" if ok[i] else "red"),
                label=label)
    if x.shape[1] <= 16:
        ax.set_xticks(idx, [f"x[{j}]" for j in idx])
    ax.set_xlabel("input component")
    ax.set_ylabel("value")
    more = f" (first {drawn} of {x.shape[0]})" if drawn < x.shape[0] else ""
    ax.set_title(f"reconstructed inputs, one line per target{more}; dashed: not within tolerance")
    if drawn <= 10:
        ax.legend(fontsize="x-small")


def _residual_panel(ax, residual, tol, ok):
    values, floored = _log_values(residual)
    idx = np.arange(values.size)
    label = "residual max|model(x0) - y0|" + (f" (0 drawn at {LOG_FLOOR:.0e})" if floored else "")
    colors = np.where(ok, "tab:green", "red")
    if values.size <= 50:
        ax.bar(idx, values, color=colors, label=label)
        if values.size <= 20:
            ax.set_xticks(idx)
    else:
        ax.scatter(idx, values, s=6, c=colors, label=label)
    ax.axhline(tol, color="0.3", linestyle="--", linewidth=1.0, label=f"tolerance {tol:.0e}")
    ax.set_yscale("log")
    ax.set_ylim(top=10.0 * max(tol, float(np.max(values))))  # the tolerance line inside, room for the legend
    ax.set_xlabel("target")
    ax.set_ylabel("residual")
    ax.set_title("residual per target")
    ax.legend(fontsize="small")


def solution_set(s, ax=None, *, box=(-5.0, 5.0), color="tab:blue", label=None, alpha=0.35):
    """Draw a set of 1-D or 2-D inputs inside the window ``box``.

    Polyhedra and unions are filled polygons (a lower-dimensional piece, such
    as a line of an affine set, is a segment), points are markers, an empty
    set writes its certificate in the title, and any other set (e.g. a
    local shut-down region) is drawn from its ``contains`` on a grid.

    Parameters
    ----------
    s : SolutionSet
        From :mod:`symrecon.sets` (``n`` is 1 or 2).
    ax : matplotlib Axes, optional
    box : (lower, upper)
        The window: scalars or arrays of shape ``(n,)``.
    color, label : str, optional
    alpha : float
        Fill opacity.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import symrecon as sr
    >>> ax = sr.plot.solution_set(sr.Polyhedron.halfspace([1.0, 1.0], 0.0), box=(-1.0, 1.0), label="x1 + x2 <= 0")
    >>> len(ax.patches), ax.get_xlabel()
    (1, 'x_1')
    """
    from .errors import InvalidValueError
    from .sets import AffineSet, Box, EmptySet, Point, Polyhedron, Union, as_polyhedron

    if s.n not in (1, 2):
        raise InvalidValueError(f"solution_set() draws sets of 1 or 2 inputs; this one has n = {s.n}")
    lower, upper = (np.broadcast_to(np.asarray(b, dtype=np.float64), (s.n,)) for b in box)
    ax = _axes(ax)
    if isinstance(s, EmptySet):
        ax.set_title("no input: " + s.certificate[:90] + ("..." if len(s.certificate) > 90 else ""), fontsize="small")
    elif isinstance(s, Point):
        ax.scatter([s.x[0]], [s.x[1] if s.n == 2 else 0.0], color=color, zorder=5, label=label)
    elif isinstance(s, (Union, Polyhedron, AffineSet, Box)):
        pieces = s.pieces if isinstance(s, Union) else (as_polyhedron(s, s.n),)
        for i, piece in enumerate(pieces):
            _draw_piece(ax, piece, lower, upper, color, label if i == 0 else None, alpha)
    else:
        _draw_by_grid(ax, s, lower, upper, color, label, alpha)
    ax.set_xlim(lower[0], upper[0])
    if s.n == 2:
        ax.set_ylim(lower[1], upper[1])
    ax.set_xlabel("x_1")
    ax.set_ylabel("x_2" if s.n == 2 else "")
    if label:
        ax.legend(fontsize="small")
    return ax


def _draw_piece(ax, piece, lower, upper, color, label, alpha):
    from .sets._geometry import interval, polygon

    if piece.n == 1:
        span = interval(piece, lower[0], upper[0])
        if span is not None:
            ax.plot(span, [0.0, 0.0], color=color, linewidth=6, solid_capstyle="butt", label=label)
        return
    verts = polygon(piece, lower, upper)
    if len(verts) == 0:
        return
    extent = np.ptp(verts, axis=0)
    if max(extent) <= 1e-9 * max(1.0, float(np.max(np.abs(verts)))):   # a single point
        ax.scatter(verts[:1, 0], verts[:1, 1], s=90, facecolor="none", edgecolor=color, linewidths=2.0, zorder=6,
                   label=label)
        return
    width = np.linalg.svd(verts - verts.mean(axis=0), compute_uv=False)[-1] if len(verts) >= 3 else 0.0
    if width <= 1e-9 * max(1.0, float(max(extent))):   # a segment (clipping leaves slivers ~1e-12 wide)
        ends = verts[[np.argmin(verts @ _direction(verts)), np.argmax(verts @ _direction(verts))]]
        ax.plot(ends[:, 0], ends[:, 1], color=color, linewidth=2.0, label=label)
    else:
        ax.fill(verts[:, 0], verts[:, 1], facecolor=color, edgecolor=color, alpha=alpha, label=label)


def _direction(verts):
    centred = verts - verts.mean(axis=0)
    return np.linalg.svd(centred, full_matrices=False)[2][0] if np.any(centred) else np.array([1.0, 0.0])


def _draw_by_grid(ax, s, lower, upper, color, label, alpha, size=200):
    from matplotlib.colors import ListedColormap

    xs = np.linspace(lower[0], upper[0], size)
    if s.n == 1:
        inside = s.contains(xs[:, None])
        ax.scatter(xs[inside], np.zeros(int(inside.sum())), color=color, s=4, label=label)
        return
    ys = np.linspace(lower[1], upper[1], size)
    gx, gy = np.meshgrid(xs, ys)
    inside = s.contains(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    ax.contourf(gx, gy, inside.astype(float), levels=[0.5, 1.5], cmap=ListedColormap([color]), alpha=alpha)
    if label:
        ax.plot([], [], color=color, linewidth=6, alpha=alpha, label=label)
