"""One training step, the same for every method of Sec. 6 and every ablation: the trainer (core.train.loop) and
the benchmark (benchmarks.steps) both call `train_step`.

    for each view pair (x1, x2) of the step (two with loss.symmetry asym2x):
        p1, p2, z1, z2 = h(f(x1)), h(f(x2)), f(x1), f(x2)       # model, at run.precision
        t1, t2 = targets(...)                                   # same network / momentum copy / k-step / eta
        L_j = objective(p1, p2, t1, t2)                         # D, InfoNCE or SwAV, stop-grad inside
    L = mean_j L_j; backward; gradients averaged over ranks; optimizer step
    targets.after_step (momentum update); objective.after_step (queue update)

`run.compile_step` runs this same function under torch.compile (`step_function`): the forward passes, the
targets, the objective and the loss in one graph, whose backward AOTAutograd compiles with it; the optimizer
step and the updates after it in another; dynamo breaks the graph only at zero_grad and backward. The lr of
each parameter group is then a 0-dim tensor on the device, filled in place by core.optim.optimizer.set_lr
(`lr_as_tensor`), so a new lr every step is data, not a recompile and not a host read.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.config.hyperparameters import RunConfig
from core.eval.monitors import z_std
from core.runtime import distributed, precision


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


def step_function(run: RunConfig):
    """The step a run executes: `train_step`, or with run.compile_step the same function under torch.compile
    (build it once per run: its compiled graphs live with the returned function)."""
    return torch.compile(train_step) if run.compile_step else train_step


def lr_as_tensor(optimizer: torch.optim.Optimizer, run: RunConfig, device: torch.device) -> None:
    """With run.compile_step, make every param group's lr a 0-dim float32 tensor on `device` (set_lr fills it):
    a Python float lr would be a constant of the compiled optimizer step, recompiled whenever it changes."""
    if run.compile_step:
        for group in optimizer.param_groups:
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
