"""The packed model every numba kernel reads, and the small bundles of per-solve settings and outputs.

A :class:`~symrecon.Sequential` of :class:`~symrecon.Dense` layers is
flattened once into a :class:`PackedModel`: a ``NamedTuple`` of contiguous
arrays that numba passes as *one* argument.  Layout with ``L`` layers:

* ``sizes`` (L + 1,) int64: ``sizes[0] = n_in``, ``sizes[l + 1]`` = width of layer ``l``.
* ``w`` flat float64; layer ``l``'s kernel stored *transposed* (``n_out, n_in``,
  row-major) from ``w[w_off[l]]``: the layout for pushing vectors backwards
  (``W v``) and tangents forwards as contiguous multiply-adds.
* ``wk`` the same kernels in Keras layout (``n_in, n_out``, row-major), the
  layout for the forward pass ``x @ W``.
* ``b`` flat float64, layer ``l``'s bias from ``b_off[l]``.
* ``codes`` (L,) int64 and ``params`` (L,) float64: each layer's
  :class:`~symrecon.activations.KernelCode` and parameter.
* ``image`` (L, 4) float64: each layer's activation image as ``low, high,
  low_closed, high_closed`` (ends ±inf where open-ended; 1.0 for a closed end).
* ``back`` flat float64: each layer's back-matrix ``B_l`` (``n_out, n_in``,
  row-major, at the offsets of ``w``): ``W_l^{-1}`` for a square layer, the
  Moore-Penrose pseudo-inverse otherwise, both from one SVD (singular values
  below the rank tolerance count as zero).  The closed form steps back with
  ``a_{l-1} = (f_l^{-1}(a_l) - b_l) B_l``.  Empty unless packed with ``inverses``.
* ``winv`` the same array as ``back`` when every layer is square and
  well-conditioned (condition number below :data:`MAX_LAYER_COND`): the
  layer inverses of the structured Gauss–Newton phase; empty otherwise.

One model has one packed form: the closed-form kernel and the iterative ones
read the same cached object (:func:`pack`).

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.backends.numba.pack import pack
>>> pm = pack(sr.Sequential([sr.Dense([[0.4, 0.1]], [-25.0, 0.0], "tanh")]))
>>> pm.n_in, pm.n_out, pm.max_width, pm.winv.size
(1, 2, 2, 0)
>>> pm.image[0].tolist()                       # tanh: (-1, 1), both ends open
[-1.0, 1.0, 0.0, 0.0]
>>> pack(sr.Sequential([sr.Dense([[2.0]])]), inverses=True).back.tolist()
[0.5]
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["PackedModel", "Settings", "Outputs", "pack", "layer_inverses", "layer_backs", "rank_tolerance",
           "unpack_layers", "settings", "outputs", "MAX_LAYER_COND"]

#: layers whose condition number exceeds this are not inverted for the structured phase
MAX_LAYER_COND = 1e10


class PackedModel(NamedTuple):
    """A dense network as flat arrays (see the module docstring for the layout)."""

    sizes: NDArray[np.int64]
    w: NDArray[np.float64]
    wk: NDArray[np.float64]
    w_off: NDArray[np.int64]
    b: NDArray[np.float64]
    b_off: NDArray[np.int64]
    codes: NDArray[np.int64]
    params: NDArray[np.float64]
    winv: NDArray[np.float64]
    image: NDArray[np.float64]
    back: NDArray[np.float64]

    @property
    def n_in(self) -> int:
        return int(self.sizes[0])

    @property
    def n_out(self) -> int:
        return int(self.sizes[-1])

    @property
    def max_width(self) -> int:
        return int(np.max(self.sizes))

    @property
    def structured(self) -> bool:
        """Whether the layer inverses of the structured Gauss–Newton phase are present."""
        return self.winv.size > 0

    @property
    def has_back(self) -> bool:
        """Whether the back-matrices of the closed form are present (packed with ``inverses``)."""
        return self.back.size > 0


class Settings(NamedTuple):
    """Per-solve settings of an iterative kernel.

    ``tol`` the max-norm residual at which a target counts as reached:
    (N,) one per target of the batch, or (1,) for all of them (see
    :func:`target_tol`); ``max_iter`` iteration limit; ``lower``/``upper``
    (n_in,) box (±inf when unbounded; ignored unless ``has_bounds``).
    """

    tol: NDArray[np.float64]
    max_iter: int
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    has_bounds: bool


class Outputs(NamedTuple):
    """What an iterative kernel writes, per target.

    ``xs`` (N, n_in) answers; ``status`` (N,) int8
    :class:`~symrecon.status.Status` codes (rows start at ``NOT_RUN``);
    ``iters`` (N,) int64 iterations (an input too where a phase continues
    another's count); ``hist`` (H, n_in) ``x`` per iteration, recorded only
    for a single target when ``H > max_iter``.
    """

    xs: NDArray[np.float64]
    status: NDArray[np.int8]
    iters: NDArray[np.int64]
    hist: NDArray[np.float64]


def settings(tol: Any, max_iter: int, lower: Any = None, upper: Any = None, n_in: int | None = None) -> Settings:
    """A :class:`Settings` with the exact types the kernels are compiled for.

    ``tol`` is a scalar (every target) or one value per target.  Without
    bounds, ``n_in`` gives the length of the ±inf arrays.
    """
    # writable, contiguous 1-D copies: numba compiles a separate specialisation for read-only arrays
    tols = np.array(np.atleast_1d(tol), dtype=np.float64)
    if lower is None:
        if n_in is None:
            raise ValueError("settings() without bounds needs n_in")
        return Settings(tols, int(max_iter), np.full(n_in, -np.inf), np.full(n_in, np.inf), False)
    return Settings(tols, int(max_iter), np.array(lower, dtype=np.float64),
                    np.array(upper, dtype=np.float64), True)


def outputs(n: int, n_in: int, hist_rows: int = 0) -> Outputs:
    """Fresh :class:`Outputs` for ``n`` targets: status ``NOT_RUN`` (zeros), no iterations yet."""
    return Outputs(np.full((n, n_in), np.nan), np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int64),
                   np.zeros((hist_rows, n_in)))


def rank_tolerance(s: NDArray[np.float64], shape: tuple[int, ...]) -> float:
    """NumPy's numerical-rank threshold ``max(shape) * eps * s_max`` for singular values ``s``."""
    return float(max(shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0))


def layer_backs(model: Any) -> tuple[list[NDArray[np.float64]], list[float]]:
    """Each layer's back-matrix ``B`` (n_out, n_in) and condition number, from one SVD per layer.

    ``B = V S^+ U^T``: ``W^{-1}`` for a square full-rank kernel, the
    least-squares (tall) or minimum-norm (wide) pseudo-inverse otherwise;
    singular values at or below :func:`rank_tolerance` count as zero (and
    make the condition number infinite).
    """
    backs, conds = [], []
    for layer in model.layers:
        k = np.asarray(layer.kernel, dtype=np.float64)
        u, s, vt = np.linalg.svd(k, full_matrices=False)
        keep = s > rank_tolerance(s, k.shape)
        r = int(np.sum(keep))
        backs.append((vt[:r].T / s[:r]) @ u[:, :r].T)
        conds.append(float(s[0] / s[-1]) if s.size and r == s.size else np.inf)
    return backs, conds


def layer_inverses(model: Any) -> NDArray[np.float64] | None:
    """``W_l^{-1}`` of every layer, flattened like the packed weights; None if not a square chain.

    Returns None when a layer is not square or is ill-conditioned
    (condition number above :data:`MAX_LAYER_COND`).  The same numbers as
    the packed ``winv`` (:func:`layer_backs`).
    """
    if any(layer.kernel.shape[0] != layer.kernel.shape[1] for layer in model.layers):
        return None
    backs, conds = layer_backs(model)
    if not all(c < MAX_LAYER_COND for c in conds):
        return None
    return np.ascontiguousarray(np.concatenate([b.ravel() for b in backs]))


#: packed forms already built, per model object (models are immutable: read-only weights)
_PACKED: "weakref.WeakKeyDictionary[Any, dict[bool, PackedModel]]" = weakref.WeakKeyDictionary()


def pack(model: Any, inverses: bool = False) -> PackedModel:
    """Flatten a :class:`~symrecon.Sequential` of :class:`~symrecon.Dense` layers (once per model).

    A batch split into blocks packs its model once: the result is kept per
    model object (weakly: it goes with the model).

    Parameters
    ----------
    model : Sequential
    inverses : bool, default False
        Also store the back-matrices of the closed form (``back``) and the
        layer inverses of the structured Gauss–Newton phase (``winv``, left
        empty unless every layer is square and well-conditioned): one SVD per
        layer, so solvers that need neither skip it.

    Returns
    -------
    PackedModel
    """
    try:
        cached = _PACKED.setdefault(model, {})
    except TypeError:  # not weak-referenceable (a duck-typed model): pack every time
        cached = {}
    if inverses not in cached:
        cached[inverses] = _pack(model, inverses)
    return cached[inverses]


def _image(act: Any) -> list[float]:
    low, high, low_open, high_open = act.image_bounds
    return [low, high, float(not low_open), float(not high_open)]


def _pack(model: Any, inverses: bool) -> PackedModel:
    layers = model.layers
    sizes = np.array([layers[0].n_in] + [layer.n_out for layer in layers], dtype=np.int64)
    counts = [layer.kernel.size for layer in layers]
    back = winv = np.empty(0)
    if inverses:
        backs, conds = layer_backs(model)
        back = np.ascontiguousarray(np.concatenate([b.ravel() for b in backs]))
        square = all(layer.kernel.shape[0] == layer.kernel.shape[1] for layer in layers)
        if square and all(c < MAX_LAYER_COND for c in conds):
            winv = back  # the same numbers: one array, not a copy
    return PackedModel(
        sizes=sizes,
        # transposed: row j holds the weights into unit j (contiguous dot products)
        w=np.ascontiguousarray(np.concatenate([np.ravel(layer.kernel.T) for layer in layers])),
        wk=np.ascontiguousarray(np.concatenate([np.ravel(layer.kernel) for layer in layers])),
        w_off=np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64),
        b=np.ascontiguousarray(np.concatenate([np.asarray(layer.bias, dtype=np.float64) for layer in layers])),
        b_off=np.concatenate([[0], np.cumsum(sizes[1:])[:-1]]).astype(np.int64),
        codes=np.array([layer.activation.kernel_code for layer in layers], dtype=np.int64),
        params=np.array([layer.activation.param for layer in layers], dtype=np.float64),
        winv=winv,
        image=np.array([_image(layer.activation) for layer in layers], dtype=np.float64).reshape(len(layers), 4),
        back=back,
    )


def unpack_layers(pm: PackedModel) -> Iterator[tuple[NDArray[np.float64], NDArray[np.float64], int, float]]:
    """``(kernel (n_in, n_out), bias (n_out,), code, param)`` per layer: the packing read back (for tests)."""
    for layer in range(len(pm.codes)):
        n_i, n_o = int(pm.sizes[layer]), int(pm.sizes[layer + 1])
        kernel = pm.wk[pm.w_off[layer]: pm.w_off[layer] + n_i * n_o].reshape(n_i, n_o)
        yield kernel, pm.b[pm.b_off[layer]: pm.b_off[layer] + n_o], int(pm.codes[layer]), float(pm.params[layer])
