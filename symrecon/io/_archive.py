"""Safe reading of the containers Keras writes: files, JSON and ZIP archives.

Everything is read into memory and parsed from there: nothing is extracted to
disk and no HDF5 file is opened by name, so links inside a file can never
reach the file system.  Only regular files are read (a named pipe or a device
would block or never end).  HDF5 is parsed in a helper process
(``_h5tree.SafeH5``).  Every failure of zipfile or json is turned into a
:class:`~symrecon.errors.ModelFormatError` naming the file and the part.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import stat
import zipfile
import zlib
from typing import Any

from ..errors import ModelFormatError
from ._h5walk import MAX_JSON_BYTES

#: Upper bounds that keep a hostile file from exhausting memory.  symrecon
#: models are small; these are generous for anything it can represent.
MAX_FILE_BYTES = 512 * 2**20
#: An archive member may expand at most this much beyond its compressed size
#: (Keras stores members uncompressed; deflate reaches about 10x on JSON),
#: or to :data:`SMALL_MEMBER_BYTES`, whichever is larger.
MAX_MEMBER_EXPANSION = 100
SMALL_MEMBER_BYTES = 2**20

#: The only archive members read; anything else (assets/, ...) is ignored.
CONFIG_MEMBER = "config.json"
METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "model.weights.h5"
PICKLED_WEIGHTS_MEMBER = "model.weights.npz"


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """The whole file, refusing missing, non-regular and oversized files.

    A named pipe, a directory or a device is refused from ``stat`` before it
    is opened (opening a pipe blocks until a writer appears, and a device
    may never end); the opened descriptor is checked again, so swapping the
    file for a pipe in between cannot block either.
    """
    p = os.fspath(path)
    try:
        _require_regular(os.stat(p), p)
        # O_NONBLOCK: if a pipe appeared since the stat, open() returns instead of waiting for a writer.
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ModelFormatError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        _require_regular(st, p)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelFormatError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)


def _require_regular(st: os.stat_result, p: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a named pipe" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise ModelFormatError(f"{p}: is {kind}, not a regular file; refusing to read it")
    if st.st_size > MAX_FILE_BYTES:
        raise ModelFormatError(f"{p}: file is {st.st_size} bytes, more than the {MAX_FILE_BYTES}-byte limit")


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
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
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
            # A few KB of deflated zeros can inflate to the full limit: memory follows the real content.
            limit = min(limit, max(SMALL_MEMBER_BYTES, MAX_MEMBER_EXPANSION * info.compress_size))
            if info.flag_bits & 0x1:
                raise ModelFormatError(f"{where}: archive member {info.filename!r} is encrypted")
            if info.file_size > limit:
                raise ModelFormatError(f"{where}: archive member {info.filename!r} declares {info.file_size} "
                                       f"bytes, more than the {limit}-byte limit")
            try:
                with zf.open(info) as fh:
                    # Read at most limit + 1 bytes, whatever the header claims.
                    blob = fh.read(limit + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
                    zlib.error, lzma.LZMAError) as exc:
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


