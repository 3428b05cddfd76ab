"""Activations in Keras configs: strings, activation objects and activation layers.

Strings map onto the :mod:`symrecon.activations` registry; activation layers
(``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``) become either
a registry activation (folded into a preceding linear Dense later) or a
forward-only layer from :mod:`symrecon.layers` when they act on the whole
vector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import activations as _activations
from ..activations import Activation
from ..errors import InvalidValueError
from ..layers import Softmax, ThresholdedReLU
from ._buildbase import (
    ActivationOut,
    Built,
    Context,
    Kind,
    Resolved,
    _axis_is_last,
    _bad,
    _need_width,
    _number,
    _unsupported,
)
from ._config import Node, parse_model

#: The hard sigmoid's slope changed between Keras 2 (0.2) and Keras 3 (1/6).
HARD_SIGMOID_BY_MAJOR = {2: "hard_sigmoid_keras2", 3: "hard_sigmoid"}


def resolve_activation(value: Any, node: Node, ctx: Context) -> Resolved:
    """An activation from a config value (string, None or layer dict).

    Returns a registry :class:`Activation` or, for activations that act on
    the whole vector (softmax, a general ReLU), a factory of a forward-only layer.
    """
    if value is None:
        return _activations.get("linear")
    if isinstance(value, str):
        if value == "softmax":
            return lambda width: Softmax(width, name=f"{node.name}_softmax")
        if value == "hard_sigmoid":
            return _activations.get(HARD_SIGMOID_BY_MAJOR.get(ctx.keras_major, "hard_sigmoid"))
        # The activation table lists the strings Keras writes for each entry.
        if value not in _activations.keras_names():
            supported = ", ".join(sorted([*_activations.keras_names(), "hard_sigmoid", "softmax"]))
            raise _unsupported(ctx, node, f"activation {value!r} is not supported; supported: {supported}")
        return _activations.from_keras(value)
    if isinstance(value, dict):
        sub = parse_model(value, ctx.where)
        rule = ACTIVATION_LAYERS.get(sub.class_name)
        if rule is None:
            raise _unsupported(ctx, node, f"activation given as a {sub.class_name!r} object is not supported; "
                               f"supported: strings or {sorted(ACTIVATION_LAYERS)}")
        return rule(sub, ctx)
    raise _bad(ctx, node, f"activation must be a string or a layer object; got {value!r}")


def _float(ctx: Context, node: Node, key: str, default: float) -> float:
    """A config number that must be present (``_number`` without ``allow_none``)."""
    value = _number(ctx, node, key, default)
    if value is None:  # _number returns None only with allow_none=True; it refuses a None value otherwise
        raise _bad(ctx, node, f"config {key!r} must be a finite number; got None")
    return value


def _activation_layer(node: Node, ctx: Context) -> Resolved:
    return resolve_activation(node.config.get("activation", "linear"), node, ctx)


def _relu_layer(node: Node, ctx: Context) -> Resolved:
    max_value = _number(ctx, node, "max_value", None, allow_none=True)
    slope = _float(ctx, node, "negative_slope", 0.0)
    threshold = _float(ctx, node, "threshold", 0.0)
    # Map onto the registry where the formula is exactly one of its members.
    if threshold == 0.0 and max_value is None:
        return _activations.get("relu") if slope == 0.0 else _activations.get("leaky_relu", negative_slope=slope)
    if threshold == 0.0 and slope == 0.0 and max_value == 6.0:
        return _activations.get("relu6")
    try:
        ThresholdedReLU(1, max_value, slope, threshold)
    except InvalidValueError as exc:
        raise _bad(ctx, node, str(exc)) from None
    return lambda width: ThresholdedReLU(width, max_value, slope, threshold, name=node.name)


def _leaky_relu_layer(node: Node, ctx: Context) -> Resolved:
    # Keras 3 calls it negative_slope, Keras 2 alpha; the layer's default is 0.3.
    key = "negative_slope" if "negative_slope" in node.config else "alpha"
    return _activations.get("leaky_relu", negative_slope=_float(ctx, node, key, 0.3))


def _elu_layer(node: Node, ctx: Context) -> Resolved:
    alpha = _float(ctx, node, "alpha", 1.0)
    if alpha <= 0:
        raise _unsupported(ctx, node, f"ELU with alpha = {alpha:g} <= 0 is not supported")
    return _activations.get("elu", alpha=alpha)


def _softmax_layer(node: Node, ctx: Context) -> Resolved:
    if not _axis_is_last(ctx, node, node.config.get("axis", -1)):
        raise _unsupported(ctx, node, f"softmax over axis {node.config.get('axis')!r} is not supported (only the "
                           "last axis)")
    return lambda width: Softmax(width, name=node.name)


ACTIVATION_LAYERS: dict[str, Callable[[Node, Context], Resolved]] = {
    "Activation": _activation_layer,
    "ReLU": _relu_layer,
    "LeakyReLU": _leaky_relu_layer,
    "ELU": _elu_layer,
    "Softmax": _softmax_layer,
}


def _emit(resolved: Resolved, node: Node, ctx: Context) -> list[Built]:
    if isinstance(resolved, Activation):
        return [ActivationOut(resolved, node.name)]
    return [resolved(_need_width(ctx, node))]


def _activation_kind(rule: Callable[[Node, Context], Resolved]) -> Kind:
    return Kind(lambda node, w, ctx: _emit(rule(node, ctx), node, ctx))
