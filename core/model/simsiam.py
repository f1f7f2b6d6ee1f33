"""SimSiam (Sec. 3): encoder f = backbone + projection MLP, prediction MLP h.

    z1, z2 = f(x1), f(x2)     # (B, d)
    p1, p2 = h(z1), h(z2)     # (B, d)

Projection MLP (Sec. 3): BN on every fc layer including the output fc; the output fc has no ReLU;
`proj_layers` fc layers (3 for ImageNet, 2 for CIFAR, App. D). Prediction MLP: d -> pred_hidden (BN, ReLU)
-> d, no BN on its output. Where BN sits is Table 3's ablation (model.proj_bn_hidden, proj_bn_out,
pred_bn_hidden, pred_bn_out), with the affine of f's output BN as model.proj_out_affine; an fc layer not
followed by BN gets a bias. Which h is used is Table 1's ablation (model.predictor): a trained MLP, none
(h = identity), or an MLP frozen at its random initialization. SwAV runs (loss.objective: swav) also hold the
prototypes C (K, d), part of the encoder as in the SimSiam paper's SwAV (footnote 8).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from core.config.hyperparameters import Config, ModelConfig
from core.model.backbones import build_backbone


def fc_bn(d_in: int, d_out: int, bn: bool, relu: bool, affine: bool = True) -> list[nn.Module]:
    """Linear (bias only when no BN follows), optional BatchNorm1d, optional ReLU."""
    mods: list[nn.Module] = [nn.Linear(d_in, d_out, bias=not bn)]
    if bn:
        mods.append(nn.BatchNorm1d(d_out, affine=affine))
    if relu:
        mods.append(nn.ReLU(inplace=True))
    return mods


def projection_mlp(in_dim: int, cfg: ModelConfig) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(cfg.proj_layers - 1):
        mods += fc_bn(d, cfg.proj_hidden, cfg.proj_bn_hidden, relu=True)
        d = cfg.proj_hidden
    mods += fc_bn(d, cfg.dim, cfg.proj_bn_out, relu=False, affine=cfg.proj_out_affine)
    return nn.Sequential(*mods)


def prediction_mlp(cfg: ModelConfig) -> nn.Module:
    if cfg.predictor == "none":                                  # Table 1a: p = z
        return nn.Identity()
    h = nn.Sequential(*fc_bn(cfg.dim, cfg.pred_hidden, cfg.pred_bn_hidden, relu=True),
                      *fc_bn(cfg.pred_hidden, cfg.dim, cfg.pred_bn_out, relu=False))
    if cfg.predictor == "frozen":                                # Table 1b: fixed random init, never updated
        h.requires_grad_(False)
    return h


class SimSiam(nn.Module):
    def __init__(self, cfg: ModelConfig, in_channels: int, prototypes: int = 0):
        super().__init__()
        self.backbone, self.feature_dim = build_backbone(cfg, in_channels)
        self.projector = projection_mlp(self.feature_dim, cfg)
        self.h = prediction_mlp(cfg)
        if prototypes:                                           # created last: the other inits draw as before
            self.prototypes = nn.Linear(cfg.dim, prototypes, bias=False).weight    # C: (K, d), SwAV's init

    def f(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone(x))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor):
        # two separate passes, as the official code: BN statistics are per view
        z1, z2 = self.f(x1), self.f(x2)
        p1, p2 = self.h(z1), self.h(z2)
        return p1, p2, z1, z2

    def encoder_parameters(self) -> list[nn.Parameter]:
        """f's parameters, and the SwAV prototypes where there are some."""
        protos = [self.prototypes] if hasattr(self, "prototypes") else []
        return list(self.backbone.parameters()) + list(self.projector.parameters()) + protos

    def predictor_parameters(self) -> list[nn.Parameter]:
        """The trainable parameters of h (none for an identity or frozen h)."""
        return [p for p in self.h.parameters() if p.requires_grad]


def build_model(cfg: Config, in_channels: int) -> SimSiam:
    """The run's model: SimSiam's f and h, plus SwAV's prototypes when loss.objective is swav."""
    return SimSiam(cfg.model, in_channels, cfg.loss.prototypes if cfg.loss.objective == "swav" else 0)
