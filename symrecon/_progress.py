"""Chunked batch runs with an optional tqdm progress bar.

Solvers hand a batch to :func:`run_chunked` as a function of a row range.
With ``progress=None`` (automatic) the first chunk is timed and a bar is shown
only when the whole run is expected to take longer than
:data:`AUTO_THRESHOLD` seconds; ``True`` always shows one, ``False`` never.

Examples
--------
>>> import numpy as np
>>> from symrecon._progress import run_chunked
>>> out = np.zeros(10)
>>> def work(start, stop):
...     out[start:stop] = np.arange(start, stop)
>>> run_chunked(10, work, progress=False, chunk=4)
>>> float(out[-1])
9.0
"""

from __future__ import annotations

import math
import time
from typing import Callable

__all__ = ["run_chunked", "AUTO_THRESHOLD"]

#: seconds: automatic mode shows a bar for runs expected to last longer than this
AUTO_THRESHOLD = 2.0


def run_chunked(n: int, work: Callable[[int, int], None], *, progress: bool | None, chunk: int,
                desc: str = "symrecon") -> None:
    """Call ``work(start, stop)`` over ``range(n)`` in chunks of ``chunk`` rows.

    Parameters
    ----------
    n : int
        Number of rows (targets).
    work : callable
        Processes rows ``start:stop`` (writes its results itself).
    progress : bool or None
        Show a tqdm bar: always (True), never (False) or when the run is
        expected to take longer than :data:`AUTO_THRESHOLD` seconds (None).
    chunk : int
        Rows per call; the bar advances once per chunk.
    desc : str
        Bar label (the method name).
    """
    chunk = max(1, int(chunk))
    n_chunks = max(1, math.ceil(n / chunk))
    bounds = [(i * chunk, min(n, (i + 1) * chunk)) for i in range(n_chunks)]
    if progress is False or (progress is None and n_chunks == 1):
        for start, stop in bounds:
            work(start, stop)
        return
    done = 0
    if progress is None:
        t0 = time.perf_counter()
        work(*bounds[0])
        done = 1
        if (time.perf_counter() - t0) * n_chunks <= AUTO_THRESHOLD:
            for start, stop in bounds[1:]:
                work(start, stop)
            return
    from tqdm.auto import tqdm

    with tqdm(total=n, initial=bounds[done - 1][1] if done else 0, desc=desc, unit="target") as bar:
        for start, stop in bounds[done:]:
            work(start, stop)
            bar.update(stop - start)
