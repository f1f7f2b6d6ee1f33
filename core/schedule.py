"""Learning-rate schedule (Sec. 3): lr = base_lr x batch/256, cosine decay, optional linear warm-up (Sec. 4.3)."""
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
