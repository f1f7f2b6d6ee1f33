"""Target providers: what the predictions p are pulled towards, one object per run (`make_targets`).

    SameNetwork      SimSiam: t = z, the step's own outputs (Fig. 3)
    MomentumCopy     BYOL, MoCo: t = f_m(x), a copy of f updated as theta_m <- m theta_m + (1 - m) theta
                     after every step, never by gradient (target.momentum > 0; Fig. 3's momentum encoder)
    KStepTargets     Sec. 5.2: eta cached for k steps
    MovingAverageTargets  Sec. 5.2: a per-image moving average eta

Each is called as `provider(j, idx, x1, x2, z1, z2) -> (t1, t2)` for view pair j of the step; `begin(epoch, i)`
comes before step i of an epoch, `after_step(step)` after the optimizer's step, and `start(model, source)`
once before a fresh run's first step. `block` is the number of steps between which a run may stop (k for
k-step targets, whose cache is not checkpointed; 1 otherwise).

The Sec. 5.2 proof-of-concept targets in detail:

k-step alternation: at the start of each block of k steps, eta = F_theta_t(T'(x)) is computed for the
views of all k steps with the current network and cached (Eq. 10); then theta takes k SGD steps towards
the cached targets (Eq. 11). k = 1 is SimSiam. Choices where the paper is silent (recorded in
ablations/kstep.yaml): targets come from the same view pairs the k steps train on (symmetrized:
p1 -> eta(x2), p2 -> eta(x1)), in train-mode BN like SimSiam's z, without touching the BN running
statistics; blocks restart at each epoch boundary.

Moving-average eta (no predictor): a per-image table, eta_x <- m eta_x + (1 - m) F(T'(x)), l2-normalized
(footnote 5), m = 0.8. Choices (recorded in ablations/moving_average.yaml): F(T'(x)) is the mean of the
two views' normalized outputs of the current step (detached); eta_x starts from the randomly initialised
network's output F(x) on the un-augmented image, one pass before training (target.eta_init: network), or,
with target.eta_init: first_seen, at x's first output.
"""
from __future__ import annotations

import contextlib
import copy
import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.config.hyperparameters import Config
from core.optim.schedule import momentum_at
from core.runtime import precision


@contextlib.contextmanager
def frozen_bn_stats(model: nn.Module):
    """Forward in train mode (batch statistics) but leave every BN's running statistics as they were."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bns]
    try:
        yield
    finally:
        for m, (mean, var, n) in zip(bns, saved):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(n)


@torch.no_grad()
def kstep_targets(f, steps: list[list]) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """For each of the coming k steps and each of its view pairs (x1, x2): (F(x1), F(x2)), theta held at theta_t."""
    return [[(f(x1), f(x2)) for x1, x2 in pairs] for pairs in steps]


class SameNetwork:
    """SimSiam's target: z itself (the objective applies the stop-gradient)."""
    block = 1

    def start(self, model: nn.Module, source) -> None:
        pass

    def begin(self, epoch: int, i: int) -> None:
        pass

    def __call__(self, j: int, idx, x1, x2, z1: torch.Tensor, z2: torch.Tensor):
        return z1, z2

    def after_step(self, step: int) -> None:
        pass

    def state_dict(self) -> dict | None:
        return None

    def load_state_dict(self, state) -> None:
        pass


class MomentumCopy(SameNetwork):
    """A copy f_m of f = projector . backbone, in train-mode BN like f, with no gradient; after step k its
    parameters move to m_k theta_m + (1 - m_k) theta (target.momentum, target.momentum_schedule). BN buffers
    are the copy's own."""

    def __init__(self, model: nn.Module, cfg: Config, total_steps: int):
        self.online = [model.backbone, model.projector]
        self.copy = nn.Sequential(copy.deepcopy(model.backbone), copy.deepcopy(model.projector))
        self.copy.requires_grad_(False)
        self.base, self.schedule, self.total = cfg.target.momentum, cfg.target.momentum_schedule, total_steps
        self.run = cfg.run

    @torch.no_grad()
    def __call__(self, j, idx, x1, x2, z1, z2):
        return precision.encode(self.copy, x1, self.run), precision.encode(self.copy, x2, self.run)

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        m = momentum_at(self.base, step, self.total, self.schedule)
        online = [p for module in self.online for p in module.parameters()]
        for p_m, p in zip(self.copy.parameters(), online):
            p_m.copy_(p_m * m + p.detach() * (1.0 - m))

    def state_dict(self) -> dict:
        return self.copy.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.copy.load_state_dict(state)


class KStepTargets(SameNetwork):
    """Eq. 10-11: at every k-th step of an epoch, eta = F(x) for the views of the coming k steps (same pairs,
    theta fixed), then the k steps train towards them."""

    def __init__(self, model: nn.Module, source, k: int, n_pairs: int, cfg: Config, device):
        self.model, self.source, self.block, self.n_pairs = model, source, k, n_pairs
        self.device, self.precision = device, cfg.run.precision
        self.cached, self.i = [], 0

    def begin(self, epoch: int, i: int) -> None:
        k, steps_per_epoch = self.block, self.source.steps_per_epoch
        if i % k == 0:
            coming = itertools.islice(self.source.train_epoch(epoch, i, self.n_pairs), min(k, steps_per_epoch - i))
            with frozen_bn_stats(self.model), precision.autocast(self.device, self.precision):
                self.cached = kstep_targets(self.model.f, [ps for ps, _ in coming])
        self.i = i

    def __call__(self, j, idx, x1, x2, z1, z2):
        return self.cached[self.i % self.block][j]


class MovingAverageTargets(SameNetwork):
    """Per-image eta table (N, d) on the device, l2-normalized; `seen` marks images with an entry."""

    def __init__(self, n_images: int, dim: int, momentum: float, device, init: str = "first_seen",
                 run_precision: str = "fp32"):
        self.eta = torch.zeros(n_images, dim, device=device)
        self.seen = torch.zeros(n_images, dtype=torch.bool, device=device)
        self.m = momentum
        self.init, self.device, self.precision = init, device, run_precision

    def start(self, model: nn.Module, source) -> None:
        """eta_init: network fills the table from the random network before the first step (Sec. 5.3)."""
        if self.init == "network":
            with precision.autocast(self.device, self.precision):
                self.start_from(model, source.eval_batches("train"))

    def __call__(self, j, idx, x1, x2, z1, z2):
        eta = self.update(idx, z1, z2)
        return eta, eta

    @torch.no_grad()
    def update(self, idx: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """eta[idx] <- normalize(m eta[idx] + (1 - m) F(T'(x))); returns the new eta[idx] (B, d)."""
        out = F.normalize(F.normalize(z1.float(), dim=1) + F.normalize(z2.float(), dim=1), dim=1)
        old = self.eta[idx]
        new = torch.where(self.seen[idx, None], self.m * old + (1 - self.m) * out, out)
        new = F.normalize(new, dim=1)
        self.eta[idx] = new
        self.seen[idx] = True
        return new

    @torch.no_grad()
    def start_from(self, model: nn.Module, batches) -> None:
        """eta_x <- F(x)/||F(x)|| (F = model.f) for every image, in the order `batches` yields them ((x, y) from
        index 0 on). BN normalizes with the batch's statistics, as in training; its running statistics stay."""
        start = 0
        with frozen_bn_stats(model):
            for x, _ in batches:
                self.eta[start:start + len(x)] = F.normalize(model.f(x).float(), dim=1)
                start += len(x)
        self.seen[:start] = True

    def state_dict(self) -> dict:
        return {"eta": self.eta, "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        self.eta.copy_(state["eta"])
        self.seen.copy_(state["seen"])


def make_targets(cfg: Config, model: nn.Module, source, n_pairs: int, device, total_steps: int) -> SameNetwork:
    """The run's target provider, from target.momentum, target.eta and target.k_steps (one of them at most)."""
    k = cfg.target.k_steps or source.steps_per_epoch             # Sec. 5.2: 0 = one epoch
    if cfg.target.momentum > 0:
        return MomentumCopy(model, cfg, total_steps)
    if cfg.target.eta == "moving_average":
        return MovingAverageTargets(source.n_train, cfg.model.dim, cfg.target.eta_momentum, device,
                                    cfg.target.eta_init, cfg.run.precision)
    if k != 1:
        return KStepTargets(model, source, k, n_pairs, cfg, device)
    return SameNetwork()
