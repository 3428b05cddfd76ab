"""The solver registry: one table from method name to solver class.

Adding a method is one file defining a frozen-dataclass subclass of
:class:`AbstractSolver` decorated with :func:`register`, plus one import line
at the bottom of this module.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from ..errors import InvalidParameterError
from ._base import AbstractSolver, BlockResult, Problem

__all__ = ["SOLVERS", "register", "get_solver", "methods_help", "AbstractSolver", "BlockResult", "Problem"]

#: method name -> solver class
SOLVERS: dict[str, type[AbstractSolver]] = {}

_S = TypeVar("_S", bound=type[AbstractSolver])


def register(cls: _S) -> _S:
    """Class decorator: add a solver class to :data:`SOLVERS` under ``cls.name``."""
    if cls.name in SOLVERS:
        raise RuntimeError(f"solver name {cls.name!r} registered twice")
    SOLVERS[cls.name] = cls
    return cls


def get_solver(method: str, **options) -> AbstractSolver:
    """Instantiate a registered solver with its options.

    Raises
    ------
    InvalidParameterError
        Unknown method (the message lists the registered ones), or an option
        the method does not have (the message lists its options).
    """
    if method not in SOLVERS:
        raise InvalidParameterError(f"unknown method {method!r}; expected one of: {', '.join(sorted(SOLVERS))}")
    cls = SOLVERS[method]
    valid = cls.option_names()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InvalidParameterError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
            f"valid options: {', '.join(valid) if valid else '(none)'}"
        )
    return cls(**options)


def methods_help() -> str:
    """A numpydoc ``Methods`` section listing every registered method and its options with defaults."""
    lines = ["", "    Methods", "    -------"]
    for name in sorted(SOLVERS):
        cls = SOLVERS[name]
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        caps = [c for c, on in (("bounds", cls.supports_bounds), ("closed form", cls.exact)) if on]
        extra = f" ({', '.join(caps)})" if caps else ""
        limit = f"; default max_iter {cls.default_max_iter}" if cls.default_max_iter else ""
        lines.append(f"    ``{name!r}``{extra}: {summary}{limit}")
        fields: tuple[dataclasses.Field[object], ...] = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
        for f in fields:
            lines.append(f"        option ``{f.name}`` (default ``{f.default!r}``)")
    return "\n".join(lines) + "\n"


# Each import registers its solvers.
from . import (
    analytic,  # noqa: E402,F401
    auto,  # noqa: E402,F401
    gd,  # noqa: E402,F401
    milp,  # noqa: E402,F401
    newton,  # noqa: E402,F401
    scipy_opt,  # noqa: E402,F401
)
