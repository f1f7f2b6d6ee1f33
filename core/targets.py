"""Targets of the Sec. 5.2 proof-of-concept runs (what p is pulled towards, in place of z).

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

import torch
import torch.nn as nn
import torch.nn.functional as F


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


class MovingAverageTargets:
    """Per-image eta table (N, d) on the device, l2-normalized; `seen` marks images with an entry."""

    def __init__(self, n_images: int, dim: int, momentum: float, device):
        self.eta = torch.zeros(n_images, dim, device=device)
        self.seen = torch.zeros(n_images, dtype=torch.bool, device=device)
        self.m = momentum

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
