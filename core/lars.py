"""LARS (You et al. 2017): SGD with momentum whose per-layer step is scaled by a trust ratio.

For weights with more than one dimension: local_lr = trust * ||w|| / (||g|| + wd * ||w||), and the update
is the momentum SGD update of (g + wd * w) * local_lr. Biases and BN parameters (1-D) get plain SGD without
the ratio, as is usual for SimSiam-style linear evaluation and large-batch pre-training.
"""
from __future__ import annotations

import torch


def trust_ratio(w: torch.Tensor, g: torch.Tensor, weight_decay: float, trust: float) -> torch.Tensor:
    """trust * ||w|| / (||g|| + wd ||w||), or 1 where either norm is 0."""
    w_norm, g_norm = w.norm(), g.norm()
    ratio = trust * w_norm / (g_norm + weight_decay * w_norm)
    return torch.where((w_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio))


class LARS(torch.optim.Optimizer):
    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, trust: float = 0.001):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust=trust))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if w.ndim > 1:
                    g = (g + group["weight_decay"] * w) * trust_ratio(w, g, group["weight_decay"], group["trust"])
                else:
                    g = g + group["weight_decay"] * w
                buf = self.state[w].get("momentum_buffer")
                if buf is None:
                    buf = self.state[w]["momentum_buffer"] = g.clone()
                else:
                    buf.mul_(group["momentum"]).add_(g)
                w.add_(buf, alpha=-group["lr"])
        return loss
