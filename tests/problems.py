"""A catalogue of reconstruction problems with known answers (the solver contract suite's data).

Every :class:`CatalogueProblem` holds a model, an input ``x_true`` and the
target ``y = model(x_true)``, so the target is reachable by construction; a
solver passes when ``model(x) ~= y`` (the answer need not equal ``x_true``
where the preimage is not a single point).  ``kinds`` says which capability
a problem exercises ("invertible", "wide", "tall", "relu", "bounded"), and
``x0`` is a starting point where local methods need one (ReLU regions).

Examples
--------
>>> from problems import CATALOGUE
>>> sorted(p.name for p in CATALOGUE)[:2]
['bounded_wide_linear', 'deep_tanh']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import symrecon as sr

__all__ = ["CatalogueProblem", "CATALOGUE", "by_kind"]


@dataclass(frozen=True)
class CatalogueProblem:
    name: str
    model: sr.Sequential
    x_true: np.ndarray  # (N, n_in)
    kinds: frozenset = field(default_factory=frozenset)
    x0: np.ndarray | None = None
    bounds: tuple | None = None

    @property
    def y(self) -> np.ndarray:
        return self.model(self.x_true)


def _orth(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def _build() -> tuple[CatalogueProblem, ...]:
    rng = np.random.default_rng(20260223)
    out = []
    # the write-up's one-unit linear model
    out.append(CatalogueProblem("writeup_linear", sr.Sequential([sr.Dense([[0.4]], [-25.0])]),
                                np.array([[312.5], [1.0], [-40.0]]), frozenset({"invertible"})))
    # square tanh chain (closed form exists)
    layers = [sr.Dense(0.9 * _orth(rng, 4), 0.1 * rng.normal(size=4), "tanh") for _ in range(3)]
    out.append(CatalogueProblem("deep_tanh", sr.Sequential(layers), 0.8 * rng.normal(size=(6, 4)),
                                frozenset({"invertible"})))
    # square sigmoid then linear
    out.append(CatalogueProblem(
        "sigmoid_linear",
        sr.Sequential([sr.Dense(_orth(rng, 3), None, "sigmoid"), sr.Dense(_orth(rng, 3) * 2.0, [0.1, 0.0, -0.1])]),
        rng.normal(size=(5, 3)), frozenset({"invertible"})))
    # wide: 5 -> 3 tanh -> 2 sigmoid (no closed form past the first layer)
    out.append(CatalogueProblem(
        "wide_tanh_sigmoid",
        sr.Sequential([sr.Dense(rng.normal(size=(5, 3)) / np.sqrt(5), 0.1 * rng.normal(size=3), "tanh"),
                       sr.Dense(rng.normal(size=(3, 2)), None, "sigmoid")]),
        0.7 * rng.normal(size=(5, 5)), frozenset({"wide"})))
    # tall: 2 -> 5 tanh -> 4 linear
    out.append(CatalogueProblem(
        "tall_tanh",
        sr.Sequential([sr.Dense(rng.normal(size=(2, 5)) / 2, 0.1 * rng.normal(size=5), "tanh"),
                       sr.Dense(rng.normal(size=(5, 4)) / 2, None, "linear")]),
        0.7 * rng.normal(size=(5, 2)), frozenset({"tall"})))
    # ReLU: 3 -> 6 relu -> 3 linear; start near x_true (same activation pattern)
    w1 = rng.normal(size=(3, 6))
    x_true = rng.normal(size=(4, 3))
    model = sr.Sequential([sr.Dense(w1, 0.5 * np.ones(6), "relu"), sr.Dense(rng.normal(size=(6, 3)), None)])
    out.append(CatalogueProblem("relu_mlp", model, x_true, frozenset({"relu"}),
                                x0=x_true + 0.01 * rng.normal(size=x_true.shape)))
    # bounded: a wide linear layer whose minimum-norm preimage violates the bounds
    w = np.array([[1.0], [1.0], [1.0]])
    out.append(CatalogueProblem(
        "bounded_wide_linear", sr.Sequential([sr.Dense(w, [0.0])]), np.array([[1.5, 0.8, 1.2], [1.4, 0.1, 0.2]]),
        frozenset({"bounded", "wide"}), bounds=(np.array([1.3, 0.0, 0.0]), np.array([2.0, 2.0, 2.0]))))
    # bounded tanh: answer inside the box, start at a corner
    model = sr.Sequential([sr.Dense(_orth(rng, 2), [0.1, -0.1], "tanh"), sr.Dense(_orth(rng, 2), None, "tanh")])
    out.append(CatalogueProblem("bounded_tanh", model, np.array([[0.3, -0.2], [0.5, 0.5]]), frozenset({"bounded"}),
                                x0=np.array([[1.0, 1.0], [1.0, 1.0]]), bounds=(-1.0, 1.0)))
    return tuple(out)


CATALOGUE: tuple[CatalogueProblem, ...] = _build()


def by_kind(kind: str) -> tuple[CatalogueProblem, ...]:
    """The catalogue problems that exercise ``kind``."""
    return tuple(p for p in CATALOGUE if kind in p.kinds)
