"""``gd``: gradient descent on the input, numba-jitted — the write-up's method.

The weights are frozen; the input is the only free variable.  Each iteration
computes the cost ``||model(x) - y||^2`` and its gradient with respect to
``x`` by backprop, and moves ``x`` against it.  ``optimizer="constant"`` is
the write-up's loop exactly (``x -= lr * grad``); the default
``"linesearch"`` (Barzilai–Borwein steps with Armijo backtracking) needs no
learning rate and converges much faster; ``"momentum"`` and ``"adam"`` are
the usual deep-learning choices.  Targets not reached are retried on the
output layer's pre-activation (see :mod:`symrecon.solvers.pre_activation`).
For high accuracy prefer ``method="newton"``.

Examples
--------
The write-up's run (W = 0.4, b = -25, y0 = 100, lr = 0.4, from x = 1, 200 iterations):

>>> import symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> res = sr.reconstruct(m, [100.0], method="gd", x0=[1.0], learning_rate=0.4,
...                      optimizer="constant", max_iter=200, tol=1e-12)
>>> round(float(res.x[0]), 6), res.n_iter, res.history.shape
(312.5, 200, (201, 1))
"""
from dataclasses import dataclass
from typing import ClassVar

from ..validation import check_option
from . import register
from ._base import AbstractSolver, BlockResult, Problem
from ._common import KernelRun, compile_notice, no_rows
from .pre_activation import retry_on_pre_activation

__all__ = ["GradientDescent"]

#: the retry on the pre-activation stops at this fraction of the (first-order) tolerance there, so
#: that the re-check in the output is within ``tol``
PRE_MARGIN = 0.5
#: default learning rate per optimizer (for "linesearch": the first trial step)
DEFAULT_LEARNING_RATE = {"constant": 0.01, "momentum": 0.01, "adam": 0.01, "linesearch": 1.0}


@register
@dataclass(frozen=True)
class GradientDescent(AbstractSolver):
    """Gradient descent on the input (numba, batched).

    Parameters
    ----------
    optimizer : {"linesearch", "constant", "momentum", "adam"}, default "linesearch"
        Update rule (see :mod:`symrecon.backends.numba.gd`).
    learning_rate : float, optional
        Step size; default per optimizer (:data:`DEFAULT_LEARNING_RATE`).
    beta1 : float, default 0.9
        Momentum coefficient (``momentum``) or Adam's first-moment decay.
    beta2 : float, default 0.999
        Adam's second-moment decay.
    eps : float, default 1e-8
        Adam's denominator guard.

    Notes
    -----
    ``res.stats`` holds ``optimizer``, ``learning_rate`` and
    ``n_pre_activation`` (targets reached only by the retry on the output
    layer's pre-activation; their ``n_iter`` is the retry's).
    """

    name: ClassVar[str] = "gd"
    supports_bounds: ClassVar[bool] = True
    default_max_iter: ClassVar[int] = 20000
    block_size: ClassVar[int] = 4096
    additive_stats: ClassVar[tuple[str, ...]] = ("n_pre_activation",)

    optimizer: str = "linesearch"
    learning_rate: float | None = None
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        from ..backends.numba.gd import OPTIMIZERS

        checks: dict[str, str | tuple[str, ...]] = {"optimizer": tuple(sorted(OPTIMIZERS)), "beta1": "unit_interval",
                                                    "beta2": "unit_interval", "eps": "positive"}
        if self.learning_rate is not None:
            checks["learning_rate"] = "positive"
        for option, kind in checks.items():
            # plain Python values: a NumPy scalar would make numba compile another specialisation
            object.__setattr__(self, option, check_option(self.name, option, getattr(self, option), kind))

    @property
    def effective_learning_rate(self) -> float:
        return float(DEFAULT_LEARNING_RATE[self.optimizer] if self.learning_rate is None else self.learning_rate)

    def solve_block(self, problem: Problem) -> BlockResult:
        # a saturated output (tanh near +-1, sigmoid near 0 or 1) makes the cost flat in x; in the
        # output layer's pre-activation it is not, and descent converges in a fraction of the steps
        return retry_on_pre_activation(self._descend, problem, self._descend(problem), margin=PRE_MARGIN)

    def prepare(self, problem: Problem) -> None:
        """Compile the kernel for this problem's types before any block runs (a notice on stderr meanwhile)."""
        with compile_notice(problem.progress is not False):
            self._descend(no_rows(problem))

    def _descend(self, problem: Problem) -> BlockResult:
        from ..backends.numba.gd import OPTIMIZERS, GdParams, gd_batch

        run = KernelRun(problem, self.default_max_iter)
        lr = self.effective_learning_rate
        hp = GdParams(OPTIMIZERS[self.optimizer], lr, float(self.beta1), float(self.beta2), float(self.eps))
        gd_batch(run.pm, run.cfg, hp, run.x0, run.ys, run.out)
        return run.result(self.name, {"optimizer": self.optimizer, "learning_rate": lr, "max_iter": run.cfg.max_iter})
