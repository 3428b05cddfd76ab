"""Load trained Keras models without Keras, TensorFlow or code execution.

Reads with zipfile, json, h5py and NumPy only:

- Keras 3 ``.keras`` archives (``config.json`` + ``model.weights.h5``, read
  from memory, never extracted);
- legacy full-model ``.h5`` files written by Keras 3 or tf.keras 2.x;
- weights-only ``*.weights.h5`` files together with an architecture (a
  ``.keras`` archive, a ``config.json``, or a symrecon model of the same shapes);
- live ``keras.Model`` objects (:func:`from_keras`, duck-typed).

Sequential models and Functional models that are a single chain (nested
models included) load into a :class:`~symrecon.models.Sequential` of float64
layers.  The configuration is treated as data: anything that could carry code
(Lambda layers, custom or non-Keras classes, pickled weights, ...) is refused
with :class:`~symrecon.errors.ModelFormatError`, and HDF5 links, external and
virtual datasets, shape bombs, hard-linked objects and ambiguous archives are
refused before any value is read, and memory stays proportional to the file's
size.  Layer classes are looked up in an allow-list
(``symrecon.io._build.KINDS``); others raise
:class:`~symrecon.errors.UnsupportedLayerError`.

Examples
--------
>>> import symrecon as sr
>>> model = sr.load_keras("model.keras")                              # doctest: +SKIP
>>> model = sr.load_keras("model.h5")                                 # doctest: +SKIP
>>> model = sr.load_keras("arch.keras", weights="w.weights.h5")       # doctest: +SKIP
>>> model = sr.load_keras("w.weights.h5", architecture=other_model)   # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..errors import ModelFormatError, SymreconError
from ..models import Sequential
from ._archive import (
    CONFIG_MEMBER,
    METADATA_MEMBER,
    WEIGHTS_MEMBER,
    is_hdf5,
    is_zip,
    parse_json,
    read_file_bytes,
    read_keras_archive,
)
from ._build import Context, build_layers
from ._config import IGNORED_TOP_KEYS, Node, parse_model, scan
from ._h5tree import SafeH5, attr_str
from ._weights import fill_model, from_legacy_file, from_live_model, from_v3_file

__all__ = ["from_keras", "load_keras"]

PathLike = str | os.PathLike


def load_keras(path: PathLike, weights: PathLike | None = None, *,
               architecture: Sequential | PathLike | None = None) -> Sequential:
    """Load a trained Keras model into a float64 :class:`~symrecon.models.Sequential`.

    Parameters
    ----------
    path : str or path-like
        One of

        - a Keras 3 ``.keras`` archive;
        - a legacy full-model ``.h5`` (Keras 3 or tf.keras 2.x);
        - a ``config.json`` (architecture only: give ``weights``);
        - a weights-only ``*.weights.h5`` (give ``architecture``).
    weights : str or path-like, optional
        A weights-only ``*.weights.h5`` (Keras 3 layout, or a Keras 2
        ``save_weights`` ``.h5``) whose values replace those stored with the
        architecture in ``path``.
    architecture : Sequential or str or path-like, optional
        Only when ``path`` is a weights-only file: a ``.keras`` archive or
        ``config.json`` describing the model, or a symrecon ``Sequential``
        whose Dense and recurrent layers are refilled (same shapes required).

    Returns
    -------
    Sequential
        Dense layers (BatchNormalization/Normalization become diagonal
        ``Dense`` layers, activation layers fold into a preceding linear
        ``Dense``), recurrent layers (:mod:`symrecon.recurrent`) and
        forward-only layers (:mod:`symrecon.layers`), all float64.

    Raises
    ------
    ModelFormatError
        Unreadable, damaged, inconsistent or unsafe file; the message names
        the file and the offending part.  Nothing in the file is executed.
        Also: not a regular file (a named pipe, directory or device is
        refused before it is opened), and files that would need memory far
        beyond their size: HDF5 objects reachable by two paths (hard links),
        more than ``8 x size + 16 MiB`` read from an HDF5 file, archive
        members inflating more than 100x, and layers without a kernel
        (activation layers that cannot fold into a preceding linear Dense,
        BatchNormalization, Normalization) wider than 2048 units, or more
        than 64 MiB of their square matrices per model.
    UnsupportedLayerError
        A harmless layer symrecon cannot represent (names the layer and class).
    TypeError
        ``architecture`` is neither a path nor a ``Sequential``.

    Notes
    -----
    HDF5 is parsed by libhdf5 in a helper process started on the first load
    and reused afterwards (``symrecon.io._h5helper``): a crash or hang of the
    C library on a damaged file becomes a ModelFormatError, and the caller's
    threads are never forked.  Errors that are not caused by the file (bugs)
    propagate unchanged.

    Examples
    --------
    >>> import symrecon as sr
    >>> m = sr.load_keras("tests/data/keras/dense_chain.keras")   # doctest: +SKIP
    >>> m                                                          # doctest: +SKIP
    Sequential([Dense(3->4, activation='tanh', name='hidden'), ...], name='dense_chain')
    """
    try:
        return _load(path, weights, architecture)
    except RecursionError:
        # Only the file's nesting drives the recursion of the config and tree walkers.
        raise ModelFormatError(f"{os.fspath(path)}: model configuration is nested too deeply") from None


def _major(version: Any, where: str) -> int:
    text = attr_str(version) if version is not None else None
    if not text:
        return 3
    head = text.split(".", 1)[0]
    if not head.isdigit():
        raise ModelFormatError(f"{where}: unreadable keras_version {text!r}")
    return int(head)


def _load(path: PathLike, weights: PathLike | None, architecture: Any) -> Sequential:
    where = os.fspath(path)
    data = read_file_bytes(path)
    if is_zip(data):
        _no_architecture(architecture, where)
        members = read_keras_archive(data, where)
        config = parse_json(members[CONFIG_MEMBER], f"{where}:{CONFIG_MEMBER}")
        meta = parse_json(members[METADATA_MEMBER], f"{where}:{METADATA_MEMBER}") if METADATA_MEMBER in members \
            else {}
        major = _major(meta.get("keras_version") if isinstance(meta, dict) else None, where)
        if weights is not None:
            return _with_weights_file(config, where, major, weights)
        if WEIGHTS_MEMBER not in members:
            raise ModelFormatError(f"{where}: archive has no {WEIGHTS_MEMBER!r}; pass weights=")
        root = _root(config, where)
        with SafeH5(members[WEIGHTS_MEMBER], f"{where}:{WEIGHTS_MEMBER}") as h5:
            arrays = from_v3_file(h5, root)
        return _assemble(root, arrays, Context(where, major))
    if is_hdf5(data):
        with SafeH5(data, where) as h5:
            if "model_config" in h5.file.attrs:
                _no_architecture(architecture, where)
                config = parse_json(attr_str(h5.file.attrs["model_config"]) or "", f"{where}:model_config")
                major = _major(h5.file.attrs.get("keras_version"), where)
                if weights is not None:
                    return _with_weights_file(config, where, major, weights)
                root = _root(config, where)
                arrays = from_legacy_file(h5, root)
                return _assemble(root, arrays, Context(where, major))
            if weights is not None:
                raise ModelFormatError(f"{where}: is a weights-only file; it cannot take weights=")
            if architecture is None:
                raise ModelFormatError(f"{where}: is a weights-only file (no model_config); pass architecture= "
                                       "(a .keras/config.json path or a symrecon Sequential)")
            if isinstance(architecture, Sequential):
                return fill_model(h5, architecture)
        if not isinstance(architecture, (str, os.PathLike)):
            raise TypeError(f"architecture must be a symrecon Sequential or a path; got {type(architecture).__name__}")
        return load_keras(architecture, weights=path)
    if data.lstrip()[:1] in (b"{", b"["):
        _no_architecture(architecture, where)
        config = parse_json(data, where)
        if weights is None:
            raise ModelFormatError(f"{where}: a config.json holds no weights; pass weights= (a *.weights.h5)")
        return _with_weights_file(config, where, 3, weights)
    raise ModelFormatError(f"{where}: not a Keras file (expected a .keras zip archive, an HDF5 .h5 file or a "
                           "config.json)")


def _no_architecture(architecture: Any, where: str) -> None:
    if architecture is not None:
        raise ModelFormatError(f"{where}: already holds an architecture; architecture= is only for weights-only files")


def _with_weights_file(config: Any, where: str, major: int, weights: PathLike) -> Sequential:
    wwhere = os.fspath(weights)
    data = read_file_bytes(weights)
    if not is_hdf5(data):
        raise ModelFormatError(f"{wwhere}: weights must be an HDF5 *.weights.h5 file")
    root = _root(config, where)
    with SafeH5(data, wwhere) as h5:
        if "model_config" in h5.file.attrs:
            raise ModelFormatError(f"{wwhere}: is a full model, not a weights-only file; load it directly")
        legacy = "layer_names" in h5.file.attrs or "layer_names0" in h5.file.attrs
        arrays = from_legacy_file(h5, root) if legacy else from_v3_file(h5, root)
    return _assemble(root, arrays, Context(where, major))


def _root(config: Any, where: str) -> Node:
    if not isinstance(config, dict):
        raise ModelFormatError(f"{where}: model configuration must be a JSON object; got {type(config).__name__}")
    # Losses, metrics and optimizers are never read (they may name custom objects).
    config = {k: v for k, v in config.items() if k not in IGNORED_TOP_KEYS}
    scan(config, where)
    root = parse_model(config, where)
    if not root.is_container:
        raise ModelFormatError(f"{where}: top-level object is a {root.class_name!r}, not a Sequential or "
                               "Functional model")
    return root


def _assemble(root: Node, arrays: dict, ctx: Context) -> Sequential:
    layers = build_layers(root, arrays, ctx)
    if not layers:
        raise ModelFormatError(f"{ctx.where}: model {root.name!r} has no layer that computes anything")
    try:
        return Sequential(layers, name=root.name)
    except SymreconError as exc:
        raise ModelFormatError(f"{ctx.where}: layers do not fit together: {exc}") from None


def from_keras(model: Any) -> Sequential:
    """Convert a live ``keras.Model`` into a symrecon :class:`~symrecon.models.Sequential`.

    Duck-typed: reads ``model.to_json()`` (or ``get_config()``), ``layers`` and
    each layer's ``get_weights()``; Keras itself is never imported.  The same
    safety checks and layer table as :func:`load_keras` apply.

    Parameters
    ----------
    model : keras.Model
        A built Sequential model or single-chain Functional model.

    Returns
    -------
    Sequential

    Examples
    --------
    >>> import keras, symrecon as sr                                   # doctest: +SKIP
    >>> km = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])  # doctest: +SKIP
    >>> sr.from_keras(km).n_in                                         # doctest: +SKIP
    2
    """
    name = getattr(model, "name", type(model).__name__)
    where = f"keras model {name!r}"
    try:
        if callable(getattr(model, "to_json", None)):
            config = parse_json(model.to_json(), where)
        elif callable(getattr(model, "get_config", None)):
            config = {"class_name": type(model).__name__, "config": model.get_config()}
        else:
            raise ModelFormatError(f"{where}: object of type {type(model).__name__} has neither to_json() nor "
                                   "get_config(); not a Keras model")
    except SymreconError:
        raise
    except Exception as exc:
        raise ModelFormatError(f"{where}: could not read its configuration: {exc}") from exc
    # The version of the package the model's class comes from, without importing it.
    package = sys.modules.get(type(model).__module__.split(".", 1)[0])
    major = _major(getattr(package, "__version__", None), where)
    root = _root(config, where)
    arrays = from_live_model(model, root, where)
    return _assemble(root, arrays, Context(where, major))
