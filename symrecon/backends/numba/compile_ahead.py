"""Compile a kernel ahead of the batch that needs it, in a background thread.

A solve on a fresh install compiles the kernel its batch starts with in the
foreground (the user waits for it anyway), and may *later* need another one:
``newton`` on a square chain starts with the structured Gauss–Newton kernel
and hands some targets to the damped (Levenberg–Marquardt) kernel only after
that phase.  Compiling the second kernel in the foreground too doubled the
first solve's pause (measured on the 2-core benchmark machine: about 4 s for
the structured kernel, 7 s more for the damped one); compiling it lazily put
the pause in the middle of the batch.  Here it compiles in a background
thread while the first phase runs, and whoever needs it waits for that thread
(:func:`wait`) *before* its batch starts, so no batch ever pauses mid-way.

numba serialises compilation (one global compiler lock), so the background
job never slows another compile down beyond taking its turn; the chunk
kernels release the GIL, so the first phase runs beside it.

The thread is not a daemon: a process that ends while it compiles waits for
it at exit (and leaves a complete on-disk cache behind), instead of being
torn down inside LLVM.  ``os.fork`` waits for it too (a child forked while
another thread holds numba's compiler lock could never compile again).

Example
-------
>>> from symrecon.backends.numba import compile_ahead
>>> compile_ahead.start("example", lambda: None)
>>> compile_ahead.wait("example")
>>> compile_ahead.pending()
[]
"""

from __future__ import annotations

import os
import threading
from typing import Callable

__all__ = ["start", "wait", "wait_all", "pending"]

_jobs: dict[str, threading.Thread] = {}
_guard = threading.Lock()


def start(key: str, compile_kernel: Callable[[], object]) -> None:
    """Run ``compile_kernel()`` in a background thread, unless a job named ``key`` ran or runs already.

    Parameters
    ----------
    key : str
        Names the kernel (one job per name and process).
    compile_kernel : callable
        Calls the kernel on arguments of the batch's types and an empty range
        (numba compiles it, or loads it from the cache).  An exception is
        dropped: the batch's own call compiles again and raises it there,
        where the user sees it.
    """
    with _guard:
        if key in _jobs:
            return

        def run() -> None:
            try:
                compile_kernel()
            except Exception:  # noqa: BLE001 - re-raised by the foreground call (see above)
                pass

        job = threading.Thread(target=run, name=f"symrecon-compile-{key}", daemon=False)
        _jobs[key] = job
    job.start()


def wait(key: str) -> None:
    """Return once the background job ``key`` (if any) has finished."""
    job = _jobs.get(key)
    if job is not None and job is not threading.current_thread():
        job.join()


def wait_all() -> None:
    """Return once every background job has finished (also run before ``os.fork``)."""
    for key in list(_jobs):
        wait(key)


def pending() -> list[str]:
    """Names of the jobs still compiling."""
    return [key for key, job in list(_jobs.items()) if job.is_alive()]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=wait_all)
