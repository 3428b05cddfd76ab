"""Keras model configurations: safety scan, model tree, and the chain of layers.

The configuration is *data*.  Nothing here imports a module or looks up a
class by a name found in the file: :func:`scan` refuses everything that could
carry code (section 7 of the Keras fact sheet), :func:`parse_model` turns the
remaining JSON into a tree of :class:`Node` objects (containers hold their
layers in evaluation order), and the builders in ``_build.py`` map allow-listed
class names onto symrecon layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelFormatError, UnsupportedLayerError

#: Classes that carry or run code: marshalled bytecode (Lambda, the Keras 3
#: ``__lambda__`` wrapper), TensorFlow ops replayed by name, pickled torch
#: modules, SavedModels, and custom Python functions.
CODE_CARRYING = {
    "Lambda": "Lambda layers carry marshalled Python bytecode",
    "__lambda__": "a serialized lambda carries marshalled Python bytecode",
    "TFOpLambda": "TFOpLambda replays arbitrary TensorFlow functions by name",
    "SlicingOpLambda": "SlicingOpLambda replays arbitrary TensorFlow functions by name",
    "TorchModuleWrapper": "TorchModuleWrapper stores a pickled torch module",
    "TFSMLayer": "TFSMLayer loads and runs a TensorFlow SavedModel",
    "function": "custom Python functions are looked up and called by name",
}

#: ``registered_name`` values Keras itself writes for its own classes.
KERAS_REGISTERED_NAMES = {None, "Functional"}

#: Dtype-policy classes that are plain float policies (anything else quantizes).
FLOAT_POLICIES = {"DTypePolicy", "FloatDTypePolicy", "Policy"}

#: Flags whose ``True`` changes what a layer computes in ways symrecon does not model.
REFUSED_FLAGS = {
    "stateful": "stateful recurrent layers carry state between calls",
    "mask_zero": "masking changes which time steps are computed",
    "renorm": "batch renormalization adds state the loader does not model",
    "return_state": "returning recurrent states gives several outputs",
}

#: Never read: losses, metrics and optimizers live here (and may be custom objects).
IGNORED_TOP_KEYS = ("compile_config", "training_config")

CONTAINER_CLASSES = {"Sequential", "Functional", "Model"}


def _describe(d: dict, path: _JsonPath) -> str:
    cfg = d.get("config")
    name = d.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
    cls = d.get("class_name")
    bits = []
    if name:
        bits.append(f"layer {name!r}")
    if cls:
        bits.append(f"class_name {cls!r}")
    bits.append(f"at {path or 'the top level'}")
    return " ".join(bits)


def scan(obj: Any, where: str, path: str = "") -> None:
    """Refuse anything in a configuration that could run code or mislead the loader.

    Walks every dict and list.  Raises :class:`ModelFormatError` naming
    ``where`` (the file) and the JSON path of the offending part.

    Examples
    --------
    >>> scan({"class_name": "Dense", "config": {"units": 1}}, "m.keras")
    >>> scan({"class_name": "Lambda", "config": {"name": "lam"}}, "m.keras")
    Traceback (most recent call last):
    ...
    symrecon.errors.ModelFormatError: m.keras: refusing layer 'lam' class_name 'Lambda' at the top level: Lambda layers carry marshalled Python bytecode
    """
    stack: list[tuple[Any, _JsonPath]] = [(obj, _JsonPath(None, path))]
    while stack:
        item, p = stack.pop()
        if isinstance(item, list):
            stack.extend((v, _JsonPath(p, i)) for i, v in enumerate(item))
            continue
        if not isinstance(item, dict):
            continue
        _scan_dict(item, where, p)
        stack.extend((v, _JsonPath(p, str(k))) for k, v in item.items())


class _JsonPath:
    """A JSON path (``config.layers[1].config``), rendered only when a message names it.

    Building the string for every value up front would cost memory in
    proportion to the number of values times their depth.
    """

    __slots__ = ("key", "parent")

    def __init__(self, parent: _JsonPath | None, key: str | int):
        self.parent = parent
        self.key = key

    def __bool__(self) -> bool:
        return bool(str(self))

    def __str__(self) -> str:
        keys: list[str | int] = []
        node: _JsonPath | None = self
        while node is not None:
            keys.append(node.key)
            node = node.parent
        text = ""
        for key in reversed(keys):
            text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text and key else key)
        return text


def _refuse(where: str, what: str, why: str) -> ModelFormatError:
    return ModelFormatError(f"{where}: refusing {what}: {why}")


def _scan_dict(d: dict, where: str, p: _JsonPath) -> None:
    cls = d.get("class_name")
    if isinstance(cls, str) and cls in CODE_CARRYING:
        raise _refuse(where, _describe(d, p), CODE_CARRYING[cls])
    if "function" in d and ("function_type" in d or isinstance(d["function"], (list, str))):
        raise _refuse(where, _describe(d, p) + " (key 'function')",
                      "a Keras 2 Lambda stores marshalled Python bytecode in 'function'")
    value = d.get("value")
    if "class_name" not in d and isinstance(value, list) and value and isinstance(value[0], str):
        raise _refuse(where, f"a serialized lambda at {p}", "{'value': [...]} holds marshalled Python bytecode")
    module = d.get("module")
    keras_module = isinstance(module, str) and (module == "keras" or module.startswith("keras."))
    if module is not None and "class_name" in d and not keras_module:
        raise _refuse(where, _describe(d, p) + f" (module {module!r})",
                      "only classes from Keras's own modules (keras.*) are allowed")
    registered = d.get("registered_name")
    # Keras's own unexported classes (e.g. raw ops in keras.src.ops) register under their class name.
    own = registered == cls and isinstance(module, str) and module.startswith("keras.")
    known = registered is None or (isinstance(registered, str) and registered in KERAS_REGISTERED_NAMES)
    if "registered_name" in d and not known and not own:
        raise _refuse(where, _describe(d, p) + f" (registered_name {d['registered_name']!r})",
                      "custom registered classes are code outside Keras")
    if isinstance(cls, str) and cls.endswith("DTypePolicy") and cls not in FLOAT_POLICIES:
        raise _refuse(where, f"dtype policy {cls!r} at {p}", "quantized weights are not supported")
    if isinstance(cls, str) and cls.endswith("DTypePolicy"):
        pname = (d.get("config") or {}).get("name") if isinstance(d.get("config"), dict) else None
        if isinstance(pname, str) and re.match(r"(int|uint|float8|gptq|awq|nf4)", pname):
            raise _refuse(where, f"dtype policy {pname!r} at {p}", "quantized weights are not supported")
    if d.get("quantization_config") is not None:
        raise _refuse(where, _describe(d, p) + " (quantization_config)", "quantized weights are not supported")
    if cls == "Masking":
        raise _refuse(where, _describe(d, p), "masking changes which time steps are computed")
    for flag, why in REFUSED_FLAGS.items():
        if d.get(flag) is True:
            raise _refuse(where, _describe(d, p) + f" ({flag}=True)", why)


# ---------------------------------------------------------------------------
# Model tree


@dataclass
class Node:
    """One entry of a model configuration.

    Attributes
    ----------
    class_name, name : str
    config : dict
        The layer's ``config`` dict.
    module : str or None
    trainable : bool
        Effective flag (a frozen container freezes everything inside).
    members : list of Node
        Containers only: the layers as Keras lists them in ``model.layers``
        (config order; the InputLayer only for Functional models), which is
        the order weight files are written in.
    chain : list of Node
        Containers only: the layers in evaluation order, InputLayers removed.
    input_shape : tuple or None
        Containers only: the input shape without the batch axis, if recorded.
    """

    class_name: str
    name: str
    config: dict
    module: str | None = None
    trainable: bool = True
    members: list[Node] = field(default_factory=list)
    chain: list[Node] = field(default_factory=list)
    input_shape: tuple | None = None

    @property
    def is_container(self) -> bool:
        return self.class_name in CONTAINER_CLASSES

    @property
    def is_op(self) -> bool:
        """Raw ops in a Functional graph (``keras.src.ops.*``): not layers, no weights."""
        return isinstance(self.module, str) and self.module.startswith("keras.src.ops")


def _shape_from(cfg: dict) -> tuple | None:
    for key in ("batch_shape", "batch_input_shape"):
        shape = cfg.get(key)
        if isinstance(shape, list) and len(shape) >= 2:
            return tuple(shape[1:])
    return None


def parse_model(obj: Any, where: str, trainable: bool = True) -> Node:
    """Turn a serialized model (``{"class_name", "config", ...}``) into a :class:`Node` tree.

    Raises
    ------
    ModelFormatError
        Malformed structure (missing keys, wrong types).
    UnsupportedLayerError
        A Functional model that is not a single chain.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("class_name"), str):
        raise ModelFormatError(f"{where}: model configuration must be an object with a 'class_name'; "
                               f"got {type(obj).__name__}")
    cls = obj["class_name"]
    cfg = obj.get("config")
    if cls == "Sequential" and isinstance(cfg, list):
        cfg = {"layers": cfg}  # very old Keras 2 wrote the layer list directly
    if not isinstance(cfg, dict):
        raise ModelFormatError(f"{where}: 'config' of {cls!r} must be an object; got {type(cfg).__name__}")
    name = obj.get("name") or cfg.get("name") or cls.lower()
    if not isinstance(name, str):
        raise ModelFormatError(f"{where}: layer name must be a string; got {name!r}")
    flag = cfg.get("trainable", True)
    node = Node(cls, name, cfg, obj.get("module"), trainable and flag is not False)
    if cls == "Sequential":
        _parse_sequential(node, where)
    elif cls in ("Functional", "Model"):
        _parse_functional(node, where)
    return node


def _layer_list(node: Node, where: str) -> list[dict]:
    layers = node.config.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise ModelFormatError(f"{where}: {node.class_name} {node.name!r} needs a list of layer objects under "
                               "'config.layers'")
    return layers


def _parse_sequential(node: Node, where: str) -> None:
    for entry in _layer_list(node, where):
        child = parse_model(entry, where, node.trainable)
        if child.class_name == "InputLayer":
            node.input_shape = node.input_shape or _shape_from(child.config)
            continue
        if node.input_shape is None and not node.members:
            # Keras 2 puts the input shape on the first layer instead of an InputLayer.
            node.input_shape = _shape_from(child.config)
        node.members.append(child)
        node.chain.append(child)
    if node.input_shape is None:
        shape = node.config.get("build_input_shape")
        if isinstance(shape, list) and len(shape) >= 2:
            node.input_shape = tuple(shape[1:])


def _history_names(obj: Any, out: list[str]) -> None:
    """Collect the layer names tensors in ``inbound_nodes`` come from (Keras 3 and 2 forms)."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            cfg = obj.get("config")
            hist = cfg.get("keras_history") if isinstance(cfg, dict) else None
            if isinstance(hist, list) and hist and isinstance(hist[0], str):
                out.append(hist[0])
            return
        for v in obj.values():
            _history_names(v, out)
    elif isinstance(obj, list):
        if len(obj) >= 3 and isinstance(obj[0], str) and isinstance(obj[1], int) and isinstance(obj[2], int):
            out.append(obj[0])  # Keras 2: [layer_name, node_index, tensor_index, kwargs]
            return
        for v in obj:
            _history_names(v, out)


def _endpoints(value: Any, what: str, node: Node, where: str) -> list[str]:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value[0]]
    if isinstance(value, list) and all(isinstance(v, list) and v and isinstance(v[0], str) for v in value):
        return [v[0] for v in value]
    raise ModelFormatError(f"{where}: Functional model {node.name!r} has malformed {what!r}: {value!r}")


def _parse_functional(node: Node, where: str) -> None:
    entries = _layer_list(node, where)
    children: dict[str, Node] = {}
    inbound: dict[str, list[list[str]]] = {}
    for entry in entries:
        child = parse_model(entry, where, node.trainable)
        if child.name in children:
            raise ModelFormatError(f"{where}: Functional model {node.name!r} has two layers named {child.name!r}")
        children[child.name] = child
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ModelFormatError(f"{where}: layer {child.name!r} has malformed 'inbound_nodes'")
        per_call = []
        for call in nodes:
            names: list[str] = []
            _history_names(call, names)
            per_call.append(names)
        inbound[child.name] = per_call
        if not child.is_op:
            node.members.append(child)
    inputs = _endpoints(node.config.get("input_layers"), "input_layers", node, where)
    outputs = _endpoints(node.config.get("output_layers"), "output_layers", node, where)

    def not_chain(why: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{where}: Functional model {node.name!r} is not a single chain of layers "
                                     f"({why}); only single-input, single-output chains are supported")

    if len(inputs) != 1 or len(outputs) != 1:
        raise not_chain(f"{len(inputs)} inputs and {len(outputs)} outputs")
    chain: list[Node] = []
    current = outputs[0]
    visited: set[str] = set()
    while True:
        if current not in children:
            raise ModelFormatError(f"{where}: Functional model {node.name!r} refers to unknown layer {current!r}")
        if current in visited:
            raise ModelFormatError(f"{where}: Functional model {node.name!r} has a cycle through {current!r}")
        visited.add(current)
        child = children[current]
        if child.class_name == "InputLayer":
            if current != inputs[0]:
                raise not_chain(f"the output does not depend on the declared input {inputs[0]!r}")
            node.input_shape = _shape_from(child.config)
            break
        calls = inbound[current]
        if len(calls) != 1 or len(calls[0]) != 1:
            raise not_chain(f"layer {current!r} is called {len(calls)} times with "
                            f"{[len(c) for c in calls]} input tensors")
        chain.append(child)
        current = calls[0][0]
    unused = [n for n in children if n not in visited]
    if unused:
        raise not_chain(f"layers {unused} are not on the path from input to output")
    node.chain = chain[::-1]


# ---------------------------------------------------------------------------
# Weight-group names inside ``layers/`` of a Keras 3 weights file


def snake_case(class_name: str) -> str:
    """Keras's object-path name for a class: ``LeakyReLU`` -> ``leaky_re_lu``.

    Examples
    --------
    >>> [snake_case(c) for c in ("Dense", "LeakyReLU", "SimpleRNN", "Conv1D", "BatchNormalization")]
    ['dense', 'leaky_re_lu', 'simple_rnn', 'conv1d', 'batch_normalization']
    """
    s = re.sub(r"\W+", "", class_name)
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", s)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s)
    return s.lower()


def counted_group_names(members: list[Node]) -> list[str]:
    """The group name Keras gives each member: snake case plus a per-class counter."""
    seen: dict[str, int] = {}
    out = []
    for m in members:
        base = "functional" if m.class_name in ("Functional", "Model") else snake_case(m.class_name)
        k = seen.get(base, 0)
        out.append(base if k == 0 else f"{base}_{k}")
        seen[base] = k + 1
    return out
