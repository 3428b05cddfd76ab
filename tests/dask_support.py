"""Shared by the Dask tests: the optional-import policy, problems, and a LocalCluster started with spawn.

Functions that run inside worker processes live here (an importable module:
spawned workers unpickle them by reference).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

import numpy as np
import pytest

try:
    import dask
    import dask.array as da
    import distributed
except ImportError:
    if os.environ.get("CI"):  # in CI a missing Dask is a broken test machine, never a silent skip
        raise
    pytest.skip("dask is not installed: pip install -e '.[dask]' (with CI set, this is an error instead)",
                allow_module_level=True)

import symrecon as sr

__all__ = ["dask", "da", "distributed", "tanh_problem", "local_cluster", "slow_identity", "kernel_cache_counts", "inherited_parent_state",
           "assert_same_rows"]


def tanh_problem(n: int, width: int = 4, seed: int = 0):
    """A square tanh chain and ``n`` reachable targets ``(model, y)``."""
    rng = np.random.default_rng(seed)
    layers = [sr.Dense(rng.normal(size=(width, width)) * 0.8, rng.normal(size=width) * 0.3, "tanh")
              for _ in range(2)]
    model = sr.Sequential(layers)
    return model, model(rng.normal(size=(n, width)) * 0.5)


@contextmanager
def local_cluster(n_workers: int = 2, **kwargs):
    """A ``LocalCluster`` of single-threaded worker processes started by *spawn* (never fork: numba has threads)."""
    sys._dask_support_parent = os.getpid()  # a forked worker would inherit this; a spawned one cannot
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", **kwargs) as cluster:
            with distributed.Client(cluster) as client:
                yield client


def inherited_parent_state() -> bool:
    """Whether this process carries state set in the test process (true only for a forked child)."""
    return hasattr(sys, "_dask_support_parent")


def slow_identity(block: np.ndarray, delay: float) -> np.ndarray:
    """The block itself, after ``delay`` seconds (stretches a run so that a worker can be killed mid-run)."""
    time.sleep(delay)
    return block


def kernel_cache_counts() -> tuple[int, int]:
    """``(cache hits, cache misses)`` of every symrecon numba kernel in this process (misses = compilations)."""
    from numba.core.dispatcher import Dispatcher

    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("symrecon.backends.numba") and module is not None:
            for obj in vars(module).values():
                if isinstance(obj, Dispatcher):
                    hits += sum(obj.stats.cache_hits.values())
                    misses += sum(obj.stats.cache_misses.values())
    return hits, misses


def assert_same_rows(lazy_result, in_memory, exact: bool = True) -> None:
    """A computed dask result equals the in-memory one row for row: same statuses, methods, iterations, x.

    ``exact=False`` for the closed form, whose evaluation picks NumPy or numba by
    the number of rows (a chunk has fewer than the whole batch): its ``x`` then
    agrees to rounding (1e-10, the closed form's accuracy), everything else exactly.
    """
    got = lazy_result if isinstance(lazy_result, sr.Reconstruction) else lazy_result.compute()
    assert got.x.shape == in_memory.x.shape
    np.testing.assert_array_equal(got.status, in_memory.status)
    np.testing.assert_array_equal(got.n_iter, in_memory.n_iter)
    np.testing.assert_array_equal(got.method, in_memory.method)
    np.testing.assert_array_equal(got.success, in_memory.success)
    np.testing.assert_array_equal(got.y_target, in_memory.y_target)
    if exact:
        np.testing.assert_array_equal(got.x, in_memory.x)
        np.testing.assert_array_equal(got.residual, in_memory.residual)
    else:
        np.testing.assert_allclose(got.x, in_memory.x, rtol=1e-10, atol=1e-10)
        assert np.all(got.residual[got.success] <= got.tol)
