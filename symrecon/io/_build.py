"""The allow-list: Keras class names mapped onto symrecon layer builders.

:data:`KINDS` is the only place that knows which Keras layers symrecon reads.
Each :class:`Kind` says which weights the layer has (names in Keras's
``get_weights()`` order, and whether each is trainable: legacy HDF5 files
group a nested model's weights by that flag) and how to build symrecon layers
from the config and the float64 arrays.  A class name missing from the table
is an :class:`~symrecon.errors.UnsupportedLayerError`; nothing is ever imported
by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..activations import Activation
from ..errors import InvalidValueError, ShapeError, UnsupportedLayerError
from ..models import AbstractLayer, Dense
from ..recurrent import GRU, LSTM, SimpleRNN
from ._activation_layers import ACTIVATION_LAYERS, _activation_kind, resolve_activation
from ._buildbase import (
    MAX_SQUARE_BYTES,
    MAX_SQUARE_WIDTH,
    NORMALIZATION_EPSILON,
    ActivationOut,
    Built,
    Context,
    Kind,
    _axis_is_last,
    _bad,
    _check_shape,
    _check_square,
    _need_width,
    _number,
    _reserve_square,
    _unsupported,
)
from ._config import Node

__all__ = ["KINDS", "MAX_SQUARE_BYTES", "MAX_SQUARE_WIDTH", "Context", "Kind", "build_layers", "expected_weights",
           "kind_of", "resolve_activation"]


# ---------------------------------------------------------------------------
# Weighted layers


def _dense_weights(cfg: dict) -> list[tuple[str, bool]]:
    return [("kernel", True)] + ([("bias", True)] if cfg.get("use_bias", True) else [])


def _dense(node: Node, w: list, ctx: Context) -> list[Built]:
    units = node.config.get("units")
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise _bad(ctx, node, f"config 'units' must be a positive integer; got {units!r}")
    n_in = ctx.width if ctx.width is not None else (w[0].shape[0] if w[0].ndim == 2 else -1)
    kernel = _check_shape(ctx, node, "kernel", w[0], (n_in, units))
    bias = _check_shape(ctx, node, "bias", w[1], (units,)) if len(w) > 1 else None
    act = resolve_activation(node.config.get("activation", "linear"), node, ctx)
    if isinstance(act, Activation):
        return [Dense(kernel, bias, act, name=node.name)]
    return [Dense(kernel, bias, "linear", name=node.name), act(units)]


def _bn_weights(cfg: dict) -> list[tuple[str, bool]]:
    names = [("gamma", True)] if cfg.get("scale", True) else []
    names += [("beta", True)] if cfg.get("center", True) else []
    return names + [("moving_mean", False), ("moving_variance", False)]


def _affine(node: Node, ctx: Context, scale: np.ndarray, shift: np.ndarray) -> list[Built]:
    # A per-unit affine map is a diagonal Dense: exact, and invertible iff no scale is 0.
    _reserve_square(ctx, node, scale.shape[0])
    return [Dense(np.diag(scale), shift, "linear", name=node.name)]


def _batch_norm(node: Node, w: list, ctx: Context) -> list[Built]:
    if not _axis_is_last(ctx, node, node.config.get("axis", -1)):
        raise _unsupported(ctx, node, f"normalising over axis {node.config.get('axis')!r} is not supported "
                           "(only the last, feature axis)")
    width = ctx.width if ctx.width is not None else (w[-1].shape[0] if w[-1].ndim == 1 else -1)
    named = dict(zip((n for n, _ in _bn_weights(node.config)), w))
    for key, arr in named.items():
        _check_shape(ctx, node, key, arr, (width,))
    eps = _number(ctx, node, "epsilon", 1e-3)
    gamma = named.get("gamma", np.ones(width))
    beta = named.get("beta", np.zeros(width))
    var = named["moving_variance"]
    if np.any(var + eps <= 0):
        raise _bad(ctx, node, "moving_variance + epsilon must be positive")
    scale = gamma / np.sqrt(var + eps)
    return _affine(node, ctx, scale, beta - named["moving_mean"] * scale)


def _norm_weights(cfg: dict) -> list[tuple[str, bool]]:
    if cfg.get("mean") is not None:
        return []  # mean and variance given in the config: no variables
    return [("mean", False), ("variance", False), ("count", False)]


def _normalization(node: Node, w: list, ctx: Context) -> list[Built]:
    cfg = node.config
    if not _axis_is_last(ctx, node, cfg.get("axis", -1)):
        raise _unsupported(ctx, node, f"normalising over axis {cfg.get('axis')!r} is not supported (only the "
                           "last, feature axis)")
    if cfg.get("mean") is not None:
        try:
            mean = np.asarray(cfg["mean"], dtype=np.float64)
            var = np.asarray(cfg.get("variance"), dtype=np.float64)
        except (TypeError, ValueError):
            raise _bad(ctx, node, "config 'mean'/'variance' must be numbers or lists of numbers") from None
    else:
        mean, var = w[0], w[1]
    width = ctx.width if ctx.width is not None else mean.size
    _check_square(ctx, node, width)  # before any array of a width that may come from the config alone
    try:
        # Adapted statistics may carry leading 1-axes (broadcast shape); a scalar applies to every unit.
        mean = np.broadcast_to(mean.reshape(-1) if mean.size == width else mean.reshape(()), (width,))
        var = np.broadcast_to(var.reshape(-1) if var.size == width else var.reshape(()), (width,))
    except ValueError:
        raise _bad(ctx, node, f"mean/variance of shapes {mean.shape}/{var.shape} do not fit width {width}") from None
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))) or np.any(var < 0):
        raise _bad(ctx, node, "mean/variance must be finite and the variance non-negative")
    std = np.maximum(np.sqrt(var), NORMALIZATION_EPSILON)
    if cfg.get("invert", False):
        return _affine(node, ctx, std, mean.copy())
    return _affine(node, ctx, 1.0 / std, -mean / std)


def _identity(node: Node, w: list, ctx: Context) -> list[Built]:
    return []


def _flatten(node: Node, w: list, ctx: Context) -> list[Built]:
    if ctx.seq:
        raise _unsupported(ctx, node, "Flatten over a time axis changes the shape; only a Flatten of 1-D "
                           "feature vectors (a no-op) is supported")
    return []


def _rnn_weights(cfg: dict) -> list[tuple[str, bool]]:
    names = [("kernel", True), ("recurrent_kernel", True)]
    return names + ([("bias", True)] if cfg.get("use_bias", True) else [])


def _recurrent(cls: type, gates: int) -> Callable[[Node, list, Context], list[Built]]:
    def build(node: Node, w: list, ctx: Context) -> list[Built]:
        cfg = node.config
        if ctx.seq is False:
            raise _bad(ctx, node, "a recurrent layer needs a sequence input (N, T, features), but its input has "
                       "no time axis")
        if cfg.get("time_major"):
            raise _unsupported(ctx, node, "time_major=True is not supported")
        units = cfg.get("units")
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise _bad(ctx, node, f"config 'units' must be a positive integer; got {units!r}")
        n_in = ctx.width if ctx.width is not None else (w[0].shape[0] if w[0].ndim == 2 else -1)
        kernel = _check_shape(ctx, node, "kernel", w[0], (n_in, gates * units))
        rec = _check_shape(ctx, node, "recurrent_kernel", w[1], (units, gates * units))
        kwargs: dict[str, Any] = {}
        if cls is GRU:
            kwargs["reset_after"] = bool(cfg.get("reset_after", True))
            bias_shape = (2, 3 * units) if kwargs["reset_after"] else (3 * units,)
        else:
            bias_shape = (gates * units,)
        bias = _check_shape(ctx, node, "bias", w[2], bias_shape) if len(w) > 2 else None
        for key, default in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
            if key == "recurrent_activation" and cls is SimpleRNN:
                continue
            act = resolve_activation(cfg.get(key, default), node, ctx)
            if not isinstance(act, Activation):
                raise _unsupported(ctx, node, f"{key} {cfg.get(key)!r} is not an elementwise activation")
            kwargs[key] = act
        layer = cls(kernel, rec, bias, return_sequences=bool(cfg.get("return_sequences", False)),
                    go_backwards=bool(cfg.get("go_backwards", False)), name=node.name, **kwargs)
        ctx.seq = layer.return_sequences
        return [layer]

    return build


#: Layers that compute the identity at inference time.
IDENTITY_CLASSES = ("InputLayer", "Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise",
                    "SpatialDropout1D", "ActivityRegularization", "Identity")

#: The allow-list: Keras class name -> how symrecon reads it.
KINDS: dict[str, Kind] = {
    "Dense": Kind(_dense, _dense_weights),
    "BatchNormalization": Kind(_batch_norm, _bn_weights),
    "Normalization": Kind(_normalization, _norm_weights),
    "Flatten": Kind(_flatten),
    "SimpleRNN": Kind(_recurrent(SimpleRNN, 1), _rnn_weights, "cell/vars"),
    "LSTM": Kind(_recurrent(LSTM, 4), _rnn_weights, "cell/vars"),
    "GRU": Kind(_recurrent(GRU, 3), _rnn_weights, "cell/vars"),
    **{name: Kind(_identity) for name in IDENTITY_CLASSES},
    **{name: _activation_kind(rule) for name, rule in ACTIVATION_LAYERS.items()},
}


def kind_of(node: Node, ctx_where: str) -> Kind:
    """The :class:`Kind` of a leaf node, or UnsupportedLayerError naming layer and class."""
    kind = KINDS.get(node.class_name)
    if kind is None:
        raise UnsupportedLayerError(
            f"{ctx_where}: layer {node.name!r} of class {node.class_name!r} is not supported; supported classes: "
            f"{', '.join(sorted(KINDS))}, and Sequential/Functional chains of them")
    return kind


def expected_weights(node: Node, where: str) -> list[tuple[str, bool]]:
    """``(name, trainable)`` of a leaf's weights, ``trainable`` False inside frozen layers."""
    return [(n, t and node.trainable) for n, t in kind_of(node, where).weights(node.config)]


# ---------------------------------------------------------------------------
# Chain assembly


def _initial_shape(ctx: Context, shape: tuple | None, node: Node) -> None:
    if shape is None or ctx.width is not None:
        return
    last = shape[-1]
    if len(shape) > 2:
        raise UnsupportedLayerError(f"{ctx.where}: model {node.name!r} takes inputs of shape {shape}; only "
                                    "vectors (features,) and sequences (time, features) are supported")
    if isinstance(last, int) and last > 0:
        ctx.width = last
        ctx.seq = len(shape) == 2


def build_layers(node: Node, weights: dict[int, list[np.ndarray]], ctx: Context) -> list[AbstractLayer]:
    """Walk a container's chain and build symrecon layers.

    ``weights`` maps ``id(leaf node)`` to its arrays (float64, in
    :func:`expected_weights` order).  Elementwise activation layers are folded
    into a directly preceding linear :class:`Dense`; otherwise they become
    ``Dense(eye, 0, activation)``.
    """
    _initial_shape(ctx, node.input_shape, node)
    out: list[AbstractLayer] = []
    for child in node.chain:
        if child.is_container:
            produced: list[Built] = list(build_layers(child, weights, ctx))
        else:
            kind = kind_of(child, ctx.where)
            arrays = weights.get(id(child), [])
            n_expected = len(kind.weights(child.config))
            if len(arrays) != n_expected:
                raise _bad(ctx, child, f"expected {n_expected} weight arrays, found {len(arrays)}")
            try:
                produced = kind.build(child, arrays, ctx)
            except (ShapeError, InvalidValueError) as exc:
                raise _bad(ctx, child, str(exc)) from None
        for item in produced:
            if isinstance(item, ActivationOut):
                prev = out[-1] if out else None
                if isinstance(prev, Dense) and prev.activation.name == "linear":
                    out[-1] = Dense(prev.kernel, prev.bias, item.activation, name=prev.name)
                    continue
                width = _need_width(ctx, child)
                _reserve_square(ctx, child, width)
                item = Dense(np.eye(width), np.zeros(width), item.activation, name=item.name)
            out.append(item)
            ctx.width = item.n_out
    return out
