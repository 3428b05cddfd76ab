"""Hypothesis strategies for random, well-conditioned networks (shared by the test suites).

Every network these strategies build is *well-conditioned by construction*:

* kernels are ``U diag(s) V^T`` with random orthonormal ``U``, ``V`` and
  singular values ``s`` in ``[s_min, s_max]`` (default ``[0.5, 1.0]``), so
  the inverse or pseudo-inverse never amplifies errors by more than ``1/s_min``;
* biases *centre* each layer: ``b^{(l)} = -a^{(l-1)}(0) W^{(l)} + small``,
  so an input near 0 gives pre-activations near 0 in every layer, where
  every activation is far from saturating (sigmoid/tanh near 0.5/0, exp near 1).

Draw inputs with :func:`inputs_for` (``|x| <= 1/sqrt(n_in)`` by default) and
the pre-activations stay in about ``[-1.5, 1.5]``: round trips are then
accurate to ~1e-12 relative.

The *hard* strategies leave that comfort zone on purpose, so that property tests
check the verdict (infeasible / not invertible / not converged / success with a
small residual) where solvers are most likely to get it wrong:

* :func:`saturating_cases` — a tanh/sigmoid network and an input whose
  first-layer pre-activation reaches a drawn level in ``[4, 40]`` (+-0.3; beyond
  ~19 for tanh and ~37 for sigmoid the output rounds to the image's bound);
* :func:`ill_conditioned_kernels` / :func:`ill_conditioned_networks` — square
  kernels with condition numbers ``1e4 .. 1e12``;
* :func:`rank_deficient_networks` — a square kernel with an exactly repeated
  column (no closed form; the target stays reachable);
* :func:`unreachable_cases` — ``tanh`` hidden units summed by a linear layer and
  a target beyond what they can sum to (inside the output layer's image, out
  of the network's reach).

Examples
--------
>>> from hypothesis import given
>>> @given(invertible_networks(max_depth=2))
... def test_widths(model):
...     assert model.n_in == model.n_out
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import symrecon as sr
from symrecon import activations

__all__ = [
    "INVERTIBLE_NAMES",
    "NON_INVERTIBLE_NAMES",
    "ill_conditioned_kernels",
    "ill_conditioned_networks",
    "inputs_for",
    "rank_deficient_networks",
    "saturating_cases",
    "unreachable_cases",
    "invertible_activations",
    "invertible_networks",
    "well_conditioned_kernels",
    "wide_first_networks",
]

#: registry names whose default activation is strictly monotone (has an inverse)
INVERTIBLE_NAMES: tuple[str, ...] = tuple(n for n in activations.names() if activations.get(n).is_invertible)
#: the others (relu, gelu, silu, hard_sigmoid, relu6, ...)
NON_INVERTIBLE_NAMES: tuple[str, ...] = tuple(n for n in activations.names() if not activations.get(n).is_invertible)

#: parametrised invertible variants: name -> (parameter, low, high)
_PARAMETRISED = {"leaky_relu": ("negative_slope", 0.05, 0.9), "elu": ("alpha", 0.3, 3.0)}


@st.composite
def invertible_activations(draw, names: tuple[str, ...] | None = None) -> activations.Activation:
    """Any invertible activation of the registry, parametrised ones with random parameters."""
    name = draw(st.sampled_from(names or INVERTIBLE_NAMES))
    if name in _PARAMETRISED and draw(st.booleans()):
        param, lo, hi = _PARAMETRISED[name]
        value = draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False))
        return activations.get(name, **{param: value})
    return activations.get(name)


def _orthonormal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))  # a uniformly random orthogonal matrix


@st.composite
def well_conditioned_kernels(draw, n_in: int, n_out: int, s_min: float = 0.5, s_max: float = 1.0) -> np.ndarray:
    """A ``(n_in, n_out)`` kernel of full rank with singular values in ``[s_min, s_max]``."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = min(n_in, n_out)
    s = draw(st.lists(st.floats(s_min, s_max), min_size=k, max_size=k))
    u = _orthonormal(rng, n_in)[:, :k]
    v = _orthonormal(rng, n_out)[:, :k]
    return (u * np.asarray(s)) @ v.T


def _centred_bias(draw, prev_activation_at_0: np.ndarray, kernel: np.ndarray, jitter: float) -> np.ndarray:
    shift = draw(st.lists(st.floats(-jitter, jitter), min_size=kernel.shape[1], max_size=kernel.shape[1]))
    return -(prev_activation_at_0 @ kernel) + np.asarray(shift)


def _build(draw, widths: list[int], acts, jitter: float, s_min: float, s_max: float) -> sr.Sequential:
    layers = []
    a0 = np.zeros(widths[0])
    for i, act in enumerate(acts):
        kernel = draw(well_conditioned_kernels(widths[i], widths[i + 1], s_min, s_max))
        bias = _centred_bias(draw, a0, kernel, jitter)
        layer = sr.Dense(kernel, bias, act, name=f"dense_{i}")
        a0 = layer.forward(a0)
        layers.append(layer)
    return sr.Sequential(layers)


@st.composite
def invertible_networks(draw, min_depth: int = 1, max_depth: int = 4, min_width: int = 1, max_width: int = 8,
                        activation_names: tuple[str, ...] | None = None, jitter: float = 0.3,
                        s_min: float = 0.5, s_max: float = 1.0) -> sr.Sequential:
    """A chain of square, full-rank Dense layers with invertible activations.

    Parameters
    ----------
    min_depth, max_depth : int
        Number of layers.
    min_width, max_width : int
        The common width ``n`` (every kernel is ``n x n``).
    activation_names : tuple of str, optional
        Restrict the activations (default: every invertible one).
    jitter : float
        Bias offset around the centring value.
    s_min, s_max : float
        Range of the kernels' singular values.
    """
    depth = draw(st.integers(min_depth, max_depth))
    n = draw(st.integers(min_width, max_width))
    acts = [draw(invertible_activations(activation_names)) for _ in range(depth)]
    return _build(draw, [n] * (depth + 1), acts, jitter, s_min, s_max)


@st.composite
def wide_first_networks(draw, max_depth: int = 3, max_width: int = 8, max_extra_inputs: int = 4,
                        activation_names: tuple[str, ...] | None = None, jitter: float = 0.3) -> sr.Sequential:
    """A wide first layer (``n_in > n_out``, full row rank) followed by square invertible layers."""
    depth = draw(st.integers(1, max_depth))
    n = draw(st.integers(1, max_width))
    n_in = n + draw(st.integers(1, max_extra_inputs))
    acts = [draw(invertible_activations(activation_names)) for _ in range(depth)]
    return _build(draw, [n_in] + [n] * depth, acts, jitter, 0.5, 1.0)


@st.composite
def inputs_for(draw, model: sr.Sequential, n_rows: int | None = None, scale: float | None = None) -> np.ndarray:
    """Inputs ``(n_in,)`` (or ``(n_rows, n_in)``) with ``|x_i| <= scale`` (default ``1/sqrt(n_in)``)."""
    if scale is None:
        scale = 1.0 / np.sqrt(model.n_in)
    shape = model.n_in if n_rows is None else n_rows * model.n_in
    values = draw(st.lists(st.floats(-scale, scale, allow_nan=False), min_size=shape, max_size=shape))
    x = np.asarray(values, dtype=np.float64)
    return x if n_rows is None else x.reshape(n_rows, model.n_in)


# --------------------------------------------------------------------------------------------------
# hard cases: saturation, ill-conditioning, rank deficiency, unreachable targets

@st.composite
def ill_conditioned_kernels(draw, n: int, min_log10_cond: float = 4.0, max_log10_cond: float = 12.0) -> np.ndarray:
    """A square ``n x n`` kernel (``n >= 2``) with singular values ``1 .. 10**-c``, ``c`` drawn."""
    c = draw(st.floats(min_log10_cond, max_log10_cond))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    s = np.logspace(0.0, -c, n)
    return (_orthonormal(rng, n) * s) @ _orthonormal(rng, n).T


@st.composite
def ill_conditioned_networks(draw, max_depth: int = 2, max_width: int = 6,
                             activation_names: tuple[str, ...] = ("linear", "tanh", "sigmoid", "softplus")):
    """Square invertible layers, the first one ill-conditioned (``cond`` in ``1e4 .. 1e12``), centred biases."""
    depth = draw(st.integers(1, max_depth))
    n = draw(st.integers(2, max_width))
    layers, a0 = [], np.zeros(n)
    for i in range(depth):
        act = activations.get(draw(st.sampled_from(activation_names)))
        kernel = draw(ill_conditioned_kernels(n)) if i == 0 else draw(well_conditioned_kernels(n, n))
        layer = sr.Dense(kernel, _centred_bias(draw, a0, kernel, 0.1), act, name=f"dense_{i}")
        a0 = layer.forward(a0)
        layers.append(layer)
    return sr.Sequential(layers)


@st.composite
def rank_deficient_networks(draw, max_width: int = 5):
    """One square tanh layer whose kernel repeats a column exactly (rank ``n - 1``), then a linear one."""
    n = draw(st.integers(2, max_width))
    kernel = draw(well_conditioned_kernels(n, n)).copy()
    i, j = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
    kernel[:, j] = kernel[:, i]
    bias = np.asarray(draw(st.lists(st.floats(-0.3, 0.3), min_size=n, max_size=n)))
    return sr.Sequential([sr.Dense(kernel, bias, "tanh", name="dense_0"),
                          sr.Dense(draw(well_conditioned_kernels(n, n)), np.zeros(n), "linear", name="dense_1")])


@st.composite
def saturating_cases(draw, max_width: int = 4):
    """``(model, x, level)``: a square tanh/sigmoid network and an input whose largest first-layer
    pre-activation ``level`` is at least 3.7 (drawn in ``[4, 40]``, give or take the bias), so the
    network is driven into saturation."""
    n = draw(st.integers(1, max_width))
    depth = draw(st.integers(1, 2))
    acts = [activations.get(draw(st.sampled_from(("tanh", "sigmoid")))) for _ in range(depth)]
    model = _build(draw, [n] * (depth + 1), acts, 0.3, 0.5, 1.0)
    direction = np.asarray(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)))
    z0 = direction @ model.layers[0].kernel
    if np.max(np.abs(z0)) <= 1e-3:  # a direction the kernel (nearly) ignores: use the ones vector
        direction, z0 = np.ones(n), np.ones(n) @ model.layers[0].kernel
    level = draw(st.floats(4.0, 40.0))
    b = model.layers[0].bias
    # scale the direction so that max |x W| = level; the first bias is the jitter (|b| <= 0.3, the layer before
    # is the input, centred at 0), so max |x W + b| >= level - 0.3 >= 3.7
    x = (level / np.max(np.abs(z0))) * direction
    return model, x, float(np.max(np.abs(x @ model.layers[0].kernel + b)))


@st.composite
def unreachable_cases(draw, max_hidden: int = 4):
    """``(model, y, sup)``: ``y = sum_j w_j tanh(x a_j + c_j) + b`` with ``w > 0``; the target ``y`` lies
    beyond ``sup = sum(w) + b`` (no input reaches it, though the linear output layer could output it)."""
    h = draw(st.integers(1, max_hidden))
    a = np.asarray(draw(st.lists(st.floats(0.2, 2.0), min_size=h, max_size=h)))
    c = np.asarray(draw(st.lists(st.floats(-1.0, 1.0), min_size=h, max_size=h)))
    w = np.asarray(draw(st.lists(st.floats(0.2, 2.0), min_size=h, max_size=h)))
    b = draw(st.floats(-1.0, 1.0))
    sup = float(np.sum(w) + b)
    y = sup + draw(st.floats(0.05, 10.0))
    model = sr.Sequential([sr.Dense(a[None, :], c, "tanh", name="hidden"),
                           sr.Dense(w[:, None], [b], "linear", name="out")])
    return model, np.array([y]), sup
