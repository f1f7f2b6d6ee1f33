"""Measuring on one device: wall time of repeated steps, the matrix-product peak, model FLOPs, aten ops, host syncs."""
from __future__ import annotations

import statistics
import time
import warnings
from collections import Counter
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], object], n: int, device: torch.device, warmup: int = 0) -> float:
    """Mean wall seconds of `fn()` over `n` calls after `warmup` untimed calls; the device is drained first and
    last, so queued GPU work is inside the measurement."""
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / n


def interleaved_step_times(fns: dict[str, Callable[[], object]], n: int, device: torch.device,
                           warmup: int = 0) -> dict[str, list[float]]:
    """Wall seconds of each of `n` calls of every fn, called in turn (a, b, a, b, ...) after `warmup` untimed
    calls of each, the device drained around every call: neighbouring calls of different fns see the same
    background load on a shared machine, so their ratios cancel its slow drifts."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return times


def measure_rounds(fns: dict[str, Callable[[], object]], steps: int, rounds: int, device: torch.device,
                   warmup: int, between: int = 0, progress: Callable[[int, dict], None] | None = None
                   ) -> dict[str, list[float]]:
    """Step-time samples of every fn over `rounds` rounds, `warmup` untimed calls before the first round and
    `between` before each later one; `progress(round, samples)` after each round.

    On CUDA a round is `steps` queued calls of one fn after the other, and its sample their mean time (syncing
    after every step would hide the GPU's overlap). Elsewhere a step is synchronous: a round is `steps`
    single calls of the fns in turn (interleaved_step_times), one sample each."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        w = warmup if r == 0 else between
        if device.type == "cuda":
            for name, fn in fns.items():
                samples[name].append(seconds_per_call(fn, steps, device, warmup=w))
        else:
            for name, times in interleaved_step_times(fns, steps, device, warmup=w).items():
                samples[name] += times
        if progress is not None:
            progress(r, samples)
    return samples


def step_time(samples: list[float], device: torch.device) -> float:
    """A variant's step time from its samples: the best round on CUDA (other work only ever slows a round down),
    the median single step elsewhere (robust to the steps that other work interrupts)."""
    return min(samples) if device.type == "cuda" else statistics.median(samples)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int | None = None, reps: int | None = None) -> float:
    """FLOP/s of an n x n matrix product in `dtype` on `device` (torch's default precision settings), the best of
    `reps` timed batches of products (other work on a shared machine only ever slows a batch down)."""
    n = n or (8192 if device.type == "cuda" else 2048)
    per_batch = 10 if device.type == "cuda" else 1
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = min(seconds_per_call(lambda: a @ b, per_batch, device, warmup=1 if r == 0 else 0) for r in range(reps or 6))
    return 2 * n ** 3 / best


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (multiply-add = 2) of the matrix products and convolutions that `fn()` runs, forward and backward."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def count_host_syncs(fn: Callable[[], object], device: torch.device) -> int | None:
    """How many times `fn()` makes the host wait for the GPU (CUDA sync debug mode); None off CUDA."""
    if device.type != "cuda":
        return None
    sync(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


# aten ops after which the host must wait for a GPU: reading a value back (item, bool, float, int all end in
# _local_scalar_dense) and ops whose output size depends on the data
_READ_BACK = {"aten._local_scalar_dense"}
_DATA_SIZED = {"aten.nonzero", "aten.masked_select", "aten._unique", "aten._unique2", "aten.unique_dim",
               "aten.unique_consecutive"}
_DATA_SIZED_OVERLOADS = {"aten.repeat_interleave.Tensor", "aten.repeat_interleave.self_Tensor"}  # tensor repeats
_INDEXING = {"aten.index", "aten.index_put", "aten.index_put_", "aten._index_put_impl_"}  # sync with a bool mask


class _OpCounter(TorchDispatchMode):
    """Every aten op dispatched while active (`ops`, name -> count), and among them those after which the host
    would wait for a GPU (`syncs`)."""

    def __init__(self):
        super().__init__()
        self.ops, self.syncs = Counter(), Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet, name = str(func.overloadpacket), str(func)
        self.ops[packet] += 1
        if packet in _READ_BACK or packet in _DATA_SIZED or name in _DATA_SIZED_OVERLOADS:
            self.syncs[name if name in _DATA_SIZED_OVERLOADS else packet] += 1
        elif packet in _INDEXING and any(isinstance(t, torch.Tensor) and t.dtype in (torch.bool, torch.uint8)
                                         for t in (args[1] if len(args) > 1 else ())):
            self.syncs[f"{packet} (bool mask)"] += 1
        return func(*args, **(kwargs or {}))


def count_ops(fn: Callable[[], object]) -> Counter:
    """The aten ops `fn()` dispatches, name -> count, on any device: on a GPU each is about one kernel launch,
    so their number is a CPU-measurable proxy for the launch cost of a step. Ops that a fused or compiled
    graph runs inside one kernel are not seen."""
    mode = _OpCounter()
    with mode:
        fn()
    return mode.ops


def sync_points(fn: Callable[[], object]) -> Counter:
    """What in `fn()` would make the host wait for a GPU, counted on any device (so on a CPU too): aten ops
    that read a value back or size their output by the data, seen with the op counter's TorchDispatchMode, and
    the Python calls `Tensor.tolist()` / `.numpy()`, which copy to the host without an aten op. Returns
    name -> count. `.cpu()` / `.to("cpu")` of a GPU tensor show as aten._to_copy on a GPU and are not counted
    here."""
    mode = _OpCounter()
    originals = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy")}

    def counting(name):
        def call(self, *args, **kwargs):
            mode.syncs[f"Tensor.{name}"] += 1
            return originals[name](self, *args, **kwargs)
        return call

    for name in originals:
        setattr(torch.Tensor, name, counting(name))
    try:
        with mode:
            fn()
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
    return mode.syncs


def host_syncs_per_step(step: Callable[[], object], device: torch.device, n: int) -> float:
    """Mean host syncs per call of `step` over `n` calls: waits for the GPU on CUDA, and on other devices the
    ops that would wait for one (sync_points), so a CPU run checks the GPU path too."""
    if device.type == "cuda":
        return sum(count_host_syncs(step, device) for _ in range(n)) / n
    return sum(sync_points(lambda: [step() for _ in range(n)]).values()) / n
