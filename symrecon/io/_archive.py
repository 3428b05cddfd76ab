"""Safe reading of the containers Keras writes: ZIP archives and HDF5 files.

Everything is read into memory and parsed from there: nothing is extracted to
disk and no HDF5 file is opened by name, so links inside a file can never
reach the file system.  Every failure of zipfile, h5py or json is turned into
a :class:`~symrecon.errors.ModelFormatError` naming the file and the part.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any, Iterator

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
            except Exception as exc:  # zlib.error and friends from a damaged stream
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


class SafeH5:
    """An HDF5 file opened from bytes, checked once, then read through here.

    Construction walks every object: soft and external links, external and
    virtual datasets, non-numeric datasets and shape bombs are refused before
    any value is read.

    Parameters
    ----------
    data : bytes
        The file content.
    where : str
        How to name the file in messages (path, or ``archive.keras:model.weights.h5``).
    """

    def __init__(self, data: bytes, where: str):
        self.where = where
        check_global_heaps(data, where)
        try:
            self.file = h5py.File(io.BytesIO(data), "r")
        except Exception as exc:  # h5py raises OSError, ValueError, KeyError... on damaged files
            raise ModelFormatError(f"{where}: not a readable HDF5 file: {exc}") from None
        try:
            self._check(self.file, "/", 0, [0])
        except ModelFormatError:
            self.file.close()
            raise
        except Exception as exc:
            self.file.close()
            raise ModelFormatError(f"{where}: damaged HDF5 structure: {exc}") from None

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "SafeH5":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- validation ----------------------------------------------------------
    def _check(self, group: h5py.Group, path: str, depth: int, count: list[int]) -> None:
        if depth > MAX_H5_DEPTH:
            raise ModelFormatError(f"{self.where}: HDF5 groups nested deeper than {MAX_H5_DEPTH} at {path!r}")
        for key in group.keys():
            count[0] += 1
            if count[0] > MAX_H5_OBJECTS:
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
                self._check(obj, sub, depth + 1, count)
            elif isinstance(obj, h5py.Dataset):
                self._check_dataset(obj, sub)
            else:
                raise ModelFormatError(f"{self.where}: unexpected HDF5 object at {sub!r} ({type(obj).__name__})")

    def _check_dataset(self, ds: h5py.Dataset, path: str) -> None:
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

    # -- reading -------------------------------------------------------------
    def group(self, path: str) -> h5py.Group | None:
        """The group at ``path`` or None (hard links only: checked at open)."""
        obj = self.file.get(path)
        return obj if isinstance(obj, h5py.Group) else None

    def read(self, ds: h5py.Dataset, path: str) -> np.ndarray:
        """A dataset as a float64 array (bfloat16 raw storage converted)."""
        try:
            arr = ds[()]
            tag = attr_str(ds.attrs.get("dtype")) if "dtype" in ds.attrs else None
        except Exception as exc:
            raise ModelFormatError(f"{self.where}: cannot read HDF5 dataset {path!r}: {exc}") from None
        arr = np.asarray(arr)
        if tag == "bfloat16":
            # bfloat16 is the upper half of a float32: widen the raw bits.
            bits = arr.astype(np.uint16).astype(np.uint32) << 16
            arr = bits.view(np.float32)
        return np.array(arr, dtype=np.float64)


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
