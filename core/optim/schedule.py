"""Schedules: the learning rate (Sec. 3: lr = base_lr x batch/256, cosine decay, optional linear warm-up,
Sec. 4.3) and the momentum of a target encoder (Sec. 6: BYOL, MoCo).

How often the lr changes is optim.lr_every: "step" reads the schedule at the fractional epoch of every step
(the cosine annealing of SGDR, Loshchilov & Hutter 2017, whose epoch counter advances at every batch);
"epoch" holds it for a whole epoch at the value main_simsiam.py's adjust_learning_rate sets at the epoch's
start, init_lr * 0.5 * (1 + cos(pi * epoch / epochs)) for an integer epoch. The official code has no warm-up;
with one, "epoch" ramps at the epoch's end, peak * (e + 1) / warm-up for epoch e, so that no epoch trains at lr 0.
"""
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


def lr_at(peak: float, epoch: float, epochs: float, warmup_epochs: float = 0.0, every: str = "step") -> float:
    """The lr of a step taken at fractional `epoch`, changed every step or once per epoch (module docstring)."""
    if every == "step":
        return cosine_lr(peak, epoch, epochs, warmup_epochs)
    start = math.floor(epoch)
    if start < warmup_epochs:
        return peak * min(1.0, (start + 1) / warmup_epochs)
    return cosine_lr(peak, start, epochs, warmup_epochs)


def warmup_factor(epoch: float, warmup_epochs: float, every: str = "step") -> float:
    """The warm-up's share of the peak at fractional `epoch` (1 after it): what a constant lr is multiplied by."""
    if not warmup_epochs:
        return 1.0
    if every == "step":
        return min(1.0, epoch / warmup_epochs)
    return min(1.0, (math.floor(epoch) + 1) / warmup_epochs)


def momentum_at(base: float, step: int, total_steps: int, schedule: str = "constant") -> float:
    """Target-encoder momentum after step `step` (0-based) of `total_steps`: constant m (MoCo), or BYOL's
    m_k = 1 - (1 - m_base) (cos(pi k / K) + 1) / 2, rising from m_base to 1 at the end of training."""
    if schedule == "constant":
        return base
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
