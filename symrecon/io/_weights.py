"""Where each layer's weights are: three sources, one result.

Every source returns ``{id(leaf node): [float64 arrays]}`` in the order of
:func:`symrecon.io._build.expected_weights`:

- :func:`from_v3_file`: the Keras 3 layout (``model.weights.h5`` inside a
  ``.keras`` archive, or a ``*.weights.h5`` file): groups are found by the
  ``name`` attribute Keras >= 3.6 writes, else by Keras's class-name counter.
- :func:`from_legacy_file`: the legacy full-model ``.h5`` (Keras 3 and tf.keras
  2): groups by layer name, datasets by the ``weight_names`` attribute, each
  name checked against the weight it must be.
- :func:`from_live_model`: a live Keras model's ``get_weights()``.

:func:`fill_model` pours a Keras 3 weights file into an existing symrecon
:class:`~symrecon.models.Sequential` of the same shapes.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import ModelFormatError
from ..models import Dense, Sequential
from ..recurrent import GRU, LSTM, AbstractRecurrent, SimpleRNN
from ._build import expected_weights, kind_of
from ._config import Node, counted_group_names
from ._h5tree import H5Dataset, H5Group, SafeH5, attr_str, attr_str_list

#: Where a container keeps its layers (the second is tf.keras 2.13's spelling).
LAYER_GROUPS = ("layers", "_layer_checkpoint_dependencies")


def _vars(h5: SafeH5, group: H5Group | None, path: str) -> list[np.ndarray]:
    """``path/0``, ``path/1``, ... under ``group`` as float64 arrays (decimal order)."""
    if group is None:
        return []
    vg = group.get(path)
    if not isinstance(vg, H5Group):
        return []
    keys = list(vg.keys())
    if any(not re.fullmatch(r"[0-9]+", k) for k in keys) or sorted(int(k) for k in keys) != list(range(len(keys))):
        raise ModelFormatError(f"{h5.where}: variables at {vg.name!r} are not numbered 0..n-1: {keys}")
    out = []
    for i in range(len(keys)):
        ds = vg.get(str(i))
        if not isinstance(ds, H5Dataset):
            raise ModelFormatError(f"{h5.where}: {vg.name}/{i} is not a dataset")
        out.append(h5.read(ds, f"{vg.name}/{i}"))
    return out


def _layers_group(group: H5Group | None) -> H5Group | None:
    if group is None:
        return None
    for key in LAYER_GROUPS:
        sub = group.get(key)
        if isinstance(sub, H5Group):
            return sub
    return None


def _named_groups(layers: H5Group | None) -> dict[str, str]:
    """``layer.name -> group key`` from the ``vars`` ``name`` attributes (Keras >= 3.6)."""
    if layers is None:
        return {}
    out: dict[str, str] = {}
    for key in layers:
        sub = layers.get(key)
        vg = sub.get("vars") if isinstance(sub, H5Group) else None
        if isinstance(vg, H5Group) and "name" in vg.attrs:
            name = attr_str(vg.attrs["name"])
            if name is not None:
                out.setdefault(name, key)
    return out


def from_v3_file(h5: SafeH5, root: Node) -> dict[int, list[np.ndarray]]:
    """Weights of every leaf under ``root`` from a Keras 3 weights file.

    Also checks that every non-empty variable group under ``layers/`` was
    claimed by a layer: weights the architecture has no place for mean the
    file and the architecture do not belong together.
    """
    out: dict[int, list[np.ndarray]] = {}
    used: set[str] = set()

    def walk(node: Node, group: H5Group | None) -> None:
        layers = _layers_group(group)
        by_name = _named_groups(layers)
        for member, counted in zip(node.members, counted_group_names(node.members)):
            key = by_name.get(member.name, counted)
            sub = layers.get(key) if layers is not None else None
            sub = sub if isinstance(sub, H5Group) else None
            if member.is_container:
                walk(member, sub)
                continue
            expected = expected_weights(member, h5.where)
            if not expected:
                continue
            var_path = kind_of(member, h5.where).var_path
            arrays = _vars(h5, sub, var_path)
            # A missing group (sub None) holds no arrays, so it already fails the count.
            if sub is None or len(arrays) != len(expected):
                place = f"{layers.name}/{key}/{var_path}" if layers is not None else f"layers/{key}/{var_path}"
                raise ModelFormatError(
                    f"{h5.where}: layer {member.name!r} ({member.class_name}) needs {len(expected)} weights "
                    f"({', '.join(n for n, _ in expected)}) but {place!r} holds {len(arrays)}")
            used.add(sub.name + "/" + var_path)
            out[id(member)] = arrays

    walk(root, h5.file)
    _check_all_used(h5, used)
    return out


def _check_all_used(h5: SafeH5, used: set[str]) -> None:
    leftovers: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, H5Group) and name.split("/")[-1] == "vars" and len(obj) > 0:
            full = "/" + name
            if full not in used and not name.startswith("optimizer") and "/activation/" not in full + "/":
                leftovers.append(full)

    layers = _layers_group(h5.file)
    if layers is not None:
        layers.visititems(lambda n, o: visit(f"{layers.name.strip('/')}/{n}", o))
    if leftovers:
        raise ModelFormatError(f"{h5.where}: weights at {leftovers} belong to no layer of the architecture; "
                               "the weights file does not match the model")


# ---------------------------------------------------------------------------
# Legacy full-model HDF5


def _base_name(weight_name: str) -> str:
    """``"seq/dense/kernel:0"`` -> ``"kernel"`` (tf.keras 2 adds ``:0``)."""
    return re.sub(r":\d+$", "", weight_name.rsplit("/", 1)[-1])


def _leaves(node: Node) -> list[Node]:
    out = []
    for m in node.members:
        out.extend(_leaves(m) if m.is_container else [m])
    return out


def from_legacy_file(h5: SafeH5, root: Node) -> dict[int, list[np.ndarray]]:
    """Weights from a legacy full-model ``.h5`` (``model_weights`` group or file root).

    Each top-level layer's group is found by its name; its datasets are read
    at the paths listed in ``weight_names``.  A nested model is one group
    whose list holds all its leaves' trainable weights, then all
    non-trainable ones; they are dealt out to the leaves in that order.
    """
    mw = h5.group("model_weights")
    if mw is None:
        mw = h5.file  # Keras 2 weights-only files keep the same layout at the root
    names = attr_str_list(mw.attrs, "layer_names", h5.where)
    if names is None:
        raise ModelFormatError(f"{h5.where}: HDF5 file has no 'layer_names' attribute; not a legacy Keras model")
    out: dict[int, list[np.ndarray]] = {}
    for member in root.members:
        leaves = _leaves(member) if member.is_container else [member]
        wanted = [(leaf, expected_weights(leaf, h5.where)) for leaf in leaves]
        if not any(w for _, w in wanted):
            continue
        if member.name not in names:
            raise ModelFormatError(f"{h5.where}: no weights for layer {member.name!r} ({member.class_name}); "
                                   f"the file lists {names}")
        group = mw.get(member.name)
        if not isinstance(group, H5Group):
            raise ModelFormatError(f"{h5.where}: layer {member.name!r} is listed but its group is missing")
        wnames = attr_str_list(group.attrs, "weight_names", h5.where) or []
        arrays = []
        for wn in wnames:
            ds = group.get(wn)
            if not isinstance(ds, H5Dataset):
                raise ModelFormatError(f"{h5.where}: weight {wn!r} of layer {member.name!r} is listed in "
                                       "'weight_names' but has no dataset")
            arrays.append((wn, h5.read(ds, f"{group.name}/{wn}")))
        # Deal out: trainable weights of all leaves first, then the non-trainable ones.
        order = [(leaf, i, n) for flag in (True, False) for leaf, ws in wanted
                 for i, (n, t) in enumerate(ws) if t is flag]
        if len(order) != len(arrays):
            raise ModelFormatError(
                f"{h5.where}: layer {member.name!r} ({member.class_name}) needs {len(order)} weights "
                f"({', '.join(n for _, _, n in order)}) but 'weight_names' lists {len(arrays)}: {wnames}")
        slots: dict[int, list] = {id(leaf): [None] * len(ws) for leaf, ws in wanted}
        for (leaf, i, expected_name), (wn, arr) in zip(order, arrays):
            if _base_name(wn) != expected_name:
                raise ModelFormatError(f"{h5.where}: weight {wn!r} of layer {member.name!r} is not the "
                                       f"expected {expected_name!r} of layer {leaf.name!r}")
            slots[id(leaf)][i] = arr
        for leaf, ws in wanted:
            if ws:
                out[id(leaf)] = slots[id(leaf)]
    return out


# ---------------------------------------------------------------------------
# Live model


def from_live_model(model: Any, root: Node, where: str) -> dict[int, list[np.ndarray]]:
    """Weights through the public ``layers`` / ``get_weights()`` of a live Keras model."""
    out: dict[int, list[np.ndarray]] = {}

    def walk(node: Node, obj: Any) -> None:
        try:
            live = {layer.name: layer for layer in obj.layers}
        except (AttributeError, TypeError):
            raise ModelFormatError(f"{where}: container {node.name!r} has no 'layers' list") from None
        for member in node.members:
            if not (member.is_container or expected_weights(member, where)):
                continue
            if member.name not in live:
                raise ModelFormatError(f"{where}: layer {member.name!r} is in the config but not in model.layers")
            if member.is_container:
                walk(member, live[member.name])
                continue
            try:
                arrays = [np.array(a, dtype=np.float64) for a in live[member.name].get_weights()]
            except Exception as exc:  # noqa: BLE001 - a live object may fail in any way
                raise ModelFormatError(f"{where}: get_weights() of layer {member.name!r} failed: {exc}") from None
            out[id(member)] = arrays

    walk(root, model)
    return out


# ---------------------------------------------------------------------------
# Filling an existing symrecon model


#: symrecon layer types that take weights from a file -> Keras class names' group base.
FILLABLE = {Dense: "dense", SimpleRNN: "simple_rnn", LSTM: "lstm", GRU: "gru"}


def fill_model(h5: SafeH5, model: Sequential) -> Sequential:
    """A copy of ``model`` with its Dense and recurrent weights taken from ``h5``.

    The groups under ``layers/`` are matched to the model's Dense and
    recurrent layers by the layer name stored in the file when present, else
    by Keras's class-name counter (``dense``, ``dense_1``, ...); every shape
    must equal the model's.  Other layers are kept as they are, and so are
    Dense layers whose name matches a weight-less Keras layer (activation
    layers folded into ``Dense(eye)``).  Dense layers made from
    BatchNormalization or Normalization cannot be refilled (the file holds
    statistics, not a kernel): load such models with their architecture file.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"architecture must be a symrecon Sequential or a path; got {type(model).__name__}")
    layers = _layers_group(h5.file)
    by_name = _named_groups(layers)
    counters: dict[str, int] = {}
    used: set[str] = set()
    new_layers = []
    for layer in model.layers:
        base = next((b for t, b in FILLABLE.items() if type(layer) is t), None)
        # FILLABLE holds only Dense and recurrent types; the isinstance narrows the layer for the checker.
        if base is None or not isinstance(layer, (Dense, AbstractRecurrent)):
            new_layers.append(layer)
            continue
        var_path = "vars" if isinstance(layer, Dense) else "cell/vars"
        if layer.name in by_name:
            key = by_name[layer.name]
        else:
            k = counters.get(base, 0)
            counters[base] = k + 1
            key = base if k == 0 else f"{base}_{k}"
        sub = layers.get(key) if layers is not None else None
        sub = sub if isinstance(sub, H5Group) else None
        arrays = _vars(h5, sub, var_path)
        if not arrays and layer.name in by_name:
            # A Dense(eye) made from a weight-less Keras layer (an Activation, a ReLU, ...): nothing to fill.
            new_layers.append(layer)
            continue
        current = ([layer.kernel, layer.bias] if isinstance(layer, Dense)
                   else [layer.kernel, layer.recurrent_kernel, layer.bias])
        if len(arrays) == len(current) - 1:
            arrays.append(np.zeros_like(current[-1]))  # use_bias=False: the model's bias stays zero
        # A missing group (sub None) holds no arrays, so it already fails the count.
        if sub is None or len(arrays) != len(current) or any(a.shape != c.shape for a, c in zip(arrays, current)):
            raise ModelFormatError(
                f"{h5.where}: weights at 'layers/{key}/{var_path}' have shapes {[a.shape for a in arrays]}; layer "
                f"{layer.name!r} of the architecture needs {[c.shape for c in current]}")
        used.add(sub.name + "/" + var_path)
        new_layers.append(_refilled(layer, arrays))
    _check_all_used(h5, used)
    return Sequential(new_layers, name=model.name)


def _refilled(layer: Dense | AbstractRecurrent, arrays: list[np.ndarray]) -> Dense | AbstractRecurrent:
    if isinstance(layer, Dense):
        return Dense(arrays[0], arrays[1], layer.activation, name=layer.name)
    assert isinstance(layer, (SimpleRNN, LSTM, GRU))  # the recurrent types of FILLABLE
    kwargs: dict[str, Any] = {"activation": layer.activation, "return_sequences": layer.return_sequences,
                              "go_backwards": layer.go_backwards, "name": layer.name}
    if isinstance(layer, (LSTM, GRU)):
        kwargs["recurrent_activation"] = layer.recurrent_activation
    if isinstance(layer, GRU):
        kwargs["reset_after"] = layer.reset_after
    return type(layer)(arrays[0], arrays[1], arrays[2], **kwargs)
