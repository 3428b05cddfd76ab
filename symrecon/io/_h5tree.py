"""HDF5 files as read-only trees of plain objects, parsed in the helper process.

:class:`SafeH5` is what the weight readers see: the file checked and copied
by ``_h5walk.py`` inside the helper (``_h5helper.py``), rebuilt here as
:class:`H5Group` / :class:`H5Dataset` objects.  No h5py object ever exists in
this process, so libhdf5 never runs here on a file's bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import ModelFormatError
from . import _h5helper
from ._archive import check_global_heaps
from ._h5walk import LENGTH, read_budget


class H5Group:
    """A read-only snapshot of an HDF5 group: ``name``, ``attrs`` and children."""

    def __init__(self, name: str, attrs: dict[str, Any], children: dict[str, H5Group | H5Dataset]):
        self.name = name
        self.attrs = attrs
        self._children = children

    def keys(self) -> list[str]:
        return list(self._children)

    def __len__(self) -> int:
        return len(self._children)

    def __iter__(self) -> Iterator[str]:
        return iter(self._children)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def get(self, path: str) -> H5Group | H5Dataset | None:
        """The object at a relative path ``a/b/c`` (None if absent)."""
        node: H5Group | H5Dataset | None = self
        for part in (p for p in path.split("/") if p):
            if not isinstance(node, H5Group):
                return None
            node = node._children.get(part)
        return node

    def visititems(self, fn: Callable[[str, H5Group | H5Dataset], None], prefix: str = "") -> None:
        """Call ``fn(relative_name, obj)`` on every descendant (parents first)."""
        for key, child in self._children.items():
            rel = f"{prefix}{key}"
            fn(rel, child)
            if isinstance(child, H5Group):
                child.visititems(fn, rel + "/")


class H5Dataset:
    """A read-only snapshot of an HDF5 dataset: ``name``, ``attrs`` and the raw array."""

    def __init__(self, name: str, attrs: dict[str, Any], data: np.ndarray):
        self.name = name
        self.attrs = attrs
        self.data = data


class SafeH5:
    """An HDF5 file checked and copied into plain Python objects, then read through here.

    The file is parsed by libhdf5 **in a helper process** (``_h5helper``):
    libhdf5 can crash or loop forever on damaged or hostile files, and there
    that becomes a :class:`~symrecon.errors.ModelFormatError` instead of a
    dead or hung interpreter.  The helper walks every object once: soft and
    external links, hard links (an object reachable by two paths), external
    and virtual datasets, non-numeric datasets, shape bombs and attributes of
    unknown types are refused before any value is read, and everything read
    must fit in a budget proportional to the file size
    (``_h5walk.read_budget``).

    Parameters
    ----------
    data : bytes
        The file content.
    where : str
        How to name the file in messages (path, or ``archive.keras:model.weights.h5``).

    Attributes
    ----------
    file : H5Group
        The root group.
    """

    def __init__(self, data: bytes, where: str):
        self.where = where
        check_global_heaps(data, where)
        self.file = decode(_h5helper.parse(data, where, read_budget(len(data))), where)

    def close(self) -> None:
        pass

    def __enter__(self) -> SafeH5:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def group(self, path: str) -> H5Group | None:
        """The group at ``path`` or None."""
        obj = self.file.get(path)
        return obj if isinstance(obj, H5Group) else None

    def read(self, ds: H5Dataset, path: str) -> np.ndarray:
        """A dataset as a float64 array (bfloat16 raw storage converted)."""
        arr = ds.data
        if attr_str(ds.attrs.get("dtype")) == "bfloat16":
            # bfloat16 is the upper half of a float32: widen the raw bits.
            arr = (arr.astype(np.uint16).astype(np.uint32) << 16).view(np.float32)
        return np.array(arr, dtype=np.float64)


def decode(reply: bytes, where: str) -> H5Group:
    """Rebuild the tree the helper sent (``_h5walk.encode``), or raise the error it reported."""
    n = LENGTH.unpack_from(reply)[0]
    header = json.loads(reply[LENGTH.size:LENGTH.size + n])
    if "error" in header:
        raise ModelFormatError(header["error"])
    if "internal_error" in header:
        raise RuntimeError(f"internal error in symrecon's HDF5 helper while reading {where}:\n"
                           f"{header['internal_error']}")
    base = LENGTH.size + n
    arrays = []
    for entry in header["arrays"]:
        dtype = np.dtype(entry["dtype"])
        if dtype.kind not in "fiub" or base + entry["offset"] + entry["nbytes"] > len(reply):
            raise ModelFormatError(f"{where}: the HDF5 helper sent a malformed reply")
        count = entry["nbytes"] // dtype.itemsize
        flat = np.frombuffer(reply, dtype, count, base + entry["offset"])
        arrays.append(flat.reshape(entry["shape"]))

    def node(d: dict) -> H5Group | H5Dataset:
        if d["t"] == "d":
            return H5Dataset(d["name"], d["attrs"], arrays[d["i"]])
        return H5Group(d["name"], d["attrs"], {k: node(v) for k, v in d["children"].items()})

    root = node(header["tree"])
    assert isinstance(root, H5Group)
    return root


def attr_str(value: Any) -> str | None:
    """An HDF5 string attribute as ``str`` (lists and numbers are rendered with ``str``)."""
    if value is None:
        return None
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def attr_str_list(attrs: dict[str, Any], key: str, where: str) -> list[str] | None:
    """A list-of-strings attribute, joining the ``key0``, ``key1``, ... chunks Keras writes for long lists."""
    if key in attrs:
        chunks = [attrs[key]]
    elif f"{key}0" in attrs:
        chunks = []
        while f"{key}{len(chunks)}" in attrs:
            chunks.append(attrs[f"{key}{len(chunks)}"])
    else:
        return None
    out: list[str] = []
    for chunk in chunks:
        for item in chunk if isinstance(chunk, list) else [chunk]:
            if not isinstance(item, str):
                raise ModelFormatError(f"{where}: HDF5 attribute {key!r} must hold strings; found {item!r}")
            out.append(item)
    return out
