"""LARS (You et al. 2017): SGD with momentum whose per-layer step is scaled by a trust ratio.

For weights with more than one dimension: local_lr = trust * ||w|| / (||g|| + wd * ||w|| + eps), and the update
is the momentum SGD update of (g + wd * w) * local_lr. By default biases and BN parameters (1-D) get plain SGD
without the ratio, as is usual for large-batch pre-training (optim.optimizer: lars, eps 0). With
`ratio_on_1d=True, eps=1e-8` it is apex's LARC without clipping, which the official main_lincls.py wraps around
SGD for the paper's linear evaluation: every parameter, the fc bias included, gets the ratio once its norm and
its gradient's are non-zero.
"""
from __future__ import annotations

import torch


def trust_ratio(w: torch.Tensor, g: torch.Tensor, weight_decay: float, trust: float, eps: float = 0.0) -> torch.Tensor:
    """trust * ||w|| / (||g|| + wd ||w|| + eps), or 1 where either norm is 0."""
    w_norm, g_norm = w.norm(), g.norm()
    ratio = trust * w_norm / (g_norm + weight_decay * w_norm + eps)
    return torch.where((w_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio))


class LARS(torch.optim.Optimizer):
    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, trust: float = 0.001,
                 ratio_on_1d: bool = False, eps: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust=trust))
        # attributes, not group entries: the param groups (and so every checkpoint's optimizer state) stay as they were
        self.ratio_on_1d, self.eps = ratio_on_1d, eps

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if w.ndim > 1 or self.ratio_on_1d:
                    ratio = trust_ratio(w, g, group["weight_decay"], group["trust"], self.eps)  # eps 0: exact
                    g = (g + group["weight_decay"] * w) * ratio
                else:
                    g = g + group["weight_decay"] * w
                buf = self.state[w].get("momentum_buffer")
                if buf is None:
                    buf = self.state[w]["momentum_buffer"] = g.clone()
                else:
                    buf.mul_(group["momentum"]).add_(g)
                w.add_(buf, alpha=-group["lr"])
        return loss
