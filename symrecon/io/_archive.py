"""Safe reading of the containers Keras writes: ZIP archives and HDF5 files.

Everything is read into memory and parsed from there: nothing is extracted to
disk and no HDF5 file is opened by name, so links inside a file can never
reach the file system.  HDF5 is parsed by libhdf5 in a forked child process
and copied into plain objects (:class:`SafeH5`), so a crash or hang of the C
library on a damaged file cannot take the caller down.  Every failure of zipfile, h5py or json is turned into
a :class:`~symrecon.errors.ModelFormatError` naming the file and the part.
"""

from __future__ import annotations

import faulthandler
import io
import json
import os
import select
import signal
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import h5py
import numpy as np

from ..errors import ModelFormatError

#: Upper bounds that keep a hostile file from exhausting memory.  symrecon
#: models are small; these are generous for anything it can represent.
MAX_FILE_BYTES = 512 * 2**20
MAX_JSON_BYTES = 16 * 2**20
MAX_DATASET_BYTES = 256 * 2**20
#: A dataset declaring more than this many times the bytes it actually stores
#: is a "shape bomb" (Keras writes contiguous, uncompressed datasets).
MAX_EXPANSION = 100
MAX_H5_OBJECTS = 100_000
MAX_H5_DEPTH = 64

#: HDF5 attributes never read: losses, metrics and optimizers (possibly custom objects).
NEVER_READ_ATTRS = frozenset({"training_config", "compile_config"})

#: The only archive members read; anything else (assets/, ...) is ignored.
CONFIG_MEMBER = "config.json"
METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "model.weights.h5"
PICKLED_WEIGHTS_MEMBER = "model.weights.npz"


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """The whole file, refusing missing, non-regular and oversized files."""
    p = os.fspath(path)
    try:
        size = os.stat(p).st_size
    except OSError as exc:
        raise ModelFormatError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise ModelFormatError(f"{p}: file is {size} bytes, more than the {MAX_FILE_BYTES}-byte limit")
    try:
        with open(p, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelFormatError(f"{p}: cannot read the file: {exc.strerror or exc}") from None


def parse_json(data: bytes | str, where: str) -> Any:
    """``json.loads`` with size/depth guards; errors name ``where``."""
    if len(data) > MAX_JSON_BYTES:
        raise ModelFormatError(f"{where}: JSON is {len(data)} bytes, more than the {MAX_JSON_BYTES}-byte limit")
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data)
    except RecursionError:
        raise ModelFormatError(f"{where}: JSON is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(f"{where}: not valid JSON ({exc})") from None


# ---------------------------------------------------------------------------
# ZIP


def read_keras_archive(data: bytes, where: str) -> dict[str, bytes]:
    """The members symrecon reads from a ``.keras`` archive, by exact name.

    Returns a dict with keys among ``config.json``, ``metadata.json`` and
    ``model.weights.h5``.  Refuses duplicate member names (``zipfile`` would
    silently return the last one), a pickled ``model.weights.npz``, encrypted
    and oversized members.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ModelFormatError(f"{where}: not a readable .keras (zip) archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        seen: set[str] = set()
        for info in infos:
            if info.filename in seen:
                raise ModelFormatError(f"{where}: duplicate archive member {info.filename!r}; refusing an "
                                       "ambiguous archive")
            seen.add(info.filename)
        if PICKLED_WEIGHTS_MEMBER in seen:
            raise ModelFormatError(f"{where}: archive member {PICKLED_WEIGHTS_MEMBER!r} holds pickled weights; "
                                   "refusing to load pickle (re-save the model with the default .h5 weights)")
        if CONFIG_MEMBER not in seen:
            raise ModelFormatError(f"{where}: archive has no {CONFIG_MEMBER!r}; not a Keras 3 .keras file")
        limits = {CONFIG_MEMBER: MAX_JSON_BYTES, METADATA_MEMBER: MAX_JSON_BYTES, WEIGHTS_MEMBER: MAX_FILE_BYTES}
        out: dict[str, bytes] = {}
        for info in infos:
            limit = limits.get(info.filename)
            if limit is None:
                continue
            if info.flag_bits & 0x1:
                raise ModelFormatError(f"{where}: archive member {info.filename!r} is encrypted")
            if info.file_size > limit:
                raise ModelFormatError(f"{where}: archive member {info.filename!r} declares {info.file_size} "
                                       f"bytes, more than the {limit}-byte limit")
            try:
                with zf.open(info) as fh:
                    # Read at most limit + 1 bytes, whatever the header claims.
                    blob = fh.read(limit + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
                raise ModelFormatError(f"{where}: archive member {info.filename!r} is corrupted: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - zlib.error and friends from a damaged stream
                raise ModelFormatError(f"{where}: archive member {info.filename!r} is corrupted: {exc}") from None
            if len(blob) > limit:
                raise ModelFormatError(f"{where}: archive member {info.filename!r} is larger than the "
                                       f"{limit}-byte limit")
            out[info.filename] = blob
    return out


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def is_hdf5(data: bytes) -> bool:
    # The HDF5 signature sits at offset 0 (or 512, 1024, ... with a user block).
    sig = b"\x89HDF\r\n\x1a\n"
    return any(data[off:off + 8] == sig for off in (0, 512, 1024, 2048))


# ---------------------------------------------------------------------------
# HDF5


_GCOL = b"GCOL\x01\x00\x00\x00"


def check_global_heaps(data: bytes, where: str) -> None:
    """Refuse global heap collections whose object list would never end.

    Variable-length strings (Keras's JSON attributes) live in HDF5 "global
    heap collections".  libhdf5 walks a collection's objects by their declared
    sizes; an object header with index 0 and size 0 (e.g. zeroed by damage)
    makes that walk stand still and the library loops forever.  This walks
    every collection the same way first (layout from the HDF5 file format
    specification, 8-byte lengths as h5py writes) and refuses one that does
    not advance or overruns its end.
    """
    start = data.find(_GCOL)
    while start != -1:
        size = int.from_bytes(data[start + 8:start + 16], "little")
        end = start + size
        if size >= 4096 and end <= len(data):
            p = start + 16
            while p + 16 <= end:
                idx = int.from_bytes(data[p:p + 2], "little")
                obj_size = int.from_bytes(data[p + 8:p + 16], "little")
                need = 16 + ((obj_size + 7) & ~7) if idx > 0 else obj_size
                if need == 0 or p + need > end:
                    raise ModelFormatError(f"{where}: damaged HDF5 global heap at byte {start} (object at byte "
                                           f"{p} has size {obj_size})")
                p += need
        start = data.find(_GCOL, start + 1)


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

    The file is parsed by libhdf5 **in a forked child process** (where
    ``os.fork`` exists): libhdf5 can crash or loop forever on damaged or
    hostile files, and in the child that becomes a
    :class:`~symrecon.errors.ModelFormatError` instead of a dead or hung
    interpreter.  The child walks every object: soft and external links,
    external and virtual datasets, non-numeric datasets and shape bombs are
    refused before any value is read; then all attributes and datasets are
    copied into an :class:`H5Group` tree sent back through a pipe (JSON + an
    ``.npz`` loaded with ``allow_pickle=False``).

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
        self.file = _snapshot_isolated(data, where) if _CAN_FORK else _snapshot(data, where)

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


# -- parsing (runs in the child) ---------------------------------------------

#: Seconds the child may take before it is killed (a legitimate file takes well under one).
PARSE_TIMEOUT = 60.0
_CAN_FORK = hasattr(os, "fork") and sys.platform.startswith("linux")


class _Walker:
    """Validate every object of an open h5py file and copy it into plain objects."""

    def __init__(self, where: str):
        self.where = where
        self.count = 0

    def group(self, group: h5py.Group, path: str, depth: int) -> H5Group:
        if depth > MAX_H5_DEPTH:
            raise ModelFormatError(f"{self.where}: HDF5 groups nested deeper than {MAX_H5_DEPTH} at {path!r}")
        children: dict[str, H5Group | H5Dataset] = {}
        for key in group:
            self.count += 1
            if self.count > MAX_H5_OBJECTS:
                raise ModelFormatError(f"{self.where}: HDF5 file has more than {MAX_H5_OBJECTS} objects")
            sub = path.rstrip("/") + "/" + key
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.SoftLink):
                raise ModelFormatError(f"{self.where}: HDF5 soft link at {sub!r} (-> {link.path!r}); refusing links")
            if isinstance(link, h5py.ExternalLink):
                raise ModelFormatError(f"{self.where}: HDF5 external link at {sub!r} (-> {link.filename!r}:"
                                       f"{link.path!r}); refusing links to other files")
            obj = group.get(key)
            if isinstance(obj, h5py.Group):
                children[key] = self.group(obj, sub, depth + 1)
            elif isinstance(obj, h5py.Dataset):
                children[key] = self.dataset(obj, sub)
            else:
                raise ModelFormatError(f"{self.where}: unexpected HDF5 object at {sub!r} ({type(obj).__name__})")
        return H5Group(path, self.attrs(group, path), children)

    def dataset(self, ds: h5py.Dataset, path: str) -> H5Dataset:
        if ds.external:
            raise ModelFormatError(f"{self.where}: HDF5 dataset {path!r} stores its data in external files; refused")
        if ds.is_virtual:
            raise ModelFormatError(f"{self.where}: HDF5 dataset {path!r} is a virtual dataset; refused")
        if ds.dtype.kind not in "fiub":
            raise ModelFormatError(f"{self.where}: HDF5 dataset {path!r} has non-numeric dtype {ds.dtype}")
        declared = int(np.prod(ds.shape, dtype=np.float64) * ds.dtype.itemsize) if ds.shape is not None else 0
        if declared > MAX_DATASET_BYTES:
            raise ModelFormatError(f"{self.where}: HDF5 dataset {path!r} declares shape {ds.shape} "
                                   f"({declared} bytes), more than the {MAX_DATASET_BYTES}-byte limit")
        stored = int(ds.id.get_storage_size())
        if declared > 65536 and declared > MAX_EXPANSION * max(stored, 1):
            raise ModelFormatError(f"{self.where}: HDF5 dataset {path!r} declares shape {ds.shape} ({declared} "
                                   f"bytes) but stores only {stored} bytes; refusing a shape bomb")
        data = np.asarray(ds[()]) if ds.shape is not None else np.zeros(0)
        return H5Dataset(path, self.attrs(ds, path), data)

    def attrs(self, obj: h5py.HLObject, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in obj.attrs:
            if key in NEVER_READ_ATTRS:
                continue
            value = obj.attrs[key]
            if isinstance(value, np.ndarray):
                if value.nbytes > MAX_JSON_BYTES:
                    raise ModelFormatError(f"{self.where}: HDF5 attribute {key!r} of {path!r} is too large")
                items = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value.tolist()] \
                    if value.ndim else value.tolist()
                out[key] = items.decode("utf-8", "replace") if isinstance(items, bytes) else items
            elif isinstance(value, (bytes, np.bytes_)):
                out[key] = bytes(value).decode("utf-8", "replace")
            elif isinstance(value, np.generic):
                out[key] = value.item()
            else:
                out[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        return out


def _snapshot(data: bytes, where: str) -> H5Group:
    """Parse in this process (used where fork is unavailable, and inside the child)."""
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            return _Walker(where).group(f, "/", 0)
    except ModelFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, ValueError, KeyError, ... on damaged files
        raise ModelFormatError(f"{where}: not a readable HDF5 file: {exc}") from None


def _encode(tree: H5Group) -> bytes:
    arrays: dict[str, np.ndarray] = {}

    def node(obj: H5Group | H5Dataset) -> dict:
        if isinstance(obj, H5Dataset):
            key = f"a{len(arrays)}"
            arrays[key] = obj.data
            return {"t": "d", "name": obj.name, "attrs": obj.attrs, "i": key}
        return {"t": "g", "name": obj.name, "attrs": obj.attrs,
                "children": {k: node(v) for k, v in obj._children.items()}}

    header = json.dumps({"tree": node(tree)}).encode()
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return len(header).to_bytes(8, "little") + header + buf.getvalue()


def _decode(payload: bytes, where: str) -> H5Group:
    n = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8:8 + n])
    if "error" in header:
        raise ModelFormatError(header["error"])
    arrays = np.load(io.BytesIO(payload[8 + n:]), allow_pickle=False)

    def node(d: dict) -> H5Group | H5Dataset:
        if d["t"] == "d":
            return H5Dataset(d["name"], d["attrs"], arrays[d["i"]])
        return H5Group(d["name"], d["attrs"], {k: node(v) for k, v in d["children"].items()})

    return node(header["tree"])  # type: ignore[return-value]


def _snapshot_isolated(data: bytes, where: str) -> H5Group:
    """Run :func:`_snapshot` in a forked child; a crash or hang there is a ModelFormatError."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: parse, send, and leave without running any parent clean-up
        code = 0
        try:
            os.close(read_fd)
            # A crash here is expected and reported by the parent: keep the child quiet.
            faulthandler.disable()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            try:
                payload = _encode(_snapshot(data, where))
            except ModelFormatError as exc:
                payload = _error_payload(str(exc))
            except BaseException as exc:  # noqa: BLE001 - anything at all becomes a message
                payload = _error_payload(f"{where}: damaged HDF5 file ({type(exc).__name__}: {exc})")
            with os.fdopen(write_fd, "wb") as fh:
                fh.write(payload)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + PARSE_TIMEOUT
    with os.fdopen(read_fd, "rb", buffering=0) as fh:
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fh], [], [], max(remaining, 0.0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise ModelFormatError(f"{where}: the HDF5 library did not finish reading this file within "
                                       f"{PARSE_TIMEOUT:g} s; the file is damaged or hostile")
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    payload = b"".join(chunks)
    if os.WIFSIGNALED(status) or len(payload) < 8:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}"
        raise ModelFormatError(f"{where}: the HDF5 library crashed reading this file ({how}); the file is damaged "
                               "or hostile")
    return _decode(payload, where)


def _error_payload(message: str) -> bytes:
    header = json.dumps({"error": message}).encode()
    return len(header).to_bytes(8, "little") + header


def attr_str(value: Any) -> str | None:
    """An HDF5 string attribute as ``str`` (h5py may return bytes or a 0-d array)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, str):
        return value
    return str(value)


def attr_str_list(attrs: h5py.AttributeManager, key: str, where: str) -> list[str] | None:
    """A list-of-strings attribute, joining the ``key0``, ``key1``, ... chunks Keras writes for long lists."""
    try:
        if key in attrs:
            chunks: Iterator[Any] = iter([attrs[key]])
        elif f"{key}0" in attrs:
            parts = []
            i = 0
            while f"{key}{i}" in attrs:
                parts.append(attrs[f"{key}{i}"])
                i += 1
            chunks = iter(parts)
        else:
            return None
        out: list[str] = []
        for chunk in chunks:
            arr = np.atleast_1d(np.asarray(chunk))
            for item in arr.tolist():
                out.append(item.decode("utf-8") if isinstance(item, bytes) else str(item))
        return out
    except (UnicodeDecodeError, OSError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{where}: unreadable HDF5 attribute {key!r}: {exc}") from None
