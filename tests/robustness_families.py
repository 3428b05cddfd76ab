"""Families of random networks with reachable targets: the robustness suite's data (tests and benchmark).

Each family draws ``n_models`` networks from a seeded generator; each network
gets targets ``y = model(x_true)`` with ``x_true ~ N(0, s^2)`` for every
``s`` in :data:`SCALES`, so every target is reachable by construction.  The
start is ``x0 = 0`` (clipped into the box where the family has one) and the
tolerance :data:`TOL`; success is the library's re-checked residual within
the project's tolerance rule (``res.success``).

Examples
--------
>>> from robustness_families import FAMILIES, cases
>>> sum(c.y.shape[0] for c in cases("square_tanh", n_models=4, per_scale=2))
24
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

import symrecon as sr

__all__ = ["FAMILIES", "SCALES", "TOL", "Case", "cases", "success_rates"]

#: the scales ``s`` of ``x_true ~ N(0, s^2)``
SCALES = (0.5, 1.0, 2.0)
#: the absolute tolerance every method is asked for
TOL = 1e-9


@dataclass(frozen=True)
class Case:
    """One network with its reachable targets ``y`` (N, n_out), the inputs that made them, and an optional box."""

    model: sr.Sequential
    y: np.ndarray
    x_true: np.ndarray
    bounds: tuple[np.ndarray, np.ndarray] | None = None


def _dense(rng, n_in, n_out, act, gain=0.8, bias=1.0):
    return sr.Dense(rng.normal(size=(n_in, n_out)) * gain, rng.normal(size=n_out) * bias, act)


def _square_tanh(rng):
    n, depth = int(rng.integers(2, 6)), int(rng.integers(2, 4))
    return [_dense(rng, n, n, "tanh") for _ in range(depth)], None


def _gain_linear_out(rng):
    n, depth = int(rng.integers(2, 6)), int(rng.integers(2, 4))
    g = 1.5 / np.sqrt(n)
    hidden = [_dense(rng, n, n, "tanh", gain=g) for _ in range(depth - 1)]
    return [*hidden, _dense(rng, n, n, "linear", gain=g)], None


def _deep_narrow(rng):
    sizes = rng.integers(2, 5, size=6)
    sizes[-1] = min(sizes[-1], sizes[0])  # the output no wider than the input: targets can be matched
    return [_dense(rng, int(a), int(b), "tanh", gain=1.0 / np.sqrt(a) * 1.2) for a, b in zip(sizes, sizes[1:])], None


def _wide_sigmoid(rng):
    n_in, h, n_out = int(rng.integers(6, 11)), int(rng.integers(4, 7)), int(rng.integers(2, 4))
    return [_dense(rng, n_in, h, "sigmoid", gain=1 / np.sqrt(n_in)), _dense(rng, h, n_out, "sigmoid")], None


def _expand_contract(rng):
    n = int(rng.integers(2, 5))
    h = n + int(rng.integers(2, 6))
    return [_dense(rng, n, h, "tanh", gain=1 / np.sqrt(n)), _dense(rng, h, n, "tanh", gain=1 / np.sqrt(h))], None


def _bounded_box(rng):
    layers, _ = _square_tanh(rng)
    return layers, "box"


def _near_singular(rng):
    n, depth = int(rng.integers(2, 6)), int(rng.integers(2, 4))
    layers = []
    for _ in range(depth):
        u, _, vt = np.linalg.svd(rng.normal(size=(n, n)))
        sv = np.geomspace(1.0, 1e-3, n)
        layers.append(sr.Dense(u @ np.diag(sv) @ vt * 1.5, rng.normal(size=n), "tanh"))
    return layers, None


def _sigmoid_saturated(rng):
    n = int(rng.integers(2, 5))
    return [_dense(rng, n, n, "tanh", gain=1.0), _dense(rng, n, n, "sigmoid", gain=3.0, bias=2.0)], None


#: family name -> generator of one network's layers and whether it carries a box
FAMILIES: dict[str, Callable] = {
    "square_tanh": _square_tanh,
    "gain_linear_out": _gain_linear_out,
    "deep_narrow": _deep_narrow,
    "wide_sigmoid": _wide_sigmoid,
    "expand_contract": _expand_contract,
    "bounded_box": _bounded_box,
    "near_singular": _near_singular,
    "sigmoid_saturated": _sigmoid_saturated,
}


def cases(family: str, n_models: int = 20, per_scale: int = 3, seed: int = 0) -> Iterator[Case]:
    """The seeded networks and reachable targets of one family (``n_models * per_scale * len(SCALES)`` targets)."""
    rng = np.random.default_rng([seed, list(FAMILIES).index(family)])
    for _ in range(n_models):
        layers, kind = FAMILIES[family](rng)
        model = sr.Sequential(layers)
        x_true = np.concatenate([rng.normal(size=(per_scale, model.n_in)) * s for s in SCALES])
        bounds = None
        if kind == "box":
            # a box around the true input and the start 0, tight on some sides
            half = np.abs(x_true).max(axis=0) + rng.uniform(0.0, 0.5, size=model.n_in)
            bounds = (-half, half)
        yield Case(model, model(x_true), x_true, bounds)


def success_rates(family: str, methods: dict[str, dict], **kw) -> dict[str, tuple[int, int]]:
    """``{label: (successes, targets)}`` of each ``reconstruct`` option set over one family's cases."""
    counts = {label: [0, 0] for label in methods}
    for case in cases(family, **kw):
        for label, options in methods.items():
            res = sr.reconstruct(case.model, case.y, x0=np.zeros_like(case.x_true), bounds=case.bounds, tol=TOL,
                                 progress=False, **options)
            counts[label][0] += int(np.sum(res.success))
            counts[label][1] += case.y.shape[0]
    return {label: (c[0], c[1]) for label, c in counts.items()}
