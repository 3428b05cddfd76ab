"""LaTeX for symrecon's symbolic objects: one :class:`SymreconLatexPrinter`.

SymPy's own extension points do the work (``_print_<Class>`` methods and
``_default_settings``); nothing here edits printed strings afterwards.

* Symbols created with :func:`named_symbol` / :func:`named_matrix` carry a
  LaTeX name (``W^{(2)}``, ``a^{(1)}_{3}``) while their SymPy names stay plain
  ASCII (``W2``, ``a1_3``), so ``str()`` output stays readable.
* :class:`Activated` (an activation applied elementwise to a matrix) and
  :class:`PseudoInverse` are small matrix-expression classes the derivations
  need; the printer knows how to typeset them.
* Floats are shown with ``float_digits`` significant digits.

Examples
--------
>>> import sympy as sp
>>> W = named_matrix("W2", "W^{(2)}", 3, 3)
>>> latex(sp.Inverse(W))
'\\\\left(W^{(2)}\\\\right)^{-1}'
>>> latex(sp.Float(0.123456789))
'0.123457'
"""

from __future__ import annotations

import re
from typing import ClassVar

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..activations import Activation

__all__ = [
    "activation_latex",
    "Activated",
    "PseudoInverse",
    "SymreconLatexPrinter",
    "escape_text",
    "latex",
    "named_matrix",
    "named_symbol",
]

#: SymPy object -> its LaTeX name (filled by named_symbol / named_matrix)
_LATEX_NAMES: dict[sp.Basic, str] = {}


def named_symbol(name: str, latex_name: str, **assumptions) -> sp.Symbol:
    """A SymPy Symbol called ``name`` that prints as ``latex_name`` in LaTeX."""
    sym = sp.Symbol(name, **assumptions)
    _LATEX_NAMES[sym] = latex_name
    return sym


def named_matrix(name: str, latex_name: str, rows: int, cols: int) -> sp.MatrixSymbol:
    """A SymPy MatrixSymbol called ``name`` that prints as ``latex_name`` in LaTeX."""
    sym = sp.MatrixSymbol(name, rows, cols)
    _LATEX_NAMES[sym] = latex_name
    return sym


def activation_latex(act: Activation) -> str:
    """The LaTeX name of an activation (kept in the activation table: ``Activation.latex``)."""
    return act.latex


class Activated(sp.MatrixExpr):
    """``f`` applied elementwise to a matrix expression (``a = f(z)``).

    Parameters
    ----------
    activation : Activation
    arg : sympy.MatrixExpr
    """

    _registry: ClassVar[dict[tuple[str, float], Activation]] = {}

    def __new__(cls, activation, arg, *rest):
        # Called as Activated(activation, arg) by us, and as
        # Activated(Symbol(name), Float(param), arg) by SymPy when it rebuilds.
        if isinstance(activation, Activation):
            cls._registry[(activation.name, float(activation.param))] = activation
            return sp.Basic.__new__(cls, sp.Symbol(activation.name), sp.Float(activation.param), sp.sympify(arg))
        return sp.Basic.__new__(cls, activation, arg, *rest)

    @property
    def activation(self) -> Activation:
        return self._registry[(self.args[0].name, float(self.args[1]))]

    @property
    def arg(self):
        return self.args[2]

    @property
    def shape(self):
        return self.arg.shape

    def _entry(self, i, j, **kwargs):
        from ..activations import Z

        return self.activation.expr.xreplace({Z: self.arg[i, j]})


class PseudoInverse(sp.MatrixExpr):
    """The Moore-Penrose pseudo-inverse ``A^+`` of a matrix expression (shape transposed)."""

    def __new__(cls, arg):
        return sp.Basic.__new__(cls, sp.sympify(arg))

    @property
    def arg(self):
        return self.args[0]

    @property
    def shape(self):
        return (self.arg.shape[1], self.arg.shape[0])


_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}",
}
_TEXT_RE = re.compile("|".join(re.escape(k) for k in _TEXT_ESCAPES))


def escape_text(text: str) -> str:
    """Plain text made safe for LaTeX text mode (``e^z`` -> ``e\\textasciicircum{}z``)."""
    return _TEXT_RE.sub(lambda m: _TEXT_ESCAPES[m.group(0)], text)


class SymreconLatexPrinter(LatexPrinter):
    """LaTeX printer for derivations and forward graphs.

    Settings (besides SymPy's): ``float_digits`` (int, default 6), the
    significant digits shown for trained numbers.
    """

    printmethod = "_symrecon_latex"
    _default_settings: ClassVar[dict] = {**LatexPrinter._default_settings, "float_digits": 6}

    def _print_Symbol(self, expr, style="plain"):
        name = _LATEX_NAMES.get(expr)
        return name if name is not None else super()._print_Symbol(expr, style=style)

    def _print_MatrixSymbol(self, expr):
        name = _LATEX_NAMES.get(expr)
        return name if name is not None else super()._print_MatrixSymbol(expr)

    def _print_Float(self, expr):
        text = f"{float(expr):.{self._settings['float_digits']}g}"
        mantissa, _, exponent = text.partition("e")
        if not exponent:
            return mantissa
        return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"

    def _wrapped(self, expr) -> str:
        inner = self._print(expr)
        # A bare letter can take a superscript; anything else (W^{(2)}, a sum) needs brackets.
        return inner if re.fullmatch(r"[A-Za-z]", inner) else rf"\left({inner}\right)"

    def _print_Inverse(self, expr):
        return rf"{self._wrapped(expr.arg)}^{{-1}}"

    def _print_PseudoInverse(self, expr):
        return rf"{self._wrapped(expr.arg)}^{{+}}"

    def _print_Transpose(self, expr):
        return rf"{self._wrapped(expr.arg)}^{{\top}}"

    def _print_Activated(self, expr):
        return rf"{activation_latex(expr.activation)}\left({self._print(expr.arg)}\right)"


def latex(expr, **settings) -> str:
    """LaTeX for ``expr`` with :class:`SymreconLatexPrinter`."""
    return SymreconLatexPrinter(settings).doprint(expr)
