"""The steps benchmarks.throughput times: ours, the same `core.train.step.train_step` that core/train/loop.py runs, and
the official-style one."""
from __future__ import annotations

import itertools

import torch

from benchmarks import timing
from benchmarks.reference import TwoCropsDataset, endless, official_loader, official_transform
from core.config.hyperparameters import Config
from core.data.batches import ArraySource
from core.model.simsiam import SimSiam, build_model
from core.objective.losses import simsiam_loss
from core.objective.objectives import make_objective
from core.objective.targets import SameNetwork, make_targets
from core.optim.optimizer import build_optimizer, set_lr
from core.optim.schedule import scaled_lr
from core.runtime import precision
from core.train.step import lr_as_tensor, step_function


class OurStep:
    """core/train/loop.py's training step, `core.train.step.train_step`, with the config's objective and target encoder
    (one view pair per step: the k-step and moving-average targets of Sec. 5.2 are timed as the same network)."""

    def __init__(self, cfg: Config, source: ArraySource, device: torch.device):
        torch.manual_seed(cfg.run.seed)
        self.cfg, self.device = cfg, device
        self.model = precision.prepare_model(build_model(cfg, source.channels).to(device), cfg.run)
        self.model.train()
        self.peak_lr = scaled_lr(cfg.optim.base_lr, cfg.optim.batch_size)
        self.optimizer = build_optimizer(cfg, self.model, self.peak_lr)
        lr_as_tensor(self.optimizer, cfg.run, device)      # run.compile_step only
        self.step_fn = step_function(cfg.run)               # train_step, or compiled as a whole (run.compile_step)
        self.steps_per_epoch, self.steps = source.steps_per_epoch, 0
        total = cfg.optim.epochs * self.steps_per_epoch
        # Sec. 5.2's targets follow the trainer's data order: the benchmark times them as the same network
        self.targets = make_targets(cfg, self.model, source, 1, device, total) if cfg.target.momentum else SameNetwork()
        self.objective = make_objective(cfg, self.model, device)
        self.sums = torch.zeros(2, dtype=torch.float64, device=device)
        self.idx = torch.arange(cfg.optim.batch_size, device=device)

    def __call__(self, x1: torch.Tensor, x2: torch.Tensor) -> None:
        cfg = self.cfg
        set_lr(self.optimizer, cfg, self.peak_lr, self.steps / self.steps_per_epoch)
        out = self.step_fn(self.model, self.optimizer, [(x1, x2)], self.idx, self.targets, self.objective, cfg.run,
                           self.steps)
        self.sums += out.stats
        self.steps += 1
        if self.steps % cfg.run.log_every == 0:
            self.sums.tolist()                          # the trainer's one host sync per log interval


def our_batches(source: ArraySource):
    """(x1, x2) views of every step, epoch after epoch, exactly as the trainer draws them."""
    for epoch in itertools.count():
        for pairs, _ in source.train_epoch(epoch):
            yield pairs[0]


class ReferenceStep:
    """The official-style step: fp32, NCHW, eager, `loss.item()` every step, batches from DataLoader workers."""

    def __init__(self, cfg: Config, source: ArraySource, device: torch.device, workers: int):
        torch.manual_seed(cfg.run.seed)
        self.cfg, self.device = cfg, device
        self.model = SimSiam(cfg.model, source.channels).to(device)
        self.model.train()
        self.optimizer = build_optimizer(cfg, self.model, scaled_lr(cfg.optim.base_lr, cfg.optim.batch_size))
        tf = official_transform(cfg.augment, cfg.data.image_size, source.mean.flatten().tolist(),
                                source.std.flatten().tolist())
        ds = TwoCropsDataset(source.x_train, source.y_train, tf)
        self.batches = endless(official_loader(ds, cfg.optim.batch_size, workers, device, cfg.run.seed))
        self.losses = []

    def __call__(self) -> None:
        self.step(*self.fetch())

    def fetch(self) -> tuple[torch.Tensor, torch.Tensor]:
        (x1, x2), _ = next(self.batches)
        return x1.to(self.device, non_blocking=True), x2.to(self.device, non_blocking=True)

    def step(self, x1: torch.Tensor, x2: torch.Tensor) -> None:
        p1, p2, z1, z2 = self.model(x1, x2)
        loss = simsiam_loss(p1, p2, z1, z2)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.losses.append(loss.item())                 # official: losses.update(loss.item(), images[0].size(0))


def step_flops(cfg: Config, x1: torch.Tensor, x2: torch.Tensor, channels: int) -> int:
    """Model FLOPs of one step (forward + loss + backward) on a fresh fp32 eager copy of the model."""
    model = SimSiam(cfg.model, channels).to(x1.device).train()

    def fwd_bwd():
        p1, p2, z1, z2 = model(x1, x2)
        simsiam_loss(p1, p2, z1, z2).backward()

    return timing.count_flops(fwd_bwd)
