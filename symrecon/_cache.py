"""Where numba keeps symrecon's compiled kernels: a per-user cache, never the package.

numba's default for ``@njit(cache=True)`` is the ``__pycache__`` folder next to
the source file.  For an installed symrecon that is inside ``site-packages``:
pip does not own those ``.nbi``/``.nbc`` files, so uninstalling (or replacing a
regular install by ``pip install -e .``) leaves ``site-packages/symrecon/``
behind with only them in it, and ``import symrecon`` then finds an empty
namespace package.  This module registers a numba cache locator, consulted
before numba's own, that puts the kernels of symrecon's source files in

- ``$NUMBA_CACHE_DIR`` (numba's own setting, ``numba.config.CACHE_DIR``) when
  the user set one: then this locator steps aside and numba uses it;
- otherwise :func:`kernel_cache_dir`: ``$XDG_CACHE_HOME/symrecon/<version>``,
  or ``~/.cache/symrecon/<version>`` (``%LOCALAPPDATA%`` on Windows).

Why a locator and not ``numba.config.CACHE_DIR``: numba reads the cache
directory when each ``@njit(cache=True)`` function is *decorated*, and
``numba.config`` re-reads ``NUMBA_*`` environment variables (resetting
``CACHE_DIR``) whenever they change before a compilation; a locator class is
asked at every decoration and only claims files inside this package, so it
neither depends on import order nor moves other libraries' caches.

If the per-user directory cannot be created or written, numba's own locators
take over (numba's default behaviour).  Clearing the cache is always safe:
``rm -r ~/.cache/symrecon``.

This module must be imported before any kernel module is (``symrecon/__init__``
imports it first).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

__all__ = ["kernel_cache_dir", "package_version", "install_locator"]

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


@functools.lru_cache(maxsize=1)  # asked once per kernel at import; a metadata lookup costs ~2 ms
def package_version() -> str:
    """The installed symrecon version, or ``"unknown"`` without package metadata."""
    from importlib import metadata

    try:
        return metadata.version("symrecon")
    except metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
        return "unknown"


def _user_cache_root() -> Path:
    """The platform's per-user cache folder (XDG on POSIX)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        if base:
            return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative path is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ".cache"


def kernel_cache_dir() -> Path:
    """Folder numba's compiled symrecon kernels go to.

    Returns
    -------
    pathlib.Path
        ``numba.config.CACHE_DIR`` when set (from ``NUMBA_CACHE_DIR``),
        otherwise ``<user cache>/symrecon/<version>``.  The folder may not
        exist yet; numba creates it on the first compilation.
    """
    from numba.core import config

    if config.CACHE_DIR:
        return Path(config.CACHE_DIR)
    return _user_cache_root() / "symrecon" / package_version()


def _inside_package(py_file: str) -> bool:
    return os.path.realpath(py_file).startswith(_PACKAGE_DIR + os.sep)


def _make_locator():
    from numba.core import caching, config

    class SymreconCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        """numba cache locator for symrecon's own kernels (see the module docstring)."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            # numba's subpath: the source folder's name plus a hash of its full path, so a
            # regular and an editable install of the same version never share entries.
            self._cache_path = str(kernel_cache_dir() / self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            if config.CACHE_DIR or not _inside_package(py_file):
                return None  # the user's explicit NUMBA_CACHE_DIR, or not our code: numba decides
            # The mixin returns None when the folder cannot be created or written.
            return super().from_function(py_func, py_file)

    return SymreconCacheLocator


def install_locator() -> None:
    """Put symrecon's locator first in numba's list (idempotent)."""
    from numba.core import caching

    # numba >= 0.59 names it CacheImpl; 0.58 had _CacheImpl.
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
    classes = impl._locator_classes
    if any(getattr(c, "__name__", "") == "SymreconCacheLocator" for c in classes):
        return
    # A new list on the class (not an in-place insert) keeps numba's module-level default intact.
    impl._locator_classes = [_make_locator(), *classes]


install_locator()
