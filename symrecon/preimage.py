"""``preimage(model, y, bounds)``: the exact set of inputs a network maps to ``y``.

The rules live in one table, :data:`PREIMAGE_RULES`, tried in order; the first
that applies to the model answers.  A rule is a :class:`Rule`: ``applies(model)``
returns None when the rule can answer, else the reason it cannot, and
``build(model, y, lower, upper, max_pieces)`` returns one set per target row.

========================  ==============================================================
rule                      answer
========================  ==============================================================
``"closed-form"``         square invertible chains: a :class:`~symrecon.sets.Point`;
                          tall layers: a Point when consistent, else an
                          :class:`~symrecon.sets.EmptySet` with the least-squares residual;
                          a wide first layer: an :class:`~symrecon.sets.AffineSet`
                          (∩ bounds: a :class:`~symrecon.sets.Polyhedron`, or an EmptySet by LP)
``"piecewise-linear"``    relu, leaky_relu, relu6, hard_sigmoid, linear: a
                          :class:`~symrecon.sets.Union` of polyhedra, one per feasible
                          activation pattern (see :mod:`symrecon.pwl`)
========================  ==============================================================

Softmax classifiers need no rule of their own where :func:`~symrecon.analytic_inverse`
accepts a final Softmax layer (logits up to an additive constant: one more
direction of the affine set); another rule plugs in with :func:`register_rule`::

    register_rule(Rule("softmax", applies=softmax_applies, build=softmax_preimage), before="piecewise-linear")

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[1.0], [1.0]], [0.0])])          # y = x1 + x2: a line
>>> s = sr.preimage(m, [1.0], bounds=(0.0, 2.0))
>>> type(s).__name__, s.contains([0.25, 0.75]), s.contains([1.0, 1.0])
('Polyhedron', True, False)
>>> sr.preimage(m, [5.0], bounds=(0.0, 2.0)).is_empty
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import NotInvertibleError
from .pwl import DEFAULT_MAX_PIECES, not_piecewise_linear, pwl_preimage
from .sets import AffineSet, Box, EmptySet, Point, SolutionSet
from .status import Status
from .validation import as_batch, check_bounds
from .sets._base import check_count

__all__ = ["preimage", "Rule", "PREIMAGE_RULES", "register_rule"]

Bound = NDArray[np.float64] | None


@dataclass(frozen=True)
class Rule:
    """One way of computing exact preimages.

    Attributes
    ----------
    name : str
    applies : callable ``model -> str | None``
        None when the rule answers for this model, else why not.
    build : callable ``(model, y (N, n_out), lower, upper, max_pieces) -> list of sets``
    """

    name: str
    applies: Callable[[Any], str | None]
    build: Callable[[Any, NDArray[np.float64], Bound, Bound, int], list[SolutionSet]]


def _closed_form_applies(model) -> str | None:
    from .symbolic import analytic_inverse

    try:
        analytic_inverse(model)
    except NotInvertibleError as exc:
        return str(exc)
    except TypeError as exc:
        return str(exc)
    return None


def _closed_form(model, y, lower, upper, max_pieces) -> list[SolutionSet]:
    from .symbolic import analytic_inverse

    del max_pieces
    inv = analytic_inverse(model)
    x, status = inv.evaluate_rows(y)
    out: list[SolutionSet] = []
    for row in range(y.shape[0]):
        if status[row] != Status.EXACT:
            err = inv.row_error(y, row)
            out.append(EmptySet(model.n_in, str(err), data={"layer": getattr(err, "layer", None),
                                                             "unit": getattr(err, "unit", None),
                                                             "value": getattr(err, "value", None)}))
        elif inv.is_affine:
            out.append(_within(AffineSet(point=x[row], null_basis=inv.null_basis), lower, upper))
        else:
            out.append(_point_within(x[row], lower, upper))
    return out


def _within(s: AffineSet, lower: Bound, upper: Bound) -> SolutionSet:
    if lower is None or upper is None:
        return s
    poly = Box(lower, upper).to_polyhedron().intersect(s)
    return poly.emptiness_certificate() if poly.is_empty else poly


def _point_within(x: NDArray[np.float64], lower: Bound, upper: Bound) -> SolutionSet:
    if lower is not None and upper is not None:
        outside = np.flatnonzero((x < lower) | (x > upper))
        if outside.size:
            i = int(outside[0])
            return EmptySet(x.shape[0], f"the only input giving the target is x = {np.round(x, 6).tolist()}, whose "
                            f"x_{i + 1} = {x[i]:.6g} lies outside the bounds [{lower[i]:.6g}, {upper[i]:.6g}]",
                            data={"x": x, "input": i})
    return Point(x)


def _pwl(model, y, lower, upper, max_pieces) -> list[SolutionSet]:
    return [pwl_preimage(model, row, lower, upper, max_pieces=max_pieces) for row in y]


#: the rules, in the order they are tried
PREIMAGE_RULES: list[Rule] = [
    Rule("closed-form", _closed_form_applies, _closed_form),
    Rule("piecewise-linear", not_piecewise_linear, _pwl),
]


def register_rule(rule: Rule, before: str | None = None) -> None:
    """Add ``rule`` to :data:`PREIMAGE_RULES` (before the rule named ``before``, else last); replaces one of its name."""
    PREIMAGE_RULES[:] = [r for r in PREIMAGE_RULES if r.name != rule.name]
    names = [r.name for r in PREIMAGE_RULES]
    PREIMAGE_RULES.insert(names.index(before) if before in names else len(names), rule)


def preimage(model, y: ArrayLike, bounds: Any = None, *, max_pieces: int = DEFAULT_MAX_PIECES):
    """The exact set of inputs that ``model`` maps to ``y`` (within ``bounds``).

    Parameters
    ----------
    model : Sequential
    y : array_like, shape (n_out,) or (N, n_out)
        Target(s).
    bounds : (lower, upper), optional
        The input box (scalars or arrays of shape ``(n_in,)``); None: all inputs.
    max_pieces : int
        A piecewise-linear preimage with more polyhedra than this raises
        :class:`~symrecon.errors.CapabilityError` (it is never truncated).

    Returns
    -------
    SolutionSet, or list of SolutionSet for a batch
        A :class:`~symrecon.sets.Point`, :class:`~symrecon.sets.AffineSet`,
        :class:`~symrecon.sets.Polyhedron`, :class:`~symrecon.sets.Union` or,
        when no input reaches the target, an :class:`~symrecon.sets.EmptySet`
        whose ``certificate`` says why.

    Raises
    ------
    NotInvertibleError
        No rule computes this model's preimage exactly (the message gives each
        rule's reason); use :func:`symrecon.reconstruct` for one input.
    CapabilityError
        More than ``max_pieces`` polyhedra.
    ShapeError, InvalidValueError
        Bad ``y`` or ``bounds``.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> relu = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu")])   # 1 -> 2
    >>> sets = sr.preimage(relu, [[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]], bounds=(-3.0, 3.0))
    >>> [type(s).__name__ for s in sets], sets[1].nearest([0.0]).round(9).tolist()
    (['Union', 'Union', 'EmptySet'], [2.0])
    """
    batch, single = as_batch(y, model.n_out, "target y")
    lower, upper = check_bounds(bounds, model.n_in)
    max_pieces = check_count(max_pieces, "max_pieces")
    reasons = []
    for rule in PREIMAGE_RULES:
        why = rule.applies(model)
        if why is None:
            sets = rule.build(model, batch, lower, upper, max_pieces)
            return sets[0] if single else sets
        reasons.append(f"{rule.name}: {why}")
    raise NotInvertibleError("no exact preimage rule applies to this model (use reconstruct(...) for one input): "
                             + "; ".join(reasons), reason="layer")
