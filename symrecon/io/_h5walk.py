"""The HDF5 reader that runs inside the helper process (see ``_h5helper.py``).

This module imports only the standard library, NumPy and h5py: the helper
loads it by file path, without importing :mod:`symrecon`, so that the helper
starts quickly and never runs package code it does not need.  Errors are
plain :class:`Refused` exceptions whose message already names the file; the
parent turns them into :class:`~symrecon.errors.ModelFormatError`.

Every object of the file is validated and copied into plain data before the
parent sees it: soft and external links, external and virtual datasets,
objects reachable by more than one path (hard links), non-numeric datasets,
shape bombs and attributes of unknown types are refused, and a byte budget
proportional to the file size bounds everything read.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import struct
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

#: Imported on first use (:func:`snapshot`): the parent process reads only this
#: module's limits and framing, and never needs libhdf5 itself.
h5py: Any = None

#: Upper bounds that keep a hostile file from exhausting memory.
MAX_JSON_BYTES = 16 * 2**20
MAX_DATASET_BYTES = 256 * 2**20
#: A dataset declaring more than this many times the bytes it actually stores
#: is a "shape bomb" (Keras writes contiguous, uncompressed datasets).
MAX_EXPANSION = 100
MAX_H5_OBJECTS = 100_000
MAX_H5_DEPTH = 64
#: Everything read from one HDF5 file (datasets, attributes, per-object and
#: per-string overheads) must fit in ``READ_FACTOR * file size + READ_SLACK``
#: bytes.  Keras stores datasets uncompressed, so its files need about 1x.
READ_FACTOR = 8
READ_SLACK = 16 * 2**20
#: Bytes charged per object and per string element for the Python objects they become.
OBJECT_COST = 512
STRING_COST = 64

#: HDF5 attributes never read: losses, metrics and optimizers (possibly custom objects).
NEVER_READ_ATTRS = frozenset({"training_config", "compile_config"})

#: Every length on the pipe is a little-endian unsigned 64-bit integer.
LENGTH = struct.Struct("<Q")


#: What h5py raises on a damaged file (found by fuzzing): OSError and RuntimeError from
#: libhdf5 errors, OverflowError for absurd addresses, TypeError for HDF5 types without a
#: NumPy equivalent, KeyError/ValueError for unreadable names and values.  Anything else
#: is a bug in this module and is reported as such.
H5PY_DAMAGE_ERRORS = (OSError, RuntimeError, OverflowError, TypeError, KeyError, ValueError, IndexError)


class Refused(Exception):
    """The file is damaged, hostile or exceeds a limit; the message names the file and the part."""


def read_budget(n_bytes: int) -> int:
    """The most bytes a snapshot of an ``n_bytes`` HDF5 file may hold."""
    return READ_FACTOR * n_bytes + READ_SLACK


class Walker:
    """Validate every object of an open h5py file and copy it into plain data.

    The result is a nested dict (``{"t": "g", "name", "attrs", "children"}``
    for groups, ``{"t": "d", "name", "attrs", "i"}`` for datasets, ``i``
    indexing :attr:`arrays`).
    """

    def __init__(self, where: str, budget: int):
        self.where = where
        self.budget = budget
        self.used = 0
        self.count = 0
        self.seen: dict[tuple[int, int], str] = {}
        self.arrays: list[np.ndarray] = []

    def refuse(self, why: str) -> Refused:
        return Refused(f"{self.where}: {why}")

    def charge(self, n: int, path: str) -> None:
        self.used += n
        if self.used > self.budget:
            raise self.refuse(f"reading {path!r} takes the total read from this HDF5 file past "
                              f"{self.budget} bytes ({READ_FACTOR} x its size + {READ_SLACK}); refusing a "
                              "file that expands far beyond its size")

    def first_visit(self, obj: h5py.HLObject, path: str) -> None:
        # A hard link makes a second path to the same object: copying it once per
        # path multiplies memory exponentially in a DAG, and a cycle never ends.
        info = h5py.h5o.get_info(obj.id)
        key = (info.fileno, info.addr)
        if key in self.seen:
            raise self.refuse(f"HDF5 object {path!r} is the same object as {self.seen[key]!r} (a hard link); "
                              "Keras never shares objects, refusing")
        self.seen[key] = path
        self.count += 1
        if self.count > MAX_H5_OBJECTS:
            raise self.refuse(f"HDF5 file has more than {MAX_H5_OBJECTS} objects")
        self.charge(OBJECT_COST, path)

    def group(self, group: h5py.Group, path: str, depth: int) -> dict:
        if depth > MAX_H5_DEPTH:
            raise self.refuse(f"HDF5 groups nested deeper than {MAX_H5_DEPTH} at {path!r}")
        children: dict[str, dict] = {}
        for key in group:
            if not isinstance(key, str):  # h5py yields bytes for names that are not UTF-8
                raise self.refuse(f"HDF5 name {key!r} under {path!r} is not valid UTF-8")
            sub = path.rstrip("/") + "/" + key
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.SoftLink):
                raise self.refuse(f"HDF5 soft link at {sub!r} (-> {link.path!r}); refusing links")
            if isinstance(link, h5py.ExternalLink):
                raise self.refuse(f"HDF5 external link at {sub!r} (-> {link.filename!r}:{link.path!r}); "
                                  "refusing links to other files")
            obj = group.get(key)
            if not isinstance(obj, (h5py.Group, h5py.Dataset)):
                raise self.refuse(f"unexpected HDF5 object at {sub!r} ({type(obj).__name__})")
            self.first_visit(obj, sub)
            children[key] = self.group(obj, sub, depth + 1) if isinstance(obj, h5py.Group) \
                else self.dataset(obj, sub)
        return {"t": "g", "name": path, "attrs": self.attrs(group, path), "children": children}

    def dataset(self, ds: h5py.Dataset, path: str) -> dict:
        if ds.external:
            raise self.refuse(f"HDF5 dataset {path!r} stores its data in external files; refused")
        if ds.is_virtual:
            raise self.refuse(f"HDF5 dataset {path!r} is a virtual dataset; refused")
        if ds.dtype.kind not in "fiub":
            raise self.refuse(f"HDF5 dataset {path!r} has non-numeric dtype {ds.dtype}")
        declared = math.prod(ds.shape) * ds.dtype.itemsize if ds.shape is not None else 0
        if declared > MAX_DATASET_BYTES:
            raise self.refuse(f"HDF5 dataset {path!r} declares shape {ds.shape} ({declared} bytes), more than "
                              f"the {MAX_DATASET_BYTES}-byte limit")
        stored = int(ds.id.get_storage_size())
        if declared > 65536 and declared > MAX_EXPANSION * max(stored, 1):
            raise self.refuse(f"HDF5 dataset {path!r} declares shape {ds.shape} ({declared} bytes) but stores "
                              f"only {stored} bytes; refusing a shape bomb")
        self.charge(declared, path)
        data = np.ascontiguousarray(ds[()]) if ds.shape is not None else np.zeros(0)
        self.arrays.append(data)
        return {"t": "d", "name": path, "attrs": self.attrs(ds, path), "i": len(self.arrays) - 1}

    def attrs(self, obj: h5py.HLObject, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in obj.attrs:
            if not isinstance(key, str):  # h5py yields bytes for names that are not UTF-8
                raise self.refuse(f"HDF5 attribute name {key!r} of {path!r} is not valid UTF-8")
            if key not in NEVER_READ_ATTRS:
                out[key] = self.attribute(obj, key, path)
        return out

    def attribute(self, obj: h5py.HLObject, key: str, path: str) -> Any:
        aid = obj.attrs.get_id(key)
        shape, dtype = aid.shape, aid.dtype
        n = math.prod(shape) if shape is not None else 0
        vlen_str = h5py.check_string_dtype(dtype) is not None and dtype.kind == "O"
        if not vlen_str and dtype.kind not in "fiubSU":
            raise self.refuse(f"HDF5 attribute {key!r} of {path!r} has unsupported type {dtype}")
        # A variable-length string's size is only known once read: charge its element count
        # first, its bytes after (the helper's address-space limit bounds the read itself).
        fixed = n * (STRING_COST if vlen_str else dtype.itemsize + (STRING_COST if dtype.kind in "SU" else 0))
        if fixed > MAX_JSON_BYTES:
            raise self.refuse(f"HDF5 attribute {key!r} of {path!r} is too large ({n} elements)")
        self.charge(fixed, f"{path}@{key}")
        value = obj.attrs[key]
        if vlen_str:
            self.charge(sum(len(v) for v in np.asarray(value, dtype=object).ravel().tolist()
                            if isinstance(v, (bytes, str))), f"{path}@{key}")
        return _plain(value)


def _plain(value: Any) -> Any:
    """An attribute value as JSON-ready data (bytes decoded as UTF-8)."""
    if isinstance(value, np.ndarray):
        items = value.tolist()
        return [_plain(v) for v in items] if isinstance(items, list) else _plain(items)
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def snapshot(data: bytes, where: str, budget: int) -> bytes:
    """Parse ``data`` and return the encoded reply (see :func:`encode`)."""
    global h5py
    if h5py is None:
        import h5py as module

        h5py = module
    walker = Walker(where, budget)
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            walker.first_visit(f, "/")
            tree = walker.group(f, "/", 0)
    except H5PY_DAMAGE_ERRORS as exc:
        if not _raised_by_h5py(exc):
            raise
        raise Refused(f"{where}: not a readable HDF5 file ({type(exc).__name__}: {exc})") from None
    return encode(tree, walker.arrays)


def _raised_by_h5py(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and "h5py" in Path(frames[-1].filename).parts


def encode(tree: dict, arrays: list[np.ndarray]) -> bytes:
    """``len(header) + header JSON + raw array bytes``; the header gives each array's dtype, shape, offset."""
    table, offset = [], 0
    for arr in arrays:
        table.append({"dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset, "nbytes": arr.nbytes})
        offset += arr.nbytes
    header = json.dumps({"tree": tree, "arrays": table}).encode()
    return b"".join([LENGTH.pack(len(header)), header, *(a.tobytes() for a in arrays)])


def error_reply(message: str, internal: bool = False) -> bytes:
    header = json.dumps({"internal_error" if internal else "error": message}).encode()
    return LENGTH.pack(len(header)) + header


# ---------------------------------------------------------------------------
# The helper's request loop


def _read_exact(fh: BinaryIO, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = fh.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _limit_memory(budget: int, n_data: int) -> None:
    # A backstop under the explicit budget: whatever libhdf5 allocates while
    # reading this file, the helper cannot grow past this address-space size.
    import resource  # POSIX only; the helper runs only there
    with open("/proc/self/statm") as fh:
        vm_now = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm_now + 4 * budget + 2 * n_data + 256 * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def handle(meta: dict, data: bytes) -> bytes:
    """One request: the reply for ``data`` (never raises)."""
    where = str(meta.get("where", "HDF5 file"))
    try:
        if sys.platform.startswith("linux") and meta.get("isolated"):
            _limit_memory(int(meta["budget"]), len(data))
        return snapshot(data, where, int(meta["budget"]))
    except Refused as exc:
        return error_reply(str(exc))
    except MemoryError:
        return error_reply(f"{where}: reading this HDF5 file needs more memory than its size allows; refused")
    except Exception:  # noqa: BLE001 - a bug here: the parent raises it as an internal error, not a file's fault
        return error_reply(traceback.format_exc(limit=8), internal=True)


def serve(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Answer requests until the parent closes the pipe.

    A request is ``len(meta) + meta JSON + len(data) + data``; a reply is
    ``len(reply) + reply``.  SIGALRM (default action: terminate) ends a
    helper stuck in libhdf5 even if its parent is gone.
    """
    stdin = stdin or sys.stdin.buffer
    if stdout is None:
        # Replies get a private copy of the pipe; anything a library prints goes to stderr instead.
        stdout = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
    while True:
        head = _read_exact(stdin, LENGTH.size)
        if head is None:
            return
        meta = json.loads(_read_exact(stdin, LENGTH.unpack(head)[0]) or b"{}")
        size = _read_exact(stdin, LENGTH.size)
        data = _read_exact(stdin, LENGTH.unpack(size)[0]) if size is not None else None
        if data is None:
            return
        signal.alarm(int(meta.get("timeout", 60)) + 10)
        reply = handle({**meta, "isolated": True}, data)
        del data
        signal.alarm(0)
        stdout.write(LENGTH.pack(len(reply)))
        stdout.write(reply)
        stdout.flush()
