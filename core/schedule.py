"""Schedules: the learning rate (Sec. 3: lr = base_lr x batch/256, cosine decay, optional linear warm-up,
Sec. 4.3) and the momentum of a target encoder (Sec. 6: BYOL, MoCo)."""
from __future__ import annotations

import math


def scaled_lr(base_lr: float, batch_size: int) -> float:
    """Linear scaling rule [14]: lr = base_lr x BatchSize / 256."""
    return base_lr * batch_size / 256


def cosine_lr(peak: float, epoch: float, epochs: float, warmup_epochs: float = 0.0) -> float:
    """lr at fractional `epoch`: linear ramp 0 -> peak over the warm-up, then half-cosine to 0 at `epochs`."""
    if epoch < warmup_epochs:
        return peak * epoch / warmup_epochs
    span = max(epochs - warmup_epochs, 1e-12)
    progress = min(max((epoch - warmup_epochs) / span, 0.0), 1.0)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def momentum_at(base: float, step: int, total_steps: int, schedule: str = "constant") -> float:
    """Target-encoder momentum after step `step` (0-based) of `total_steps`: constant m (MoCo), or BYOL's
    m_k = 1 - (1 - m_base) (cos(pi k / K) + 1) / 2, rising from m_base to 1 at the end of training."""
    if schedule == "constant":
        return base
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
