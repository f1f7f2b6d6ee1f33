"""Data-parallel training of one run over a torch.distributed process group (NCCL on GPUs, gloo on CPUs).

The process group is started by whoever launches the processes (sweeps.slurm_job from submitit's job
environment, `init_from_env` under torchrun or a test); core.train.loop only asks `current()` for its rank and
world size. With world size W > 1 the run is the same computation as one process with the configured
total batch B, up to floating-point order:
- every rank draws the same epoch permutation and takes its contiguous B/W share of each step's batch
  (core.data.batches), augmented from a per-rank seed;
- batch norm normalizes with statistics over the whole batch B: torch's SyncBatchNorm on GPUs, and on CPUs
  `CrossRankBatchNorm` below (torch's needs a GPU);
- each rank's loss is the mean over its share, and `average_gradients` averages the gradients over ranks
  (so the gradient is that of the mean loss over B; lr scaling stays base_lr x B / 256);
- parameters start equal (same seed) and stay bit-identical: every rank applies the same averaged gradient.
The logged loss is the mean over ranks (the loss of the whole batch); the logged z_std and effective rank
are monitors of each rank's share (z_std averaged over ranks, the effective rank rank 0's), close to but not
the same numbers as over the whole batch. Only rank 0 writes the run directory; every rank evaluates
(identical weights give identical numbers), so no rank waits on another outside the training step.

Not supported with W > 1 (ConfigError before anything starts): the Sec. 5.2 hypothesis runs (k-step targets
and the moving-average eta keep per-image state on one process), a batch that W does not divide, and the
Sec. 6 parts that need the whole batch or state kept alike on every rank, which this module does not do:
in-batch negatives (each rank would see only its share as negatives; SimCLR gathers all), a queue of keys
(MoCo gathers every rank's keys into it), Sinkhorn-Knopp codes (SwAV sums its marginals over all ranks) and
a momentum copy (its batch norm would have to be converted and tested across ranks too).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from core.config.hyperparameters import Config, ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def current() -> Dist:
    """This process's rank and the world size of the default process group (0 of 1 without one)."""
    if dist.is_available() and dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size())
    return Dist()


def init_from_env(device_type: str) -> Dist:
    """Start the default process group from torchrun-style variables (RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT, LOCAL_RANK) if WORLD_SIZE > 1: NCCL for 'cuda' (one GPU per local rank), gloo otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", init_method="env://")
    return current()


def check_supported(cfg: Config, world: int) -> None:
    """Refuse what data-parallel training cannot reproduce exactly (module docstring)."""
    if world <= 1:
        return
    if cfg.optim.batch_size % world:
        raise ConfigError(f"optim.batch_size {cfg.optim.batch_size} is not divisible by the {world} processes "
                          "of a data-parallel run; the total batch is split evenly across them")
    if cfg.target.k_steps != 1:
        raise ConfigError(f"target.k_steps {cfg.target.k_steps} (Sec. 5.2 k-step alternation) runs in one "
                          f"process only, not across {world}")
    if cfg.target.eta != "network":
        raise ConfigError(f"target.eta {cfg.target.eta!r} (Sec. 5.2) keeps per-image targets in one process; "
                          f"it does not run across {world} processes")
    why = {"batch": "in-batch negatives would be each rank's share only (SimCLR gathers every rank's keys)",
           "queue": "the queue would hold each rank's keys only (MoCo gathers every rank's keys into it)"}
    if cfg.loss.negatives in why:
        raise ConfigError(f"loss.negatives {cfg.loss.negatives!r}: {why[cfg.loss.negatives]}; not implemented "
                          f"across {world} processes")
    if cfg.loss.objective == "swav":
        raise ConfigError(f"loss.objective 'swav': Sinkhorn-Knopp's marginals must sum over every rank's share "
                          f"(as SwAV does); not implemented across {world} processes")
    if cfg.target.momentum > 0:
        raise ConfigError(f"target.momentum {cfg.target.momentum:g}: the momentum copy's batch norm is not "
                          f"converted to run over all ranks; not implemented across {world} processes")


# ---- batch norm over the whole batch ---------------------------------------------------------------------
class CrossRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training-mode statistics are those of the batch over all ranks (two-pass mean and
    biased variance, both summed across ranks with autograd-aware all-reduces, so gradients flow to every
    rank's inputs as in one process). Same parameters, buffers and state_dict keys as nn.BatchNorm*d;
    eval mode, and training without a process group, are plain batch norm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        n_local = torch.tensor([x.numel() // x.size(1)], dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum(dims), n_local]))
        n = sums[-1]
        mean = sums[:-1] / n
        centered = x - mean.view(shape)
        var = all_reduce(centered.square().sum(dims)) / n                 # biased, as batch norm normalizes
        out = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1), m)     # unbiased, as nn.BatchNorm keeps it
        return out


def convert_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm*d of `model` normalizing over the whole batch across ranks (no-op without a group of
    more than one process). The converted layers keep their weights, buffers and state_dict keys."""
    if not current().active:
        return model
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert_cpu(model, device)


def _convert_cpu(module: nn.Module, device: torch.device) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CrossRankBatchNorm):
        new = CrossRankBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats).to(device)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        for p_new, p_old in zip(new.parameters(), module.parameters()):
            p_new.requires_grad_(p_old.requires_grad)
        return new
    for name, child in module.named_children():
        module.add_module(name, _convert_cpu(child, device))
    return module


# ---- gradients and scalars --------------------------------------------------------------------------------
def average_gradients(params, world: int) -> None:
    """Replace each parameter's .grad by its mean over ranks: one all-reduce of all gradients, flattened."""
    if world <= 1:
        return                                       # one process: nothing to do, nothing walked
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_sum(t: torch.Tensor, world: int) -> torch.Tensor:
    """The sum of `t` over ranks (t itself with one process); on the device, no host sync."""
    if world > 1:
        t = t.clone()
        dist.all_reduce(t)
    return t
