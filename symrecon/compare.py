"""``compare``: several methods on the same targets, side by side.

Each method is run through :func:`~symrecon.reconstruct` with the same
targets and common options; the table reports, per method, the answer, its
re-checked residual, its distance to the closed-form answer and the number of
agreeing digits (lmfit's NIST-style score), iterations and wall time.

Examples
--------
>>> import symrecon as sr
>>> m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
>>> cmp = sr.compare(m, [100.0], methods=("analytic", "newton", "scipy"))
>>> [row.method for row in cmp.rows]
['analytic', 'newton', 'scipy']
>>> all(row.digits >= 9 for row in cmp.rows[1:])
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .errors import InvalidParameterError, NotInvertibleError
from .result import Reconstruction

__all__ = ["Comparison", "ComparisonRow", "compare", "agreeing_digits"]

#: digits reported for an exact match (float64 carries ~15.95)
MAX_DIGITS = 16.0


def agreeing_digits(x: ArrayLike, reference: ArrayLike) -> float:
    """Worst number of agreeing significant digits of ``x`` against ``reference``.

    ``-log10(|x - ref| / max(|ref|, 1e-300))`` per entry, the minimum over all
    entries, clipped to ``[0, 16]``; NaN when either is missing.

    Examples
    --------
    >>> agreeing_digits([312.5000001], [312.5])
    9.49...
    """
    x = np.asarray(x, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if x.shape != ref.shape or not np.all(np.isfinite(ref)):
        return math.nan
    with np.errstate(all="ignore"):
        err = np.abs(x - ref) / np.maximum(np.abs(ref), 1e-300)
    if not np.all(np.isfinite(err)):
        return 0.0
    worst = float(np.max(err))
    return MAX_DIGITS if worst == 0.0 else float(min(MAX_DIGITS, max(0.0, -math.log10(worst))))


@dataclass(frozen=True)
class ComparisonRow:
    """One method's outcome.

    Attributes
    ----------
    method : str
    result : Reconstruction or None
        None when the method could not run (``error`` says why).
    error : str or None
    residual : float
        Worst re-checked residual over the targets (NaN if not run).
    success_rate : float
        Fraction of targets within tolerance.
    distance : float
        ``max |x - x_analytic|`` (NaN without a closed form).
    digits : float
        Worst agreeing digits with the closed form (NaN without one).
    n_iter : int
        Largest iteration count over the targets.
    elapsed : float
        Wall time, seconds.
    """

    method: str
    result: Reconstruction | None
    error: str | None
    residual: float
    success_rate: float
    distance: float
    digits: float
    n_iter: int
    elapsed: float

    @property
    def x(self):
        return None if self.result is None else self.result.x

    @property
    def kind(self) -> str:
        """What sort of answer (see :attr:`Reconstruction.kind`); a batch counts its kinds: ``"exact 3, local 1"``."""
        if self.result is None:
            return "n/a"
        kinds = np.atleast_1d(np.asarray(self.result.kind, dtype=object))
        names, counts = np.unique(kinds.astype(str), return_counts=True)
        if names.size == 1 and kinds.size == 1:
            return str(names[0])
        return ", ".join(f"{n} {c}" for n, c in sorted(zip(names, counts), key=lambda nc: -nc[1]))


@dataclass(frozen=True)
class Comparison:
    """Results of several methods on the same targets (see :func:`compare`).

    Attributes
    ----------
    rows : tuple of ComparisonRow
        One per method, in the order asked.
    reference : ndarray or None
        The closed-form answer, when the model has one.
    n_targets : int
    tol : float
    """

    rows: tuple[ComparisonRow, ...]
    reference: Any
    n_targets: int
    tol: float

    def __getitem__(self, method: str) -> ComparisonRow:
        for row in self.rows:
            if row.method == method:
                return row
        raise KeyError(f"no method {method!r} in this comparison; it has {[r.method for r in self.rows]}")

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and formatted cells (shared by every output format)."""
        from .report import comparison_cells

        return comparison_cells(self)

    def __str__(self) -> str:
        from .report import comparison_text

        return comparison_text(self)

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table."""
        from .report import comparison_markdown

        return comparison_markdown(self)

    def to_latex(self) -> str:
        """A ``tabular`` environment (needs only base LaTeX), with a caption-free ``table`` float."""
        from .report import comparison_latex

        return comparison_latex(self)

    def _repr_html_(self) -> str:
        from .report import comparison_html

        return comparison_html(self)


def compare(model, y: ArrayLike, methods: Sequence = ("analytic", "gd", "scipy"), **options) -> Comparison:
    """Run several methods on the same targets and tabulate them.

    Parameters
    ----------
    model : Sequential or Dense
    y : array_like, shape (n_out,) or (N, n_out)
    methods : sequence of str or AbstractSolver
        Registered method names or solver instances (e.g.
        ``GradientDescent(learning_rate=0.4)``; the row is named after the
        solver's ``name``).  A method that cannot run on this model
        (no closed form, a capability it lacks) gets a row saying why
        instead of failing the comparison.
    **options
        Passed to every :func:`~symrecon.reconstruct` call: ``x0``,
        ``bounds``, ``tol``, ``max_iter``, ``progress``.  Method-specific
        options are not accepted here (they would be unknown to the others).

    Returns
    -------
    Comparison

    Raises
    ------
    TypeError
        An option that is not common to all methods.
    InfeasibleTargetError, ShapeError, InvalidValueError
        Bad targets (checked once, before any method runs).
    """
    from .errors import CapabilityError
    from .reconstruct import make_problem, reconstruct

    common = {"x0", "bounds", "tol", "max_iter", "progress"}
    unknown = sorted(set(options) - common)
    if unknown:
        raise InvalidParameterError(f"compare() got option(s) {unknown} that are not common to all methods; "
                                    f"valid: {sorted(common)}")
    if isinstance(methods, (str, bytes)) or not isinstance(methods, Iterable):
        raise InvalidParameterError(
            f"methods must be a sequence of method names or solver instances, e.g. ('analytic', {methods!r}); "
            f"got {methods!r}"
        )
    methods = tuple(methods)
    if not methods:
        raise InvalidParameterError("compare() needs at least one method; got an empty sequence")
    problem = make_problem(model, y, **options)  # validate once, before spending time on any method

    reference = None
    try:
        reference = reconstruct(problem.model, problem.y if not problem.single else problem.y[0],
                                method="analytic", tol=problem.tol).x
    except NotInvertibleError:
        reference = None

    from .solvers import SOLVERS, AbstractSolver

    rows = []
    for method in methods:
        if isinstance(method, AbstractSolver):
            name = method.name
        elif isinstance(method, str):
            name = method
        else:
            raise InvalidParameterError(
                f"compare() methods must be registered names or solver instances; got {method!r}")
        opts = dict(options)
        if name in SOLVERS and SOLVERS[name].exact:
            opts.pop("x0", None)  # a closed form takes no starting point
            opts.pop("max_iter", None)
        try:
            res = reconstruct(model, y, method=method, **opts)
        except (NotInvertibleError, CapabilityError) as exc:
            rows.append(ComparisonRow(name, None, str(exc), math.nan, math.nan, math.nan, math.nan, 0, math.nan))
            continue
        resid = np.atleast_1d(np.asarray(res.residual, dtype=np.float64))
        succ = np.atleast_1d(np.asarray(res.success))
        if reference is not None:
            dist = float(np.max(np.abs(np.asarray(res.x) - reference)))
            digits = agreeing_digits(res.x, reference)
        else:
            dist, digits = math.nan, math.nan
        rows.append(ComparisonRow(
            method=name, result=res, error=None, residual=float(np.max(resid)),
            success_rate=float(np.mean(succ)), distance=dist, digits=digits,
            n_iter=int(np.max(np.atleast_1d(res.n_iter))), elapsed=float(res.elapsed),
        ))
    return Comparison(rows=tuple(rows), reference=reference, n_targets=problem.n_targets, tol=problem.tol)
