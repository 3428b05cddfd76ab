"""Error types raised by symrecon.

Every error derives from :class:`SymreconError`, so ``except SymreconError``
catches anything this library raises on purpose.  Errors about values also
derive from :class:`ValueError` so that generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "SymreconError",
    "InvalidValueError",
    "InvalidParameterError",
    "ShapeError",
    "InfeasibleTargetError",
    "NotInvertibleError",
    "ModelFormatError",
    "UnsupportedLayerError",
    "CapabilityError",
]


class SymreconError(Exception):
    """Base class of every error symrecon raises on purpose."""


class InvalidValueError(SymreconError, ValueError):
    """A value is not acceptable: NaN/inf, a non-positive tolerance, inverted bounds, ..."""


class InvalidParameterError(InvalidValueError, TypeError):
    """An option or parameter has the wrong type or value.

    Both a :class:`ValueError` and a :class:`TypeError` (as in scikit-learn),
    so that callers catching either keep working.  The message names the
    parameter, what was expected and what was given.
    """


class ShapeError(InvalidValueError):
    """An array has the wrong shape; the message names the expected and the given shape."""


class InfeasibleTargetError(InvalidValueError):
    """The target lies outside what the network can output.

    Attributes
    ----------
    layer : str or None
        Name of the layer whose activation cannot produce the value.
    unit : int or None
        Index of the unit (output column) inside that layer.
    value : float or None
        The offending value.
    interval : sympy.Interval or None
        The image of the activation, i.e. the values it can produce.
    """

    def __init__(self, message: str, *, layer=None, unit=None, value=None, interval=None):
        super().__init__(message)
        self.layer = layer
        self.unit = unit
        self.value = value
        self.interval = interval


class NotInvertibleError(SymreconError):
    """No closed-form inverse exists; ``reason`` says which layer and why.

    Attributes
    ----------
    layer : str or None
        Name of the layer that blocks the inversion.
    reason : str
        Short reason: ``"shape"``, ``"rank"``, ``"activation"`` or ``"layer"``.
    """

    def __init__(self, message: str, *, layer=None, reason: str = ""):
        super().__init__(message)
        self.layer = layer
        self.reason = reason


class ModelFormatError(SymreconError):
    """A model file is unreadable, malformed or unsafe; names the file and the part."""


class UnsupportedLayerError(SymreconError):
    """A layer kind that symrecon cannot represent; names the layer and its class."""


class CapabilityError(SymreconError, ValueError):
    """A solver was asked for something it does not support (e.g. bounds)."""
