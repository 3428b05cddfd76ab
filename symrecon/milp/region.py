"""The inputs that shut down a unit of a piecewise-linear network, exactly, as a set decided by MILP.

``unit_off_region(model, layer_index, unit, threshold, bounds)`` is the set
``{x in [lower, upper] : a(x) <= threshold}`` (``|a(x)| <= threshold`` for a
linear unit), ``a`` the unit's activation, for any depth.  It is not
enumerated: membership is an exact forward pass, emptiness and the nearest
member are MILPs over the big-M model of the layers up to the unit
(:mod:`symrecon.milp.formulation`), so it stays cheap for wide, deep nets.

``nearest`` minimises the L1 distance (or L-infinity with ``norm="linf"``),
not the Euclidean one: a Euclidean objective would be a mixed-integer QP,
which ``scipy.optimize.milp`` does not solve.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.milp.region import unit_off_region
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]], [-1.0], "relu")])
>>> r = unit_off_region(m, 1, 0, 0.0, (-2.0, 2.0))          # relu(relu(x) + relu(-x) - 1) = 0  <=>  |x| <= 1
>>> r.contains([0.5]), r.contains([1.5]), r.is_empty, r.exact
(True, False, False, True)
>>> r.nearest([1.8]).round(6).tolist()
[1.0]
>>> unit_off_region(m, 1, 0, 0.0, (1.5, 2.0)).is_empty
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import CapabilityError, InfeasibleTargetError, InvalidParameterError
from ..models import Dense, Sequential
from ..validation import as_batch, check_bounds, check_tol
from .distance import NORMS, with_distance
from .formulation import build_model, hinge_bounds
from .network import PLNetwork
from .search import SCIPY_INFEASIBLE

__all__ = ["UnitOffRegion", "unit_off_region"]

Float64Array = NDArray[np.float64]

#: the MILP aims this far (relative) inside the region so that HiGHS's feasibility tolerance cannot put a member outside
_MARGIN = 1e-7
#: uniform draws per requested sample before rejection sampling hands over to MILP projections
_DRAWS_PER_SAMPLE = 200


def unit_off_region(model: Sequential, layer_index: int, unit: int, threshold: float | None = 0.0,
                    bounds: Any = None, *, time_limit: float = 60.0) -> "UnitOffRegion":
    """The inputs in ``bounds`` that switch unit ``unit`` of layer ``layer_index`` off (exact, by MILP).

    Parameters
    ----------
    model : Sequential
        Dense layers with piecewise-linear activations (up to the layer asked about).
    layer_index : int
        Index of the layer in ``model.layers``.
    unit : int
        Index of the unit in that layer.
    threshold : float or None, default 0.0
        "Off" means ``a <= threshold`` (``|a| <= threshold`` for a linear unit); None is 0.
    bounds : (lower, upper)
        A finite input box (required: the big-M constants and the proofs are relative to it).
    time_limit : float, default 60.0
        Seconds per MILP (emptiness, each ``nearest``).

    Returns
    -------
    UnitOffRegion

    Raises
    ------
    InvalidParameterError
        A layer or unit that does not exist.
    CapabilityError
        Bounds missing or not finite.
    UnsupportedLayerError
        A layer up to ``layer_index`` that is not piecewise linear (named).

    Examples
    --------
    >>> import symrecon as sr
    >>> m = sr.Sequential([sr.Dense([[2.0]], [-1.0], "relu", name="h")])
    >>> unit_off_region(m, 0, 0, bounds=(-1.0, 1.0)).contains([[0.2], [0.7]]).tolist()
    [True, False]
    """
    return UnitOffRegion(model, layer_index, unit, 0.0 if threshold is None else threshold, bounds,
                         time_limit=time_limit)


class UnitOffRegion:
    """``{x in box : a(x) <= t}`` (``|a(x)| <= t`` for a linear unit) of one unit; see :func:`unit_off_region`.

    Attributes
    ----------
    n : int
        Input dimension.
    lower, upper : ndarray, shape (n,)
    threshold : float
    exact : bool
        Always True (membership by forward pass, emptiness and ``nearest`` by MILP proofs).
    kind : str
        ``"exact-set"``.
    """

    exact = True
    kind = "exact-set"

    def __init__(self, model: Sequential, layer_index: int, unit: int, threshold: float, bounds: Any,
                 *, time_limit: float = 60.0):
        if not isinstance(model, Sequential):
            raise InvalidParameterError(f"model must be a symrecon Sequential; got {type(model).__name__}")
        n_layers = len(model.layers)
        if isinstance(layer_index, bool) or not isinstance(layer_index, (int, np.integer)) \
                or not -n_layers <= layer_index < n_layers:
            raise InvalidParameterError(f"The 'layer_index' parameter must be an int in [0, {n_layers}) (the model has "
                                        f"{n_layers} layer(s)). Got {layer_index!r} instead.")
        index = int(layer_index) % n_layers
        layer = model.layers[index]
        n_units = layer.n_out
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < n_units:
            raise InvalidParameterError(f"The 'unit' parameter must be an int in [0, {n_units}) (layer {layer.name!r} "
                                        f"has {n_units} unit(s)). Got {unit!r} instead.")
        self.threshold = float(check_tol(threshold, "threshold", allow_zero=True)) if _is_abs(layer) \
            else float(threshold)
        lower, upper = check_bounds(bounds, model.n_in)
        if lower is None or upper is None or not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            raise CapabilityError(f"the exact shut-down region of a deeper unit needs finite bounds=(lower, upper) on "
                                  f"every input (scalars or arrays of shape ({model.n_in},))")
        self.lower, self.upper, self.time_limit = lower, upper, float(time_limit)
        self.layer_index, self.unit, self.layer_name = index, int(unit), layer.name
        single = Dense(layer.kernel[:, [unit]], layer.bias[[unit]], layer.activation, name=layer.name)  # type: ignore[attr-defined]
        self._prefix = Sequential(list(model.layers[:index]) + [single], name=f"{model.name}[:{index + 1}]")
        self._net = PLNetwork.from_model(self._prefix)
        self._model = build_model(self._net, hinge_bounds(self._prefix, lower, upper), lower, upper)
        self._emptiness: tuple[bool, str | None] | None = None

    @property
    def n(self) -> int:
        return int(self.lower.shape[0])

    @property
    def condition(self) -> str:
        """What "off" means here, in words."""
        return f"|a| <= {self.threshold:g}" if _is_abs(self._prefix.layers[-1]) else f"a <= {self.threshold:g}"

    # ------------------------------------------------------------------ membership
    def activation(self, x: ArrayLike) -> Float64Array:
        """The unit's activation ``a`` (N,) at inputs ``x`` (N, n) by the forward pass."""
        rows, _ = as_batch(x, self.n, "x")
        return self._prefix(rows)[:, 0]

    def contains(self, x: ArrayLike, tol: float = 1e-9) -> Any:
        """Whether ``x`` ((n,) or (N, n)) is in the box and shuts the unit (within ``tol``): bool or bool (N,)."""
        rows, single = as_batch(x, self.n, "x")
        tol = check_tol(tol, "tol", allow_zero=True)
        a = self._prefix(rows)[:, 0]
        ok = a <= self.threshold + tol
        if _is_abs(self._prefix.layers[-1]):
            ok &= a >= -self.threshold - tol
        ok &= np.all((rows >= self.lower - tol) & (rows <= self.upper + tol), axis=1)
        return bool(ok[0]) if single else ok

    # ------------------------------------------------------------------ MILPs
    def _solve(self, margin: float, x_ref: Float64Array | None = None, norm: str = "l1"):
        # on first use, not at import: import symrecon stays cheap (tests/test_import.py)
        from scipy.optimize import Bounds, LinearConstraint, milp

        M = self._model
        t = self.threshold - margin * (1.0 + abs(self.threshold))
        lo, hi = M.lo.copy(), M.hi.copy()
        lo[-1] = (-t if _is_abs(self._prefix.layers[-1]) else -np.inf) - M.out_offset[0]
        hi[-1] = t - M.out_offset[0]
        c, A, lb, ub, integ = np.zeros(M.n_vars), M.A, M.lb, M.ub, M.integrality
        if x_ref is not None:
            c, A, lo, hi, lb, ub, integ = with_distance(A, lo, hi, lb, ub, integ, x_ref, norm)
        return milp(c, integrality=integ, bounds=Bounds(lb, ub), constraints=LinearConstraint(A, lo, hi),
                    options={"time_limit": self.time_limit, "disp": False})

    def _decide(self, x_ref: Float64Array | None = None, norm: str = "l1") -> Float64Array | None:
        """A member (nearest to ``x_ref`` when given), None when proved empty."""
        for margin in (_MARGIN, 0.0):     # inside by a margin; the exact threshold only to decide emptiness
            res = self._solve(margin, x_ref, norm)
            if res.x is not None:
                return np.asarray(res.x[: self.n])
            if res.status != SCIPY_INFEASIBLE:
                raise CapabilityError(f"the MILP for unit {self.unit} of layer {self.layer_name!r} was not decided "
                                      f"within time_limit={self.time_limit:g} s; raise it")
        return None

    @property
    def is_empty(self) -> bool:
        """True when HiGHS proves that no input in the box shuts the unit (see :attr:`certificate`)."""
        if self._emptiness is None:
            found = self._decide()
            self._emptiness = (found is None, None if found is not None else (
                f"HiGHS proved the big-M MILP infeasible: no input in the box gives unit {self.unit} of layer "
                f"{self.layer_name!r} {self.condition} ({int(self._model.integrality.sum())} unstable hinge(s), "
                f"bounds by interval propagation)"))
        return self._emptiness[0]

    @property
    def certificate(self) -> str | None:
        """Why the set is empty (None when it is not)."""
        return self._emptiness[1] if self.is_empty and self._emptiness else None

    def nearest(self, x_ref: ArrayLike, norm: str = "l1") -> Float64Array:
        """The member nearest to ``x_ref`` ((n,) or (N, n)) in the L1 (or ``"linf"``) norm; one MILP per row.

        Raises
        ------
        InfeasibleTargetError
            The set is empty (the message holds the certificate).
        """
        if norm not in NORMS:
            raise InvalidParameterError(f"The 'norm' parameter must be one of {', '.join(map(repr, NORMS))}. "
                                        f"Got {norm!r} instead.")
        rows, single = as_batch(x_ref, self.n, "x_ref")
        if self.is_empty:
            raise InfeasibleTargetError(f"the shut-down region is empty: {self.certificate}",
                                        layer=self.layer_name, unit=self.unit)
        inside = np.atleast_1d(self.contains(rows, tol=0.0))
        out = np.array(rows, dtype=np.float64, copy=True)
        for t in np.flatnonzero(~inside):
            found = self._decide(rows[t], norm)
            assert found is not None
            out[t] = found
        return out[0] if single else out

    def sample(self, k: int, rng: Any = None) -> Float64Array:
        """``k`` members (k, n): uniform draws in the box kept when inside; MILP projections of draws if too rare."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise InvalidParameterError(f"The 'k' parameter of sample must be an int >= 0. Got {k!r} instead.")
        if self.is_empty:
            raise InfeasibleTargetError(f"cannot sample an empty set: {self.certificate}", layer=self.layer_name,
                                        unit=self.unit)
        gen = np.random.default_rng(rng)
        draws = gen.uniform(self.lower, self.upper, size=(_DRAWS_PER_SAMPLE * max(k, 1), self.n))
        kept = draws[np.asarray(self.contains(draws, tol=0.0), dtype=bool)][:k]
        missing = k - kept.shape[0]
        if missing:
            extra = self.nearest(gen.uniform(self.lower, self.upper, size=(missing, self.n)))
            kept = np.vstack([kept, np.atleast_2d(extra)])
        return kept

    def latex(self) -> str:
        """The set and its MILP formulation in LaTeX."""
        rule = r"\lvert a(x) \rvert" if _is_abs(self._prefix.layers[-1]) else "a(x)"
        live = int(self._model.integrality.sum())
        return (rf"\left\{{ x \in \prod_i [l_i, u_i] : {rule} \le {self.threshold:g} \right\}}, \quad "
                rf"a = a^{{({self.layer_index + 1})}}_{{{self.unit + 1}}}; \quad "
                rf"\text{{each hinge }} r = \max(0, s),\ s \in [L, U]: "
                rf"r \ge 0,\ r \ge s,\ r \le U\delta,\ r \le s - L(1 - \delta),\ \delta \in \{{0, 1\}} "
                rf"\ ({live} \text{{ binaries}})")

    def __repr__(self) -> str:
        return (f"UnitOffRegion(unit {self.unit} of layer {self.layer_name!r}: {self.condition}, n={self.n}, "
                f"exact=True)")


def _is_abs(layer: Any) -> bool:
    """A linear unit is off when ``|a| <= threshold`` (it has no "below" side)."""
    return layer.activation.name == "linear"
