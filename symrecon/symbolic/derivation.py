"""Derivations: the algebra of an analytic inverse as ordered, printable steps.

A :class:`Derivation` is a tuple of :class:`Step` (a SymPy ``Eq`` plus a
sentence) in three stages: the ``"model"`` (the forward equations), the
``"symbolic"`` inverse (layer by layer, from the output back, in symbols) and
the ``"numeric"`` one (the same with the trained numbers).  For the one-unit
sigmoid model it is exactly the motivating write-up's chain::

    y = 1/(1 + e^{-z})  ->  e^{-z} = 1/y - 1  ->  log(e^{-z}) = log(1/y - 1)
      ->  z = -log(1/y - 1)  ->  x = (z - b)/W

Wide layers appear in matrix form with their dimensions, never entry by entry.

Examples
--------
>>> import symrecon as sr
>>> inv = sr.analytic_inverse(sr.Sequential([sr.Dense([[0.5]], [-1.0], "sigmoid")]))
>>> [str(s.eq) for s in inv.derivation.symbolic_steps][-2:]
['Eq(z, -log(-1 + 1/y))', 'Eq(x, (-b + z)/W)']
>>> print(inv.derivation.to_latex().splitlines()[0])
\\begin{align*}
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp

from .. import activations as _act
from .latex import (
    Activated,
    PseudoInverse,
    escape_text,
    latex,
    named_matrix,
    named_symbol,
)

__all__ = ["MAX_EXPLICIT_WIDTH", "STAGES", "Derivation", "Step", "derive"]

#: stage -> heading used in the LaTeX and text forms
STAGES: dict[str, str] = {
    "model": "The model",
    "symbolic": "Inverting it, layer by layer from the output",
    "numeric": "With the trained numbers",
}

#: layers wider than this show their matrices by name and size, not entries
MAX_EXPLICIT_WIDTH = 4

#: the composed closed form x(y) is printed only when it stays this small (SymPy ops)
MAX_CLOSED_FORM_OPS = 120


@dataclass(frozen=True)
class Step:
    """One step of a derivation.

    Attributes
    ----------
    eq : sympy.Eq
        The equation of this step (``eq.lhs = eq.rhs``).
    text : str
        What was done to get it, in words (plain text).
    stage : {"model", "symbolic", "numeric"}
    """

    eq: sp.Eq
    text: str
    stage: str = "symbolic"

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {sorted(STAGES)}; got {self.stage!r}")


@dataclass(frozen=True)
class Derivation:
    """Ordered steps of an analytic inverse, with LaTeX and text renderings.

    Attributes
    ----------
    steps : tuple of Step
    title : str

    Examples
    --------
    >>> import symrecon as sr
    >>> d = sr.analytic_inverse(sr.Sequential([sr.Dense([[0.4]], [-25.0])])).derivation
    >>> str(d.steps[-1].eq)
    'Eq(x, 2.5*y + 62.5)'
    """

    steps: tuple[Step, ...]
    title: str = "Reconstructing the input from the output"

    # -- sequence protocol ------------------------------------------------
    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i):
        return self.steps[i]

    def stage(self, name: str) -> tuple[Step, ...]:
        """The steps of one stage (``"model"``, ``"symbolic"`` or ``"numeric"``)."""
        if name not in STAGES:
            raise ValueError(f"stage must be one of {sorted(STAGES)}; got {name!r}")
        return tuple(s for s in self.steps if s.stage == name)

    @property
    def symbolic_steps(self) -> tuple[Step, ...]:
        return self.stage("symbolic")

    @property
    def numeric_steps(self) -> tuple[Step, ...]:
        return self.stage("numeric")

    # -- renderings -------------------------------------------------------
    def _groups(self):
        for name, heading in STAGES.items():
            steps = self.stage(name)
            if steps:
                yield heading, steps

    def to_latex(self, standalone: bool = False, **settings) -> str:
        """LaTeX of the derivation.

        Parameters
        ----------
        standalone : bool, default False
            False: one ``align*`` block (needs ``amsmath`` and ``amssymb``).
            True: a complete ``article`` document that compiles with pdflatex.
        **settings
            Printer settings, e.g. ``float_digits=4``.

        Returns
        -------
        str
        """
        rows = []
        number = 0
        for heading, steps in self._groups():
            rows.append(rf"\intertext{{\textbf{{{escape_text(heading)}}}}}")
            for step in steps:
                number += 1
                rows.append(rf"\intertext{{({number}) {escape_text(step.text)}}}")
                rows.append(rf"{latex(step.eq.lhs, **settings)} &= {latex(step.eq.rhs, **settings)} \\")
        body = "\\begin{align*}\n" + "\n".join(rows) + "\n\\end{align*}"
        if not standalone:
            return body
        return (
            "\\documentclass{article}\n"
            "\\usepackage{amsmath}\n"
            "\\usepackage{amssymb}\n"
            "\\setcounter{MaxMatrixCols}{20}\n"
            "\\allowdisplaybreaks\n"
            "\\begin{document}\n"
            f"\\section*{{{escape_text(self.title)}}}\n"
            f"{body}\n"
            "\\end{document}\n"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the standalone LaTeX document to ``path``; returns the path."""
        path = Path(path)
        path.write_text(self.to_latex(standalone=True), encoding="utf-8")
        return path

    def _repr_latex_(self) -> str:
        # Notebook renderers (MathJax/KaTeX) know `aligned`, not \intertext.
        rows = []
        for heading, steps in self._groups():
            rows.append(rf"&\textbf{{{escape_text(heading)}}} \\")
            for step in steps:
                rows.append(rf"{latex(step.eq.lhs)} &= {latex(step.eq.rhs)} "
                            rf"&&\text{{{escape_text(step.text)}}} \\")
        return "$$\\begin{aligned}\n" + "\n".join(rows) + "\n\\end{aligned}$$"

    def __str__(self) -> str:
        lines = [self.title]
        number = 0
        for heading, steps in self._groups():
            lines.append("")
            lines.append(f"{heading}:")
            for step in steps:
                number += 1
                lines.append(f"  ({number}) {step.text}")
                lines.append(f"      {sp.sstr(step.eq.lhs)} = {sp.sstr(step.eq.rhs)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(self.stage(s))} {s}" for s in STAGES)
        return f"Derivation({len(self.steps)} steps: {counts})"


# ---------------------------------------------------------------------------
# Building derivations from an AnalyticInverse


def _eq(lhs, rhs) -> sp.Eq:
    return sp.Eq(lhs, rhs, evaluate=False)


def _floats(a: np.ndarray) -> sp.Matrix:
    a = np.atleast_2d(a)
    return sp.Matrix(a.shape[0], a.shape[1], [sp.Float(float(v)) for v in a.ravel()])


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _interval_text(image: sp.Interval) -> str:
    """``Interval.open(0, 1)`` -> ``(0, 1)``; infinities as ``inf``."""
    def end(v):
        return "inf" if v == sp.oo else "-inf" if v == -sp.oo else sp.sstr(v)

    return (f"{'(' if image.left_open else '['}{end(image.start)}, "
            f"{end(image.end)}{')' if image.right_open else ']'}")


def derive(inv) -> Derivation:
    """The :class:`Derivation` of an :class:`~symrecon.symbolic.AnalyticInverse`."""
    layers = inv.plan.layers
    if len(layers) == 1 and layers[0].n_in == layers[0].n_out == 1:
        return _derive_scalar(inv)
    return _derive_general(inv)


def _derive_scalar(inv) -> Derivation:
    """One unit, one input: the write-up's chain in scalar symbols."""
    lp = inv.plan.layers[0]
    act = lp.activation
    z, y = _act.Z, _act.Y
    x = named_symbol("x", "x", real=True)
    W = named_symbol("W", "W", real=True)
    b = named_symbol("b", "b", real=True)
    steps = [Step(_eq(z, W * x + b), "the layer's pre-activation (one unit, one input)", "model")]
    steps += [Step(_eq(s.lhs, s.rhs), s.text, "symbolic") for s in act.inverse_steps]
    x_of_z = (z - b) / W
    steps.append(Step(_eq(x, x_of_z), "solve z = W x + b for x (W is not zero)", "symbolic"))

    w_val, b_val = float(lp.kernel[0, 0]), float(lp.bias[0])
    numbers = {W: sp.Float(w_val), b: sp.Float(b_val)}
    steps.append(Step(_eq(x, x_of_z.xreplace(numbers)),
                      f"with the trained numbers W = {_fmt(w_val)}, b = {_fmt(b_val)}", "numeric"))
    closed = inv.expr[0].xreplace({inv.symbols[0]: y})
    image = act.image
    steps.append(Step(_eq(x, closed),
                      f"substitute z: the closed form, valid for y in {_interval_text(image)}", "numeric"))
    return Derivation(tuple(steps))


def _row(stem: str, l: int, n: int, n_layers: int) -> sp.MatrixSymbol:
    if l == 0:
        return named_matrix("x", "x", 1, n)
    if l == n_layers and stem == "a":
        return named_matrix("y", "y", 1, n)
    return named_matrix(f"{stem}{l}", f"{stem}^{{({l})}}", 1, n)


def _unit(stem: str, l: int, n_layers: int) -> sp.Symbol:
    if stem == "a" and l == n_layers:
        return named_symbol("y_j", "y_{j}", real=True)
    return named_symbol(f"{stem}{l}_j", f"{stem}^{{({l})}}_{{j}}", real=True)


def _derive_general(inv) -> Derivation:
    layers = inv.plan.layers
    L = len(layers)
    W = [named_matrix(f"W{l}", f"W^{{({l})}}", lp.n_in, lp.n_out) for l, lp in enumerate(layers, 1)]
    b = [named_matrix(f"b{l}", f"b^{{({l})}}", 1, lp.n_out) for l, lp in enumerate(layers, 1)]
    z = [_row("z", l, lp.n_out, L) for l, lp in enumerate(layers, 1)]
    a = [_row("a", l, layers[l].n_in if l < L else layers[-1].n_out, L) for l in range(L + 1)]
    null_dim = inv.null_basis.shape[1]
    t = named_matrix("t", "t", 1, null_dim) if null_dim else None
    N = named_matrix("N", "N", null_dim, inv.n_in) if null_dim else None

    steps: list[Step] = []
    for l, lp in enumerate(layers, 1):
        i = l - 1
        steps.append(Step(_eq(z[i], sp.MatAdd(sp.MatMul(a[i], W[i]), b[i])),
                          f"layer {l} ({lp.name!r}): {lp.n_in} inputs -> {lp.n_out} outputs; "
                          f"W^({l}) is {lp.n_in} x {lp.n_out}", "model"))
        steps.append(Step(_eq(a[l], Activated(lp.activation, z[i])),
                          f"activation {lp.activation.name} of layer {l}, applied to each unit", "model"))

    for l in range(L, 0, -1):
        lp, i = layers[l - 1], l - 1
        act = lp.activation
        zj, aj = _unit("z", l, L), _unit("a", l, L)
        rule = {_act.Z: zj, _act.Y: aj}
        for s in act.inverse_steps:
            steps.append(Step(_eq(s.lhs.xreplace(rule), s.rhs.xreplace(rule)),
                              f"layer {l}, each unit j (needs the value in {_interval_text(act.image)}): {s.text}", "symbolic"))
        steps.append(_linear_step(lp, l, a[i], z[i], b[i], W[i], t, N))

    steps += _numeric_steps(inv, layers, a, z, b, W, N)
    return Derivation(tuple(steps))


def _linear_step(lp, l, a_prev, z, b, W, t, N) -> Step:
    u = sp.MatAdd(z, sp.MatMul(-1, b))
    if lp.kind == "square":
        return Step(_eq(a_prev, sp.MatMul(u, sp.Inverse(W))),
                    f"W^({l}) is square ({lp.n_in} x {lp.n_out}) and of full rank: multiply by its inverse",
                    "symbolic")
    if lp.kind == "tall":
        return Step(_eq(a_prev, sp.MatMul(u, PseudoInverse(W))),
                    f"W^({l}) is tall ({lp.n_in} x {lp.n_out}, rank {lp.n_in}): the least-squares solution "
                    f"(W^+ is the pseudo-inverse); it is exact only when (z - b) lies in the row space of "
                    f"W^({l}), which is checked for every target", "symbolic")
    return Step(_eq(a_prev, sp.MatAdd(sp.MatMul(u, PseudoInverse(W)), sp.MatMul(t, N))),
                f"W^({l}) is wide ({lp.n_in} x {lp.n_out}, rank {lp.n_out}): every input of the affine set "
                f"is the minimum-norm point (z - b) W^+ plus t N for any t in R^{N.shape[0]}; the rows of "
                f"N are an orthonormal basis of the directions v with v W = 0", "symbolic")


def _numeric_steps(inv, layers, a, z, b, W, N) -> list[Step]:
    steps: list[Step] = []
    L = len(layers)
    for l in range(L, 0, -1):
        lp, i = layers[l - 1], l - 1
        back_sym = sp.Inverse(W[i]) if lp.kind == "square" else PseudoInverse(W[i])
        if max(lp.n_in, lp.n_out) <= MAX_EXPLICIT_WIDTH:
            steps.append(Step(_eq(W[i], _floats(lp.kernel)), f"trained kernel of layer {l}", "numeric"))
            steps.append(Step(_eq(b[i], _floats(lp.bias)), f"trained bias of layer {l}", "numeric"))
            steps.append(Step(_eq(back_sym, _floats(lp.back)),
                              f"computed once from the SVD of W^({l})", "numeric"))
        else:
            B = named_matrix(f"B{l}", f"B^{{({l})}}", lp.n_out, lp.n_in)
            steps.append(Step(_eq(B, back_sym),
                              f"layer {l}: W^({l}) is {lp.n_in} x {lp.n_out}; B^({l}) ({lp.n_out} x {lp.n_in}, "
                              f"{lp.back.size} numbers) is computed once from its SVD; entries not shown",
                              "numeric"))
    if N is not None and max(N.shape) <= MAX_EXPLICIT_WIDTH:
        steps.append(Step(_eq(N, _floats(inv.null_basis.T)), "orthonormal null directions (N W = 0)", "numeric"))
    if _closed_form_is_small(inv):
        x = sp.Matrix([list(inv.expr)])
        text = "the closed form x(y) with the trained numbers"
        if N is not None:
            text += " (the minimum-norm member of the affine set)"
        steps.append(Step(_eq(a[0], x), text, "numeric"))
    return steps


def _closed_form_is_small(inv) -> bool:
    # Composing layers multiplies expression sizes: only shallow, narrow
    # networks get the fully substituted formula, and only if it stays short.
    layers = inv.plan.layers
    if len(layers) > 2 or max(max(lp.n_in, lp.n_out) for lp in layers) > MAX_EXPLICIT_WIDTH:
        return False
    return sp.count_ops(inv.expr) <= MAX_CLOSED_FORM_OPS


# ---------------------------------------------------------------------------
# Softmax classifiers: the softmax step, then the reduced model's derivation


def _renamed_to_r(inner, k: int) -> dict:
    """The reduced model's output symbols (``y`` there) -> ``r`` (the log-ratio coordinates)."""
    r_row = named_matrix("r", "r", 1, k)
    rule: dict = {sp.MatrixSymbol("y", 1, k): r_row, _act.Y: named_symbol("r", "r", real=True)}
    rule[sp.Symbol("y_j", real=True)] = named_symbol("r_j", "r_{j}", real=True)
    rule.update({s: named_symbol(f"r_{i}", f"r_{{{i}}}", real=True) for i, s in enumerate(inner.symbols)})
    return rule


def derive_classifier(inv) -> Derivation:
    """The :class:`Derivation` of a :class:`~symrecon.symbolic.classifier.ClassifierInverse`."""
    n = inv.n_out
    k = n - 1
    inner = derive(inv.inner)
    rule = _renamed_to_r(inv.inner, k)
    moved = [Step(_eq(s.eq.lhs.xreplace(rule), s.eq.rhs.xreplace(rule)), s.text, s.stage) for s in inner]
    zi, j, m = sp.IndexedBase("z"), sp.Symbol("j", integer=True), sp.Symbol("k", integer=True)
    yj = _unit("a", 1, 1)
    c = named_symbol("c", "c", real=True)
    q = named_matrix("Q", "Q", n, k)
    log_y = named_matrix("logy", r"\log y", 1, n)
    soft = [Step(_eq(yj, sp.exp(zi[j]) / sp.Sum(sp.exp(zi[m]), (m, 0, n - 1))),
                 f"softmax over the {n} logits z (the output of the last Dense layer); r = z Q below is what "
                 f"the reduced model computes: the last layer above holds the trained kernel and bias times Q", "model")]
    symbolic = [
        Step(_eq(zi[j], sp.log(yj) + c),
             f"each class j (needs y_j in (0, 1) and the y_j summing to 1): softmax is unchanged by adding the "
             f"same c to every logit, so the logits are log y_j up to one free constant", "symbolic"),
        Step(_eq(rule[sp.MatrixSymbol("y", 1, k)], sp.MatMul(log_y, q)),
             f"multiply by Q ({n} x {k}, orthonormal columns with Q^T 1 = 0): c drops out, and r = z Q is the "
             f"output of the reduced model x -> z Q, inverted next", "symbolic"),
    ]
    numeric = []
    if n <= MAX_EXPLICIT_WIDTH:
        numeric.append(Step(_eq(q, _floats(inv.reduction.basis)), "the centred basis Q (Helmert contrasts)",
                            "numeric"))
    steps = ([s for s in moved if s.stage == "model"] + soft + symbolic
             + [s for s in moved if s.stage == "symbolic"] + numeric + [s for s in moved if s.stage == "numeric"])
    if inv.n_in <= MAX_EXPLICIT_WIDTH and sp.count_ops(inv.expr) <= MAX_CLOSED_FORM_OPS:
        steps.append(Step(_eq(named_matrix("x", "x", 1, inv.n_in), sp.Matrix([list(inv.expr)])),
                          "substitute r = log(y) Q: the closed form x(y) on the probabilities", "numeric"))
    return Derivation(tuple(steps))
