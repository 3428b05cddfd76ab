"""What the layer builders share: the walk's context, the builder table's types, config checks.

Used by ``_activation_layers.py`` and ``_build.py``; see the latter for the
allow-list itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..activations import Activation
from ..errors import ModelFormatError, UnsupportedLayerError
from ..models import AbstractLayer
from ._config import Node

#: Numerical floor Keras's Normalization layer puts under the standard deviation.
NORMALIZATION_EPSILON = 1e-7

#: Layers without a kernel (BatchNormalization, Normalization, an activation
#: layer that cannot fold into a preceding linear Dense) become a Dense with a
#: diagonal or identity ``width x width`` matrix, the only layer form the
#: solvers read.  The width may come from nothing but a number in the config,
#: so such layers are refused beyond this width (32 MiB per matrix) and beyond
#: :data:`MAX_SQUARE_BYTES` for all of them together.
MAX_SQUARE_WIDTH = 2048
MAX_SQUARE_BYTES = 64 * 2**20


@dataclass
class Context:
    """What the builders know while walking a chain.

    Attributes
    ----------
    where : str
        The file (for messages).
    keras_major : int
        Major Keras version that wrote the file (2 selects Keras 2 formulas).
    width : int or None
        Width of the current activations (None until known).
    seq : bool or None
        Whether the current activations have a time axis (None: unknown).
    square_bytes : int
        Bytes of the square matrices built so far (see :data:`MAX_SQUARE_BYTES`).
    """

    where: str
    keras_major: int = 3
    width: int | None = None
    seq: bool | None = None
    square_bytes: int = 0


@dataclass(frozen=True)
class ActivationOut:
    """A builder's request for an elementwise activation (folded or wrapped later)."""

    activation: Activation
    name: str


#: A forward-only layer waiting for its width.
LayerFactory = Callable[[int], AbstractLayer]
Resolved = Activation | LayerFactory
Built = AbstractLayer | ActivationOut


@dataclass(frozen=True)
class Kind:
    """How to read one Keras layer class.

    Attributes
    ----------
    build : callable
        ``build(node, arrays, ctx) -> list of AbstractLayer | ActivationOut``.
    weights : callable
        ``weights(config) -> list of (name, trainable)`` in ``get_weights()`` order.
    var_path : str
        Where the variables sit under the layer's group in a Keras 3 weights file.
    """

    build: Callable[[Node, list, Context], list]
    weights: Callable[[dict], list[tuple[str, bool]]] = field(default=lambda cfg: [])
    var_path: str = "vars"


def _where(ctx: Context, node: Node) -> str:
    return f"{ctx.where}: layer {node.name!r} ({node.class_name})"


def _unsupported(ctx: Context, node: Node, why: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(f"{_where(ctx, node)}: {why}")


def _bad(ctx: Context, node: Node, why: str) -> ModelFormatError:
    return ModelFormatError(f"{_where(ctx, node)}: {why}")


def _number(ctx: Context, node: Node, key: str, default: Any, allow_none: bool = False) -> float | None:
    value = node.config.get(key, default)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise _bad(ctx, node, f"config {key!r} must be a finite number; got {value!r}")
    return float(value)


def _check_shape(ctx: Context, node: Node, what: str, arr: np.ndarray, shape: tuple) -> np.ndarray:
    if arr.shape != shape:
        raise _bad(ctx, node, f"weight {what!r} has shape {arr.shape}; expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise _bad(ctx, node, f"weight {what!r} contains NaN or inf")
    return arr


def _axis_is_last(ctx: Context, node: Node, axis: Any) -> bool:
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    if axis == -1:
        return True
    rank = 3 if ctx.seq else 2
    return isinstance(axis, int) and not isinstance(axis, bool) and axis == rank - 1


def _check_square(ctx: Context, node: Node, width: int) -> None:
    """Refuse a ``width x width`` matrix beyond :data:`MAX_SQUARE_WIDTH` / :data:`MAX_SQUARE_BYTES`."""
    if width > MAX_SQUARE_WIDTH or ctx.square_bytes + 8 * width * width > MAX_SQUARE_BYTES:
        raise _bad(ctx, node, f"would become a Dense layer with a {width} x {width} diagonal matrix; layers without "
                   f"a kernel are limited to {MAX_SQUARE_WIDTH} units and {MAX_SQUARE_BYTES // 2**20} MiB of such "
                   "matrices per model")


def _reserve_square(ctx: Context, node: Node, width: int) -> None:
    _check_square(ctx, node, width)
    ctx.square_bytes += 8 * width * width


def _need_width(ctx: Context, node: Node) -> int:
    if ctx.width is None:
        raise _bad(ctx, node, "the input width is unknown here (no InputLayer shape and no weighted layer before it)")
    return ctx.width

