"""Measuring on one device: wall time of repeated steps, the matrix-product peak, model FLOPs, host syncs."""
from __future__ import annotations

import time
import warnings
from typing import Callable

import torch
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
