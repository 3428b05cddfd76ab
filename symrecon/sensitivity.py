"""``sensitivity(model, x)``: how the output moves with the input, and how the reconstruction moves with the target.

The Jacobian ``J = dy/dx`` comes from forward mode on the operation graph (every
op's ``jvp``; exact, batched).  Its singular values ``s_1 >= ... >= s_k`` give
the condition number ``s_1 / s_k`` (as :func:`numpy.linalg.cond`), the
pseudo-inverse ``J^+ = dx/dy`` (how far the reconstructed input moves per unit
change of the target) and the null space (input directions the output cannot
see).  An output error ``eps`` moves the reconstruction by up to
``kappa * eps`` with ``kappa = 1 / s_min`` over the non-zero singular values
(``= ||J^{-1}||`` for a square invertible ``J``; the minimum-norm move for a
wide one; the least-squares move for a tall one) — and without bound along the
null space when ``J`` is square or tall and rank-deficient.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense([[2.0, 0.0], [0.0, 0.5]])])
>>> s = sr.sensitivity(m, [1.0, 1.0])
>>> s.jacobian.tolist(), float(s.condition_number), float(s.amplification)
([[2.0, 0.0], [0.0, 0.5]], 4.0, 2.0)
>>> print(s.report())
square Jacobian 2x2, condition number 4: an output error of eps moves the reconstruction by up to 2*eps (kappa = 1/sigma_min)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike, NDArray

from .backends import numpy_ref
from .validation import as_batch

__all__ = ["Sensitivity", "sensitivity"]


@dataclass(frozen=True)
class Sensitivity:
    """The Jacobian of a model at ``x`` and what follows from it (single point or batch).

    Attributes
    ----------
    model : Sequential
    x : ndarray, shape (n_in,) or (N, n_in)
    y : ndarray, shape (n_out,) or (N, n_out)
        ``model(x)``.
    jacobian : ndarray, shape (n_out, n_in) or (N, n_out, n_in)
        ``dy/dx`` (exact, forward mode).
    """

    model: Any
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    jacobian: NDArray[np.float64]

    @property
    def is_batch(self) -> bool:
        return self.jacobian.ndim == 3

    @cached_property
    def _svd(self):
        J = self.jacobian if self.is_batch else self.jacobian[None]
        u, s, vt = np.linalg.svd(J, full_matrices=True)
        tol = max(J.shape[1:]) * np.finfo(np.float64).eps * s[:, :1]
        return u, s, vt, np.sum(s > tol, axis=1)

    @property
    def singular_values(self) -> NDArray[np.float64]:
        """``(min(n_out, n_in),)`` or ``(N, min(n_out, n_in))``, descending."""
        s = self._svd[1]
        return s if self.is_batch else s[0]

    @property
    def rank(self) -> Any:
        """Numerical rank of ``J`` (int, or ``(N,)`` ints)."""
        r = self._svd[3]
        return r if self.is_batch else int(r[0])

    @property
    def condition_number(self) -> Any:
        """``s_max / s_min`` (inf when ``s_min = 0``), as :func:`numpy.linalg.cond`."""
        s = self._svd[1]
        with np.errstate(divide="ignore"):
            kappa = np.where(s[:, -1] > 0, s[:, 0] / np.where(s[:, -1] > 0, s[:, -1], 1.0), np.inf)
        return kappa if self.is_batch else kappa[0]

    @property
    def inverse_jacobian(self) -> NDArray[np.float64]:
        """``dx/dy = J^+`` (the inverse for a square invertible ``J``): ``(n_in, n_out)`` or ``(N, n_in, n_out)``."""
        u, s, vt, rank = self._svd
        k = s.shape[1]
        inv_s = np.where(np.arange(k)[None] < rank[:, None], 1.0 / np.where(s > 0, s, 1.0), 0.0)
        pinv = np.einsum("nki,nk,njk->nij", vt[:, :k], inv_s, u[:, :, :k])
        return pinv if self.is_batch else pinv[0]

    @property
    def null_space(self) -> Any:
        """Orthonormal basis ``(n_in, n_in - rank)`` of the input directions the output cannot see (list for a batch)."""
        vt, rank = self._svd[2], self._svd[3]
        bases = [vt[i, r:].T for i, r in enumerate(rank)]
        return bases if self.is_batch else bases[0]

    @property
    def amplification(self) -> Any:
        """``kappa``: an output error ``eps`` moves the reconstruction by up to ``kappa * eps``.

        ``1/s_min`` over the non-zero singular values; inf when a square or tall
        ``J`` is rank-deficient (a move along :attr:`null_space` is invisible).
        """
        _, s, _, rank = self._svd
        n_out, n_in = self.jacobian.shape[-2:]
        smallest = s[np.arange(s.shape[0]), np.maximum(rank - 1, 0)]
        kappa = np.where((rank > 0) & ((rank == n_in) | (n_out < n_in)), 1.0 / np.where(smallest > 0, smallest, 1.0),
                         np.inf)
        return kappa if self.is_batch else kappa[0]

    def report(self) -> str:
        """One line per point: "an output error of eps moves the reconstruction by up to kappa*eps"."""
        n_out, n_in = self.jacobian.shape[-2:]
        shape = "square" if n_out == n_in else ("wide" if n_out < n_in else "tall")
        how = {"square": "kappa = 1/sigma_min", "wide": "minimum-norm move, kappa = 1/sigma_min; the null space "
               "moves freely", "tall": "least-squares move, kappa = 1/sigma_min"}[shape]
        kappas = np.atleast_1d(self.amplification)
        conds = np.atleast_1d(self.condition_number)
        lines = []
        for i, (k, c) in enumerate(zip(kappas, conds)):
            where = f"x[{i}]: " if self.is_batch else ""
            if np.isinf(k):
                lines.append(f"{where}{shape} Jacobian {n_out}x{n_in} of rank {np.atleast_1d(self.rank)[i]}: some "
                             f"input directions do not change the output, so an output error can move the "
                             f"reconstruction without bound along the null space")
            else:
                lines.append(f"{where}{shape} Jacobian {n_out}x{n_in}, condition number {c:.4g}: an output error of "
                             f"eps moves the reconstruction by up to {k:.4g}*eps ({how})")
        return "\n".join(lines)

    def symbolic(self) -> sp.Matrix:
        """The Jacobian as SymPy expressions of ``x_0 .. x_{n-1}`` (from the forward graph, trained numbers in)."""
        from .symbolic import forward_graph

        g = forward_graph(self.model)
        return g.output.jacobian(sp.Matrix(list(g.inputs)))

    def latex(self) -> str:
        r"""LaTeX of the symbolic Jacobian: explicit for small models, else the chain rule in matrix form."""
        from .symbolic.graph import MAX_EXPLICIT_WIDTH
        from .symbolic.latex import latex

        layers = self.model.layers
        if max(max(layer.n_in, layer.n_out) for layer in layers) <= MAX_EXPLICIT_WIDTH:
            return r"\frac{\partial y}{\partial x} = " + latex(self.symbolic())
        factors = [rf"\operatorname{{diag}}\!\left(f_{{{l}}}'(z^{{({l})}})\right) W^{{({l})\top}}"
                   for l in range(len(layers), 0, -1)]
        return r"\frac{\partial y}{\partial x} = " + " ".join(factors)


def sensitivity(model, x: ArrayLike) -> Sensitivity:
    """The Jacobian ``dy/dx`` of ``model`` at ``x`` with its conditioning and (pseudo-)inverse.

    Parameters
    ----------
    model : Sequential
    x : array_like, shape (n_in,) or (N, n_in)
        Input point(s); not modified.

    Returns
    -------
    Sensitivity
        ``.jacobian`` ``(n_out, n_in)`` or ``(N, n_out, n_in)``, ``.singular_values``,
        ``.condition_number``, ``.inverse_jacobian``, ``.null_space``,
        ``.amplification``, ``.report()``, ``.symbolic()``, ``.latex()``.

    Raises
    ------
    ShapeError, InvalidValueError
        Wrong shape, NaN or inf in ``x``.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[1.0], [1.0]], activation="tanh")])    # 2 -> 1: wide
    >>> s = sr.sensitivity(m, np.zeros((3, 2)))
    >>> s.jacobian.shape, s.null_space[0].shape, s.inverse_jacobian[0].round(3).tolist()
    ((3, 1, 2), (2, 1), [[0.5], [0.5]])
    """
    rows, single = as_batch(x, model.n_in, "x")
    y, J = numpy_ref.jacobian(model, rows)
    J = np.array(J, dtype=np.float64)
    if single:
        return Sensitivity(model, rows[0], np.array(y[0]), J[0])
    return Sensitivity(model, rows, np.array(y), J)
