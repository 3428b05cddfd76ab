"""The activation table.

Each activation is one frozen :class:`Activation` holding everything symrecon
needs to know about it: the SymPy form (for derivations), the NumPy form and
its derivative (for numeric forward passes and solvers), its image (the set
of values it can output, a SymPy ``Interval``), its inverse where it is
strictly monotone or the reason it has none, its LaTeX name, the strings
Keras writes for it, and the ``kernel_code`` and ``param`` the numba formulas
(:mod:`symrecon.backends.numba.activations`) dispatch on.

Examples
--------
>>> from symrecon import activations
>>> sig = activations.get("sigmoid")
>>> float(sig.numpy(0.0))
0.5
>>> sig.image
Interval.open(0, 1)
>>> lrelu = activations.get("leaky_relu", negative_slope=0.1)
>>> lrelu.is_invertible
True
>>> activations.from_keras("swish").name
'silu'
"""

from __future__ import annotations

from functools import cache

from ..errors import InvalidValueError
from ._core import SELU_ALPHA, SELU_SCALE, Activation, ImageStep, KernelCode, Y, Z
from ._table import ACTIVATIONS

__all__ = [
    "ACTIVATIONS", "Activation", "ImageStep", "KernelCode", "SELU_ALPHA", "SELU_SCALE", "Y", "Z",
    "from_keras", "from_kernel_code", "get", "keras_names", "names",
]

_CACHE: dict[tuple, Activation] = {}


def names() -> tuple[str, ...]:
    """All registered activation names (aliases included), sorted."""
    return tuple(sorted(ACTIVATIONS))


def get(name: str | Activation | None, **params: float) -> Activation:
    """Look up an activation by name, with its parameters.

    Parameters
    ----------
    name : str, Activation or None
        A registry name (see :func:`names`); None means ``"linear"``; an
        :class:`Activation` is returned unchanged (``params`` must be empty).
    **params : float
        Parameters of parametrised activations (``leaky_relu(negative_slope=)``,
        ``elu(alpha=)``, ``hard_sigmoid(slope=)``).

    Returns
    -------
    Activation

    Raises
    ------
    InvalidValueError
        Unknown name (the message lists the valid ones) or bad parameter.
    """
    if isinstance(name, Activation):
        if params:
            raise TypeError(f"parameters {sorted(params)} given with an Activation object")
        return name
    if name is None:
        name = "linear"
    if name == "softmax":
        raise InvalidValueError("'softmax' acts on the whole output vector, not on each unit, so it is a layer: "
                                "write Sequential([Dense(kernel, bias), Softmax(n)]) (what load_keras makes of "
                                "Dense(..., activation='softmax'))")
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise InvalidValueError(
            f"unknown activation {name!r}; expected one of: {', '.join(names())}"
        )
    key = (name, tuple(sorted(params.items())))
    if key not in _CACHE:
        try:
            _CACHE[key] = ACTIVATIONS[name](**params)
        except TypeError as exc:
            raise TypeError(f"activation {name!r} does not take parameters {sorted(params)}: {exc}") from None
    return _CACHE[key]


@cache
def _keras_table() -> dict[str, str]:
    # Built from the entries themselves (each lists the strings Keras writes
    # for it), so a new entry needs no second table.
    table: dict[str, str] = {}
    for name in names():
        for keras_name in get(name).keras_names:
            table.setdefault(keras_name, name)
    return table


def keras_names() -> tuple[str, ...]:
    """Every Keras activation string the table maps onto one entry, sorted.

    ``"hard_sigmoid"`` (whose formula depends on the Keras version) and
    ``"softmax"`` (a vector operation) are not in it: the loader handles them.
    """
    return tuple(sorted(_keras_table()))


def from_keras(keras_name: str) -> Activation:
    """The activation for a Keras activation string (``"swish"`` -> ``silu``).

    Raises
    ------
    InvalidValueError
        The string is not one of :func:`keras_names`.
    """
    reg = _keras_table().get(keras_name) if isinstance(keras_name, str) else None
    if reg is None:
        raise InvalidValueError(f"unknown Keras activation {keras_name!r}; expected one of: "
                                f"{', '.join(keras_names())}")
    return get(reg)


@cache
def _code_table() -> dict[int, tuple[str, str | None]]:
    return {get(n).kernel_code: (get(n).name, get(n).param_name) for n in names() if n != "hard_sigmoid_keras2"}


def from_kernel_code(code: int, param: float = 0.0) -> Activation:
    """The activation a kernel's ``(code, param)`` pair stands for (NumPy twins of kernels use it).

    Raises
    ------
    KeyError
        No entry has this kernel code.
    """
    name, param_name = _code_table()[int(code)]
    return get(name, **({param_name: float(param)} if param_name else {}))
