"""SimSiam (Sec. 3): encoder f = backbone + projection MLP, prediction MLP h.

    z1, z2 = f(x1), f(x2)     # (B, d)
    p1, p2 = h(z1), h(z2)     # (B, d)

Projection MLP (Sec. 3): BN on every fc layer including the output fc; the output fc has no ReLU;
`proj_layers` fc layers (3 for ImageNet, 2 for CIFAR, App. D). Its output BN's affine is
`model.proj_out_affine` (Table 3c; the official code uses affine=False).
Prediction MLP (Sec. 3): d -> pred_hidden (BN, ReLU) -> d, no BN on the output.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from core.backbones import build_backbone
from core.config import ModelConfig


def projection_mlp(in_dim: int, hidden: int, out_dim: int, layers: int, out_affine: bool) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        d = hidden
    mods += [nn.Linear(d, out_dim, bias=False), nn.BatchNorm1d(out_dim, affine=out_affine)]
    return nn.Sequential(*mods)


def prediction_mlp(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, dim))


class SimSiam(nn.Module):
    def __init__(self, cfg: ModelConfig, in_channels: int):
        super().__init__()
        self.backbone, self.feature_dim = build_backbone(cfg, in_channels)
        self.projector = projection_mlp(self.feature_dim, cfg.proj_hidden, cfg.dim, cfg.proj_layers, cfg.proj_out_affine)
        self.h = prediction_mlp(cfg.dim, cfg.pred_hidden)

    def f(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone(x))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor):
        # two separate passes, as the official code: BN statistics are per view
        z1, z2 = self.f(x1), self.f(x2)
        p1, p2 = self.h(z1), self.h(z2)
        return p1, p2, z1, z2

    def encoder_parameters(self):
        return list(self.backbone.parameters()) + list(self.projector.parameters())

    def predictor_parameters(self):
        return list(self.h.parameters())
