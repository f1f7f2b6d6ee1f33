"""Backbones: the part of f whose pooled output ("pool5") feeds the projector and the kNN monitor.

- `small_resnet`: a narrow ResNet for the CPU preset (3x3 stem, no max-pool, `blocks` basic blocks per stage).
- `cifar_resnet18`: ResNet-18 with a 3x3 stride-1 stem and no max-pool (paper App. D).
- `resnet50`: torchvision's ResNet-50 (Sec. 3), zero-init residual as in the official code.
Each returns (module, feature_dim); the module maps (B, C, H, W) -> (B, feature_dim).
"""
from __future__ import annotations

import torch.nn as nn
import torchvision

from core.config.hyperparameters import ModelConfig


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def small_resnet(in_channels: int, width: int, blocks: int, zero_init_residual: bool) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                               nn.ReLU(inplace=True)]
    c_in = width
    for stage in range(4):  # widths w, 2w, 4w, 8w; strides 1, 2, 2, 2
        c_out = width * 2 ** stage
        for b in range(blocks):
            layers.append(BasicBlock(c_in, c_out, stride=2 if (stage > 0 and b == 0) else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    net = nn.Sequential(*layers)
    if zero_init_residual:
        for m in net.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)
    return net, c_in


def _torchvision_trunk(net: nn.Module, in_channels: int, cifar_stem: bool) -> tuple[nn.Module, int]:
    if cifar_stem:  # App. D: 3x3 conv1, stride 1, no max-pool
        net.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def build_backbone(cfg: ModelConfig, in_channels: int) -> tuple[nn.Module, int]:
    if cfg.backbone == "small_resnet":
        return small_resnet(in_channels, cfg.small_width, cfg.small_blocks, cfg.zero_init_residual)
    if cfg.backbone == "cifar_resnet18":
        net = torchvision.models.resnet18(zero_init_residual=cfg.zero_init_residual)
        return _torchvision_trunk(net, in_channels, cifar_stem=True)
    if cfg.backbone == "resnet50":
        net = torchvision.models.resnet50(zero_init_residual=cfg.zero_init_residual)
        return _torchvision_trunk(net, in_channels, cifar_stem=False)
    raise ValueError(f"unknown backbone {cfg.backbone}")  # unreachable: config validates the choice
