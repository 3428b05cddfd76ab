"""Status codes: one ``IntEnum`` with fixed values, shared by kernels, solvers and results.

Every per-target verdict in symrecon is a :class:`Status`.  The numeric values
are part of the contract (kernels write them into ``int8`` arrays; results
store them for batches), so they are fixed here and never derived from
declaration order.  ``NOT_RUN`` is 0 on purpose: an array allocated with
``np.zeros`` reads as "not run", never as success.

Kernels also need two lane states that are not verdicts (a target still
iterating, or handed from one phase to the next); they live in
:class:`LaneState` with negative values so that they can never be mistaken for
a verdict.

Examples
--------
>>> from symrecon.status import Status
>>> Status.CONVERGED.success, int(Status.CONVERGED)
(True, 2)
>>> Status(0).name
'NOT_RUN'
"""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import NDArray

__all__ = ["Status", "LaneState", "SUCCESS_CODES", "advice"]


class Status(enum.IntEnum):
    """Why a solver stopped for one target.  ``.message`` says it to the user."""

    NOT_RUN = 0
    EXACT = 1
    CONVERGED = 2
    MAX_ITER = 3
    STALLED = 4
    DIVERGED = 5
    INACCURATE = 6
    INFEASIBLE = 7
    UNDECIDED = 8

    @property
    def code(self) -> int:
        """The fixed integer value (what batch results store)."""
        return int(self)

    @property
    def success(self) -> bool:
        """True for the verdicts that mean "the residual is within tolerance"."""
        return self in (Status.EXACT, Status.CONVERGED)

    @property
    def message(self) -> str:
        """A sentence for the user (what happened and what to try)."""
        return _MESSAGES[self]

    @classmethod
    def from_code(cls, code: int) -> "Status":
        """The member with integer value ``code``."""
        return cls(int(code))


class LaneState(enum.IntEnum):
    """Kernel-internal states of a target that has no verdict yet (never stored in a result)."""

    RUNNING = -1
    HAND_OVER = -2


_MESSAGES = {
    Status.NOT_RUN: "No solver ran for this target.",
    Status.EXACT: "Closed-form inverse; the re-checked residual is within tolerance.",
    Status.CONVERGED: "Converged: the re-checked residual is within tolerance.",
    Status.MAX_ITER: "The iteration limit was reached before the residual fell within tolerance.",
    Status.STALLED: ("The iteration stopped at a local minimum of the residual, not at the target (that the "
                     "target is unreachable by this network is not proved)."),
    Status.DIVERGED: "The iteration produced non-finite values.",
    Status.INACCURATE: ("The solver finished but the re-checked residual exceeds tolerance (ill-conditioned "
                        "problem or loose solver settings)."),
    Status.INFEASIBLE: "No input produces this target (proved; the reason follows).",
    Status.UNDECIDED: "not decided within the time limit",
}

#: what to try next, per verdict and per method that produced it ("*": any method); never the
#: method that just ran, and never a limit without saying what it was
_ADVICE: dict[tuple[Status, str], str] = {
    (Status.MAX_ITER, "gd"): "First-order descent is slow here: try method='newton'.",
    (Status.MAX_ITER, "*"): "Raise `max_iter` above {max_iter}, or try method='{other}'.",
    (Status.STALLED, "nearest"): ("The target may be unreachable within `bounds`: widen them or move `x_ref`; "
                                  "without `x_ref`, method='newton' looks for any input that reaches it."),
    (Status.STALLED, "newton"): ("{found}Give an `x0` near the answer you expect; a proof that no input reaches "
                                 "the target needs a closed form (method='analytic') or an exact method."),
    (Status.STALLED, "gd"): "{found}First-order descent stalled: try method='newton'.",
    (Status.STALLED, "*"): "{found}Try method='{other}' (it restarts from several points) or another `x0`.",
    (Status.DIVERGED, "gd"): "Lower `learning_rate` or try method='newton'.",
    (Status.DIVERGED, "*"): "Try another starting point `x0` or method='{other}'.",
    (Status.INACCURATE, "*"): "Loosen `tol`, or try method='{other}'.",
    (Status.UNDECIDED, "*"): "Raise `time_limit` (seconds per target) or narrow `bounds`.",
}

#: the method suggested after each one fails
_OTHER = {"newton": "scipy", "scipy": "newton", "lbfgs": "newton", "gd": "newton", "analytic": "newton"}


def advice(status: Status, method: str, max_iter: object = None, restarts: object = None,
           residual: float | None = None) -> str:
    """What to try after ``method`` ended with ``status`` ("" when nothing needs doing).

    Parameters
    ----------
    status : Status
    method : str
        The method that produced ``status`` (never recommended back).
    max_iter : int, optional
        The iteration limit in force (the advice asks for more than it).
    restarts : int, optional
        Starting points tried beyond the first (``newton``), said in the advice.
    residual : float, optional
        The residual where the iteration stopped, said in the advice.

    Examples
    --------
    >>> advice(Status.STALLED, "gd", residual=1e-3)
    "Stopped at residual 0.001. First-order descent stalled: try method='newton'."
    >>> advice(Status.STALLED, "newton", restarts=8)[:27]
    'Stopped after 8 restarts. G'
    >>> "method='newton'" in advice(Status.STALLED, "newton", restarts=8)
    False
    """
    text = _ADVICE.get((status, method)) or _ADVICE.get((status, "*"), "")
    found = ""
    if residual is not None:
        found = f"Stopped at residual {residual:.3g}"
        found += f" after {restarts} restarts. " if restarts else ". "
    elif restarts:
        found = f"Stopped after {restarts} restarts. "
    return text.format(other=_OTHER.get(method, "newton"), max_iter=max_iter if max_iter is not None else "its value",
                       found=found)


#: the codes that count as success, for vectorised checks on status arrays
SUCCESS_CODES: NDArray[np.int8] = np.array([Status.EXACT, Status.CONVERGED], dtype=np.int8)
