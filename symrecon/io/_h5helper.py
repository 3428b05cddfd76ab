"""A long-lived helper process that parses HDF5 files for the loader.

libhdf5 can crash or loop forever on damaged or hostile files; parsing in a
separate process turns both into a :class:`~symrecon.errors.ModelFormatError`
instead of a dead or hung interpreter, and lets the helper run under an
address-space limit.  The helper is *spawned* (``subprocess``: fork and exec
in C, no Python code between them), never forked from Python: forking a
process whose other threads hold locks (BLAS, the allocator, numba) deadlocks.

Spawning Python and importing h5py takes a few hundred milliseconds, so one
helper is started on the first load and reused for every later one; requests
are serialised by a lock.  A helper that crashed, timed out or was
interrupted (Ctrl-C) is killed and reaped at once, and the next load starts a
fresh one.  An idle helper exits when this process closes the pipe (at exit,
or when this process dies).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from ..errors import ModelFormatError
from ._h5walk import LENGTH, handle

#: Seconds one file may take in the helper before it is killed (a legitimate file takes milliseconds).
PARSE_TIMEOUT = 60.0

_WALKER_FILE = str(Path(__file__).with_name("_h5walk.py"))

# Loads the walker by file path with the parent's sys.path: importing the
# symrecon package (SymPy, numba) would cost the helper seconds.
_BOOTSTRAP = ("import sys, json, importlib.util as u; sys.path[:] = json.loads(sys.argv[1]); "
              "s = u.spec_from_file_location('_symrecon_h5walk', sys.argv[2]); m = u.module_from_spec(s); "
              "sys.modules[s.name] = m; s.loader.exec_module(m); m.serve()")

#: One thread per helper keeps BLAS and malloc from reserving memory the address-space limit would count.
_HELPER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


class HelperDied(Exception):
    """The helper exited before answering.

    ``status`` is ``Popen.returncode`` (None: it sent no valid reply);
    ``sent`` says whether it had received the whole file (only then is the
    file to blame).
    """

    def __init__(self, status: int | None, sent: bool = True):
        super().__init__(status)
        self.status = status
        self.sent = sent


class Helper:
    """One helper process and its two pipes."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOTSTRAP, json.dumps(sys.path), _WALKER_FILE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
            env={**os.environ, **_HELPER_ENV},
            # Its own session: a Ctrl-C in the terminal reaches this process, which decides.
            start_new_session=True)
        # Both are pipes (PIPE above), so Popen always sets them; the checks narrow the Optional types.
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        self._stdin: IO[bytes] = stdin
        self._stdout: IO[bytes] = stdout

    def request(self, meta: dict, data: bytes, deadline: float, max_reply: int) -> bytes:
        """Send one request and return the reply; HelperDied or TimeoutError otherwise."""
        head = json.dumps(meta).encode()
        try:
            for part in (LENGTH.pack(len(head)), head, LENGTH.pack(len(data)), data):
                self._write(part)
        except BrokenPipeError:
            raise HelperDied(self.proc.poll(), sent=False) from None
        size = LENGTH.unpack(self._read(LENGTH.size, deadline))[0]
        if size > max_reply:
            raise HelperDied(None)
        return self._read(size, deadline)

    def _write(self, part: bytes) -> None:
        view = memoryview(part)
        while view:
            n = self._stdin.write(view)  # unbuffered: may write only part of it
            view = view[n:]

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self._stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
            if not chunk:
                raise HelperDied(self._reap(timeout=5.0))
            buf += chunk
        return bytes(buf)

    def _reap(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """Kill and reap the helper (its exit status)."""
        if self.proc.poll() is None:
            self.proc.kill()
        status = self.proc.wait()
        for fh in (self._stdin, self._stdout):
            fh.close()
        return status

    def close(self) -> None:
        """Let an idle helper exit (EOF on its input), killing it if it does not."""
        try:
            self._stdin.close()
        except OSError:
            pass
        self._reap(timeout=2.0)
        self._stdout.close()


_lock = threading.Lock()
_helper: Helper | None = None


def _forget_after_fork() -> None:
    # A child forked by the user must not talk to its parent's helper, nor wait on a lock held there.
    global _helper, _lock
    _helper, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register
def shutdown() -> None:
    """Stop the helper (called at exit; a later load starts a new one)."""
    global _helper
    # A thread still inside a load must not keep the interpreter from exiting: kill its helper instead.
    locked = _lock.acquire(timeout=5.0)
    try:
        if _helper is not None and _helper.owner == os.getpid():
            _helper.close() if locked else _helper.kill()
        _helper = None
    finally:
        if locked:
            _lock.release()


def helper_pid() -> int | None:
    """The running helper's process id, or None (for tests and diagnostics)."""
    h = _helper
    return h.proc.pid if h is not None and h.proc.poll() is None else None


def _running_helper() -> Helper:
    """The helper, started anew if there is none or it has exited (call with the lock held)."""
    global _helper
    if _helper is not None and _helper.proc.poll() is not None:
        _discard(_helper)
    if _helper is None:
        _helper = Helper()
    return _helper


def _discard(helper: Helper) -> None:
    """Kill and reap ``helper``; the next load starts a fresh one (call with the lock held)."""
    global _helper
    helper.kill()
    if _helper is helper:
        _helper = None


def parse(data: bytes, where: str, budget: int) -> bytes:
    """The helper's reply for the HDF5 file ``data`` (see ``_h5walk.encode``).

    Raises
    ------
    ModelFormatError
        The helper crashed or did not finish within :data:`PARSE_TIMEOUT`.
    """
    meta = {"where": where, "budget": budget, "timeout": PARSE_TIMEOUT}
    if os.name != "posix":
        # No select() on pipes: parse in this process, as symrecon always did outside POSIX.
        return handle(meta, data)
    with _lock:
        for attempt in (0, 1):
            helper = _running_helper()
            try:
                return helper.request(meta, data, time.monotonic() + PARSE_TIMEOUT, 2 * budget + 2**26)
            except HelperDied as exc:
                _discard(helper)
                if not exc.sent and attempt == 0:
                    continue  # it was gone before it saw this file (e.g. killed from outside): a fresh one tries
                how = "no valid reply" if exc.status is None else \
                    f"signal {-exc.status}" if exc.status < 0 else f"exit status {exc.status}"
                raise ModelFormatError(f"{where}: the HDF5 library crashed reading this file ({how}); the file "
                                       "is damaged or hostile") from None
            except TimeoutError:
                _discard(helper)
                raise ModelFormatError(f"{where}: the HDF5 library did not finish reading this file within "
                                       f"{PARSE_TIMEOUT:g} s; the file is damaged or hostile") from None
            except BaseException:
                # Ctrl-C or any other interruption: the pipe is mid-message, so this helper is done.
                _discard(helper)
                raise
    raise AssertionError("unreachable")
