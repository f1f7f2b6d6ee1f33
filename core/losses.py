"""SimSiam loss (Sec. 3, Eq. 1-4). `stop_grad` (Fig. 2) is read here and nowhere else."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """D(p, z) = -(p/||p||) . (z/||z||), averaged over the batch (Eq. 1). p, z: (B, d)."""
    return -(F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(dim=1).mean()


def simsiam_loss(p1, p2, z1, z2, stop_grad: bool = True, symmetric: bool = True) -> torch.Tensor:
    """L = D(p1, sg(z2))/2 + D(p2, sg(z1))/2 (Eq. 4); `symmetric=False` gives D(p1, sg(z2)) (Eq. 3)."""
    if stop_grad:
        z1, z2 = z1.detach(), z2.detach()
    if not symmetric:
        return negative_cosine(p1, z2)
    return 0.5 * negative_cosine(p1, z2) + 0.5 * negative_cosine(p2, z1)
