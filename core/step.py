"""One training step, the same for every method of Sec. 6 and every ablation: the trainer (core.train) and
the benchmark (benchmarks.steps) both call `train_step`.

    for each view pair (x1, x2) of the step (two with loss.symmetry asym2x):
        p1, p2, z1, z2 = h(f(x1)), h(f(x2)), f(x1), f(x2)       # model, at run.precision
        t1, t2 = targets(...)                                   # same network / momentum copy / k-step / eta
        L_j = objective(p1, p2, t1, t2)                         # D, InfoNCE or SwAV, stop-grad inside
    L = mean_j L_j; backward; gradients averaged over ranks; optimizer step
    targets.after_step (momentum update); objective.after_step (queue update)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core import distributed, precision
from core.config import RunConfig
from core.monitors import z_std


@dataclass
class StepOut:
    stats: torch.Tensor      # (2,) float64 on the device: the loss and z_std of the first pair's z1
    z1: torch.Tensor         # (B, d) the first pair's z1, for the effective-rank monitor


def train_step(model, optimizer, pairs, idx, targets, objective, run: RunConfig, step: int,
               world: int = 1) -> StepOut:
    """Step number `step` (0-based, the run's count) on `pairs` [(x1, x2), ...] of the images `idx` (B,)."""
    losses = []
    for j, (x1, x2) in enumerate(pairs):
        p1, p2, z1, z2 = precision.forward(model, x1, x2, run)         # (B, d) each, fp32
        t1, t2 = targets(j, idx, x1, x2, z1, z2)
        losses.append(objective(p1, p2, t1, t2))
        if j == 0:
            std, z_first = z_std(z1), z1
    loss = sum(losses) / len(losses)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(model.parameters(), world)           # W > 1: mean over ranks
    optimizer.step()
    targets.after_step(step)
    objective.after_step()
    return StepOut(torch.stack([loss.detach().double(), std.double()]), z_first)
