"""LARS (You et al. 2017): SGD with momentum whose per-layer step is scaled by a trust ratio.

For weights with more than one dimension: local_lr = trust * ||w|| / (||g|| + wd * ||w|| + eps), and the update
is the momentum SGD update of (g + wd * w) * local_lr. By default biases and BN parameters (1-D) get plain SGD
without the ratio, as is usual for large-batch pre-training (optim.optimizer: lars, eps 0); where ||w|| or ||g||
is 0 the ratio is 1 and the weight decay is still added.
With `larc=True, eps=1e-8` it is apex's LARC without clipping, which the official main_lincls.py wraps around
SGD for the paper's linear evaluation: every parameter, the fc bias included, gets the ratio, and a parameter
whose norm or whose gradient's norm is 0 gets its gradient unchanged, without the ratio and without weight
decay (LARC adds wd * w only inside its `param_norm != 0 and grad_norm != 0` branch). At a zero weight wd * w is
0 anyway; the case that differs is a zero gradient, where LARC leaves the weight alone instead of decaying it.
"""
from __future__ import annotations

import torch


def trust_ratio(w: torch.Tensor, g: torch.Tensor, weight_decay: float, trust: float, eps: float = 0.0) -> torch.Tensor:
    """trust * ||w|| / (||g|| + wd ||w|| + eps), or 1 where either norm is 0."""
    w_norm, g_norm = w.norm(), g.norm()
    ratio = trust * w_norm / (g_norm + weight_decay * w_norm + eps)
    return torch.where((w_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio))


def larc_gradient(w: torch.Tensor, g: torch.Tensor, weight_decay: float, trust: float, eps: float) -> torch.Tensor:
    """apex LARC's gradient: (g + wd w) * trust ||w|| / (||g|| + wd ||w|| + eps) where both norms are non-zero,
    else g unchanged (no ratio, no weight decay). A tensor op, not a branch: no host sync."""
    w_norm, g_norm = w.norm(), g.norm()
    ratio = trust * w_norm / (g_norm + weight_decay * w_norm + eps)
    return torch.where((w_norm > 0) & (g_norm > 0), (g + weight_decay * w) * ratio, g)


class LARS(torch.optim.Optimizer):
    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, trust: float = 0.001,
                 larc: bool = False, eps: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust=trust))
        # attributes, not group entries: the param groups (and so every checkpoint's optimizer state) stay as they were
        self.larc, self.eps = larc, eps

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if self.larc:
                    g = larc_gradient(w, g, group["weight_decay"], group["trust"], self.eps)
                elif w.ndim > 1:
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
