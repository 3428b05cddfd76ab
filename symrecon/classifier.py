"""Questions for a softmax classifier: its preimage sets, class prototypes, the smallest change of class.

* :func:`softmax_preimage`: every input a classifier maps to a probability
  vector, as an :class:`~symrecon.sets.AffineSet`, where a closed form exists.
* :func:`prototype`: the input the network calls class ``cls`` with a given
  confidence, nearest to a reference (e.g. the data mean) within bounds.
* :func:`smallest_class_change`: the nearest input (L2) that the network
  calls another class.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> m = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])
>>> res = sr.prototype(m, 2, confidence=0.9)
>>> m(res.x).round(6).tolist()
[0.05, 0.05, 0.9]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from .backends import numpy_ref
from .errors import InvalidParameterError, InvalidValueError, ShapeError
from .models import Sequential
from .sets import AffineSet
from .softmax import is_classifier
from .validation import as_real_array, check_bounds

if TYPE_CHECKING:
    from scipy.optimize import Bounds

__all__ = ["ClassChange", "class_probabilities", "prototype", "smallest_class_change", "softmax_preimage"]


def _classifier(model: object, caller: str) -> Sequential:
    if not is_classifier(model):
        raise InvalidParameterError(f"The 'model' parameter of {caller} must be a Sequential ending in a Softmax "
                                    f"layer (a classifier); got {model!r}")
    assert isinstance(model, Sequential)
    return model


def softmax_preimage(model: Sequential, p: ArrayLike) -> AffineSet:
    """Every input the classifier maps to ``p``: ``{point + null_basis @ t}``.

    The set is ``{x : body(x) Q = log(p) Q}`` (see :mod:`symrecon.softmax`),
    exact where the reduced model has a closed form (for instance every
    classifier whose layers below the softmax are linear: the free constant of
    the softmax is then one of the set's directions).

    Parameters
    ----------
    model : Sequential
        Ends in a :class:`~symrecon.Softmax` layer.
    p : array_like, shape (n,) or (N, n)
        Probability vectors (checked as :func:`symrecon.softmax.check_probabilities` says).

    Returns
    -------
    AffineSet
        ``point`` (n_in,) or (N, n_in): the minimum-norm member; ``null_basis``
        (n_in, k) orthonormal (``k = 0``: one point).

    Raises
    ------
    NotInvertibleError
        No closed form (e.g. a wide hidden layer): use :func:`~symrecon.reconstruct`
        with ``x_ref`` for one member.
    InfeasibleTargetError, ShapeError
        Not a probability vector; or no input reaches it.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), sr.Softmax(2)])
    >>> s = sr.softmax_preimage(m, [0.25, 0.75])
    >>> s.dimension, m(s.sample(np.array([3.0, -1.0]))).round(12).tolist()
    (2, [0.25, 0.75])
    """
    from .symbolic.inverse import analytic_inverse

    return analytic_inverse(_classifier(model, "softmax_preimage")).affine_set(p)


def class_probabilities(n: int, cls: ArrayLike, confidence: float) -> NDArray[np.float64]:
    """Probability vectors with ``confidence`` on class ``cls`` and ``1 - confidence`` shared equally by the rest.

    Parameters
    ----------
    n : int
        Number of classes.
    cls : int or array_like of int, shape (N,)
    confidence : float
        In ``(1/n, 1)``: the class must be the most probable one.

    Returns
    -------
    ndarray, shape (n,) or (N, n)

    Examples
    --------
    >>> from symrecon.classifier import class_probabilities
    >>> class_probabilities(3, [0, 2], 0.8).round(12).tolist()
    [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]
    """
    raw = np.asarray(cls)
    if raw.dtype.kind not in "iu" or raw.ndim > 1 or raw.size == 0:
        raise InvalidParameterError(f"The 'cls' parameter of prototype() must be a class index or a 1-D batch of "
                                    f"them (integers); got {cls!r}")
    out = raw[(raw < 0) | (raw >= n)]
    if out.size:
        raise InvalidValueError(f"class index {int(out[0])} is out of range: the classifier has classes 0 .. {n - 1}")
    if not (isinstance(confidence, (int, float, np.floating)) and 1.0 / n < confidence < 1.0):
        raise InvalidValueError(f"The 'confidence' parameter must be a number in (1/{n}, 1) = ({1.0 / n:.6g}, 1) "
                                f"so that the class is the most probable one; got {confidence!r}")
    p = np.full((raw.size, n), (1.0 - float(confidence)) / (n - 1))
    p[np.arange(raw.size), raw.ravel()] = float(confidence)
    return p[0] if raw.ndim == 0 else p


def prototype(model: Sequential, cls: ArrayLike, confidence: float = 0.99, *, bounds: object = None,
              x_ref: ArrayLike | None = None, tol: float | None = None, max_iter: int | None = None) -> Any:
    """The input the classifier calls ``cls`` with probability ``confidence``, nearest to ``x_ref``.

    The target is ``p_cls = confidence`` and ``(1 - confidence) / (n - 1)`` on
    every other class (they share the rest equally).  Among all inputs giving
    it, the one nearest to ``x_ref`` in L2 within ``bounds`` is returned
    (:mod:`symrecon.solvers.nearest`), re-checked by a forward pass.

    Parameters
    ----------
    model : Sequential
        Ends in a :class:`~symrecon.Softmax` layer.
    cls : int or array_like of int, shape (N,)
    confidence : float, default 0.99
        In ``(1/n, 1)``.
    bounds : (lower, upper), optional
        Box on the input (e.g. the pixel range).
    x_ref : array_like, shape (n_in,) or (N, n_in), optional
        Reference input; default the origin (the minimum-norm prototype).
    tol, max_iter
        As in :func:`~symrecon.reconstruct` (``tol`` applies to the probabilities).

    Returns
    -------
    Reconstruction
        ``x`` (n_in,) or (N, n_in); ``y_target`` the probability vectors.

    Raises
    ------
    InvalidParameterError, InvalidValueError
        Not a classifier, a class out of range, a confidence outside ``(1/n, 1)``.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense(np.eye(3)), sr.Softmax(3)])
    >>> res = sr.prototype(m, [0, 1], confidence=0.8, bounds=(-2, 2), x_ref=np.zeros(3))
    >>> res.success.tolist(), m(res.x).argmax(axis=1).tolist()
    ([True, True], [0, 1])
    """
    from .reconstruct import reconstruct

    model = _classifier(model, "prototype")
    p = class_probabilities(model.n_out, cls, confidence)
    ref = np.zeros(model.n_in) if x_ref is None else x_ref
    return reconstruct(model, p, bounds=bounds, x_ref=ref, tol=tol, max_iter=max_iter)


@dataclass(frozen=True)
class ClassChange:
    """The nearest input of another class (see :func:`smallest_class_change`).

    Attributes
    ----------
    x : ndarray (n_in,)
        The changed input.
    from_class, to_class : int
        The class of the original input and of ``x``.
    distance : float
        ``||x - x_original||`` (L2).
    probabilities : ndarray (n,)
        The classifier's output at ``x``.
    """

    x: NDArray[np.float64]
    from_class: int
    to_class: int
    distance: float
    probabilities: NDArray[np.float64]


def _towards(body: Any, x: NDArray[np.float64], k: int, c: int, box: Bounds | None, margin: float,
             max_iter: int) -> NDArray[np.float64]:
    """Nearest ``x'`` with logit ``k`` ahead of every other by ``margin`` (SLSQP from ``x``)."""
    # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
    from scipy.optimize import minimize

    others = np.array([j for j in range(body.n_out) if j != k])

    def lead(v: NDArray[np.float64]) -> NDArray[np.float64]:
        z = body(v)
        return z[k] - z[others] - margin

    def lead_jac(v: NDArray[np.float64]) -> NDArray[np.float64]:
        _, jac = numpy_ref.jacobian(body, v[None, :])
        return jac[0, k][None, :] - jac[0, others]

    res = minimize(lambda v: (0.5 * float(np.dot(v - x, v - x)), v - x), x, jac=True, method="SLSQP", bounds=box,
                   constraints=[{"type": "ineq", "fun": lead, "jac": lead_jac}],
                   options={"maxiter": max_iter, "ftol": 1e-14})
    return np.asarray(res.x, dtype=np.float64)


def smallest_class_change(model: Sequential, x: ArrayLike, *, to_class: int | None = None, bounds: object = None,
                          margin: float = 1e-3, max_iter: int = 500) -> ClassChange:
    """The nearest input (L2, within bounds) that the classifier assigns to another class.

    For every candidate class ``k`` it solves ``min ||x' - x||^2`` subject to
    ``z_k(x') >= z_j(x') + margin`` for all ``j != k`` (``z``: the logits) by
    SLSQP, and keeps the nearest answer that a forward pass confirms.  On a
    nonlinear network each search finds a local minimum.

    Parameters
    ----------
    model : Sequential
        Ends in a :class:`~symrecon.Softmax` layer.
    x : array_like, shape (n_in,)
    to_class : int, optional
        Only this class (default: the nearest of all other classes).
    bounds : (lower, upper), optional
    margin : float, default 1e-3
        Lead of the new class's logit, so the decision is unambiguous even
        in float32 (Keras's own evaluation rounds logits of size 10 to about
        ``1e-6``).
    max_iter : int, default 500

    Returns
    -------
    ClassChange

    Raises
    ------
    InfeasibleTargetError
        No search ended in another class.

    Examples
    --------
    >>> import numpy as np, symrecon as sr
    >>> m = sr.Sequential([sr.Dense(np.eye(2)), sr.Softmax(2)])
    >>> ch = sr.smallest_class_change(m, [1.0, 0.0])
    >>> ch.to_class, round(ch.distance, 4)
    (1, 0.7078)
    """
    from scipy.optimize import Bounds

    from .errors import InfeasibleTargetError

    model = _classifier(model, "smallest_class_change")
    x0 = as_real_array(x, "x", ndim=1)
    if x0.shape != (model.n_in,):
        raise ShapeError(f"x must have shape ({model.n_in},); got shape {x0.shape}")
    lower, upper = check_bounds(bounds, model.n_in)
    box = None if lower is None else Bounds(lower, upper)
    body = Sequential(model.layers[:-1]) if len(model.layers) > 1 else None
    if body is None:
        raise InvalidParameterError("smallest_class_change needs layers below the softmax (its input are the logits)")
    p0 = model(x0)
    c = int(np.argmax(p0))
    candidates = [j for j in range(model.n_out) if j != c] if to_class is None else [int(to_class)]
    if any(not 0 <= k < model.n_out or k == c for k in candidates):
        raise InvalidValueError(f"to_class must be a class other than the input's own ({c}) in 0 .. "
                                f"{model.n_out - 1}; got {to_class!r}")
    best: ClassChange | None = None
    for k in candidates:
        with threadpool_limits(limits=1, user_api="blas"):  # tiny SLSQP problems (see solvers.nearest)
            xk = _towards(body, np.array(x0), k, c, box, float(margin), int(max_iter))
        pk = model(xk)
        if int(np.argmax(pk)) == k and (best is None or np.linalg.norm(xk - x0) < best.distance):
            best = ClassChange(x=xk, from_class=c, to_class=k, distance=float(np.linalg.norm(xk - x0)),
                               probabilities=pk)
    if best is None:
        raise InfeasibleTargetError(f"no input within the bounds was found that the classifier assigns to "
                                    f"{'class ' + str(to_class) if to_class is not None else 'another class'}")
    return best
