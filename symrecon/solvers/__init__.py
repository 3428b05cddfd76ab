"""The solver registry: one table from method name to solver class.

Adding a method is one file defining a frozen-dataclass subclass of
:class:`AbstractSolver` decorated with :func:`register`, plus one import line
at the bottom of this module.
"""

from __future__ import annotations

from typing import TypeVar

from ._base import AbstractSolver, Problem

__all__ = ["SOLVERS", "register", "get_solver", "AbstractSolver", "Problem"]

#: method name -> solver class
SOLVERS: dict[str, type[AbstractSolver]] = {}

_S = TypeVar("_S", bound=type)


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
    ValueError
        Unknown method (the message lists the registered ones).
    TypeError
        An option the method does not have (the message lists its options).
    """
    if method not in SOLVERS:
        raise ValueError(f"unknown method {method!r}; expected one of: {', '.join(sorted(SOLVERS))}")
    cls = SOLVERS[method]
    valid = cls.option_names()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
            f"valid options: {', '.join(valid) if valid else '(none)'}"
        )
    return cls(**options)


# Each import registers its solvers.
from . import analytic  # noqa: E402,F401
from . import newton  # noqa: E402,F401
from . import gd  # noqa: E402,F401
from . import scipy_opt  # noqa: E402,F401
from . import auto  # noqa: E402,F401
