"""The arithmetic of the throughput report, as pure functions of measured times (tested on hand numbers)."""
from __future__ import annotations

import statistics


def pairs_per_s(batch: int, step_s: float) -> float:
    """Image pairs per second of a step that takes `step_s` seconds for `batch` pairs."""
    return batch / step_s


def input_overhead(full_step_s: float, model_step_s: float) -> float:
    """Time of our full step (batches + augmentation + model) over the model-only step; 1.0 = free input."""
    return full_step_s / model_step_s


def paired_overhead(full_step_times: list[float], model_step_times: list[float]) -> float:
    """Input overhead from interleaved single steps: the median over neighbouring pairs of time (1) / time (2).
    Pairing cancels slow drifts of other work on a shared CPU; the median ignores the steps it interrupts."""
    if len(full_step_times) != len(model_step_times) or not full_step_times:
        raise ValueError("paired_overhead needs equally many (1) and (2) step times, at least one")
    return statistics.median(f / m for f, m in zip(full_step_times, model_step_times))


def speedup(full_step_s: float, reference_step_s: float) -> float:
    """How many times faster our full step is than the official-style reference step (same batch)."""
    return reference_step_s / full_step_s


def aug_share(aug_step_s: float, full_step_s: float) -> float:
    """Fraction of the full step's time that making one step's batch (both views) takes on its own."""
    return aug_step_s / full_step_s


def flop_rate(flops_per_step: float, step_s: float) -> float:
    """Model FLOP/s (multiply-add = 2 FLOPs) achieved by a step."""
    return flops_per_step / step_s


def mfu(flops_per_step: float, step_s: float, peak_flops: float) -> float:
    """Model FLOP utilization: achieved model FLOP/s over the measured matrix-product peak."""
    return flop_rate(flops_per_step, step_s) / peak_flops


def epoch_s(n_images: int, batch: int, step_s: float) -> float:
    """Seconds per epoch over `n_images` (the last partial batch dropped, as the trainer does)."""
    return (n_images // batch) * step_s
