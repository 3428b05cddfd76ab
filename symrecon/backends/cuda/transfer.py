"""Host <-> device traffic in chunks on two streams, so that a batch of any length fits and transfers overlap.

A batch of ``N`` rows is cut into chunks of ``chunk`` rows.  Each of two
*slots* owns a CUDA stream, pinned host staging buffers and device buffers
for one chunk.  For chunk ``k`` on slot ``k % 2``: wait for the slot's
previous chunk and copy its answers out of the pinned buffers, stage the new
inputs, then queue on the slot's stream: inputs host -> device, the kernels,
outputs device -> host.  While one slot's copies and kernels run on the GPU,
the host stages the other's, and the two streams' copies and kernels overlap
on the device.  Device memory is two chunks whatever ``N`` is, so the host
memory of the arrays is the only limit (10^7 targets of a 16-wide network:
~0.4 GB of device memory with the default chunk).

Examples
--------
>>> from symrecon.backends.cuda.transfer import chunk_spans
>>> chunk_spans(10, 4)
[(0, 4), (4, 8), (8, 10)]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from .target import simulated

__all__ = ["DEFAULT_CHUNK", "chunk_spans", "run_chunks"]

#: rows per chunk (both slots together hold two chunks on the device); small enough that a batch
#: of 10^6 targets is several chunks, so that staging, copies and kernels overlap
DEFAULT_CHUNK = 1 << 18

#: the slots of the last call, for the next one with the same shapes: ``(key, slots)`` or None
_kept: list[tuple[tuple, list["_Slot"]] | None] = [None]
_kept_lock = threading.Lock()

#: ``launch(stream, n, device_inputs, device_outputs)`` queues the kernels for ``n`` rows on ``stream``
Launch = Callable[[Any, int, Sequence[Any], Sequence[Any]], None]


def chunk_spans(n: int, chunk: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in pieces of at most ``chunk`` rows."""
    return [(start, min(n, start + chunk)) for start in range(0, n, chunk)]


@dataclass
class _Slot:
    """One stream with its pinned staging and device buffers, and the chunk it is working on."""

    stream: Any
    pinned_in: list[np.ndarray]
    dev_in: list[Any]
    pinned_out: list[np.ndarray]
    dev_out: list[Any]
    span: tuple[int, int] | None = None
    events: tuple[Any, Any] | None = None
    kernel_ms: list[float] = field(default_factory=list)


def _slot(cuda: ModuleType, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], rows: int) -> _Slot:
    def shaped(a: np.ndarray) -> tuple[int, ...]:
        return (rows, *a.shape[1:])

    pinned_in = [cuda.pinned_array(shaped(a), dtype=a.dtype) for a in inputs]
    pinned_out = [cuda.pinned_array(shaped(a), dtype=a.dtype) for a in outputs]
    dev_in = [cuda.device_array(shaped(a), dtype=a.dtype) for a in inputs]
    dev_out = [cuda.device_array(shaped(a), dtype=a.dtype) for a in outputs]
    return _Slot(cuda.stream(), pinned_in, dev_in, pinned_out, dev_out)


def _slots(cuda: ModuleType, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], rows: int,
           count: int) -> tuple[tuple, list[_Slot]]:
    """``count`` slots for chunks of ``rows`` rows: the kept ones when the shapes match, else new ones."""
    key = (rows, count, *((a.shape[1:], a.dtype.str) for a in (*inputs, *outputs)))
    with _kept_lock:
        kept, _kept[0] = _kept[0], None
    if kept is not None and kept[0] == key:
        return kept
    return key, [_slot(cuda, inputs, outputs, rows) for _ in range(count)]


def _drain(slot: _Slot, outputs: Sequence[np.ndarray]) -> None:
    """Wait for the slot's chunk and copy its answers into the caller's arrays."""
    slot.stream.synchronize()
    if slot.span is None:
        return
    start, stop = slot.span
    for host, pinned in zip(outputs, slot.pinned_out):
        host[start:stop] = pinned[: stop - start]
    if slot.events is not None:
        slot.kernel_ms.append(slot.events[0].elapsed_time(slot.events[1]))
    slot.span = None


def run_chunks(cuda: ModuleType, launch: Launch, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
               chunk: int = DEFAULT_CHUNK) -> dict[str, Any]:
    """Run ``launch`` over every chunk of rows, two streams overlapping copies and kernels.

    Parameters
    ----------
    cuda : module
        ``numba.cuda`` (from :func:`~.target.cuda_module`).
    launch : callable
        ``launch(stream, n, device_inputs, device_outputs)`` queues the
        kernels for the first ``n`` rows of the device buffers on ``stream``.
    inputs : sequence of ndarray, each (N, ...)
        Read row by row (not modified).
    outputs : sequence of ndarray, each (N, ...)
        Written row by row.
    chunk : int
        Rows per chunk.

    Returns
    -------
    dict
        ``device_chunks`` (int) and ``kernel_s``: seconds the kernels ran on
        the device, summed over chunks (CUDA events; None under the simulator,
        which has no clock).
    """
    n = int(inputs[0].shape[0])
    spans = chunk_spans(n, chunk)
    if not spans:
        return {"device_chunks": 0, "kernel_s": None}
    rows = min(chunk, n)
    timed = not simulated()
    key, slots = _slots(cuda, inputs, outputs, rows, min(2, len(spans)))
    for k, (start, stop) in enumerate(spans):
        slot = slots[k % len(slots)]
        _drain(slot, outputs)
        m = stop - start
        for host, pinned, dev in zip(inputs, slot.pinned_in, slot.dev_in):
            pinned[:m] = host[start:stop]
            dev[:m].copy_to_device(pinned[:m], stream=slot.stream)
        if timed:
            slot.events = (cuda.event(), cuda.event())
            slot.events[0].record(slot.stream)
        launch(slot.stream, m, [d[:m] for d in slot.dev_in], [d[:m] for d in slot.dev_out])
        if timed and slot.events is not None:
            slot.events[1].record(slot.stream)
        for pinned, dev in zip(slot.pinned_out, slot.dev_out):
            dev[:m].copy_to_host(pinned[:m], stream=slot.stream)
        slot.span = (start, stop)
    for slot in slots:
        _drain(slot, outputs)
    kernel_s = sum(sum(s.kernel_ms) for s in slots) / 1e3 if timed else None
    for slot in slots:
        slot.kernel_ms.clear()
        slot.events = None
    with _kept_lock:
        _kept[0] = (key, slots)
    return {"device_chunks": len(spans), "kernel_s": kernel_s}
