"""Linear evaluation on frozen backbone features (Sec. 3.3, simplified for cached features).

Features are extracted once with the backbone in eval mode; a linear classifier is trained on them with
SGD (momentum 0.9, cosine lr, no weight decay, as the official main_lincls.py). Features are standardized
with the training set's per-channel mean and std, the role BN plays in the paper's protocol. There is no
augmentation during the probe: this is the fast protocol of the CPU preset, and `result.json` says so.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.eval.monitors import accuracy
from core.optim.schedule import cosine_lr


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 num_classes: int, epochs: int, lr: float, batch_size: int, seed: int) -> float:
    """Train a linear classifier on (train_x, train_y) features; return test top-1 accuracy (%)."""
    mean, std = train_x.mean(dim=0), train_x.std(dim=0) + 1e-6
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    gen = torch.Generator(device="cpu").manual_seed(seed)
    w = torch.zeros(train_x.shape[1], num_classes, device=train_x.device, requires_grad=True)
    b = torch.zeros(num_classes, device=train_x.device, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=lr, momentum=0.9)
    n = train_x.shape[0]
    steps_per_epoch = max(n // batch_size, 1)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen).to(train_x.device)
        for i in range(steps_per_epoch):
            for g in opt.param_groups:
                g["lr"] = cosine_lr(lr, epoch + i / steps_per_epoch, epochs)
            idx = perm[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(train_x[idx] @ w + b, train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return accuracy((test_x @ w + b).argmax(dim=1), test_y)
