"""SimSiam loss (Sec. 3, Eq. 1-4) with its ablations as arguments: stop-gradient (Fig. 2), the similarity
function (Sec. 4.5) and symmetrization (Sec. 4.6). The trainer passes the config fields in one place."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """D(p, z) = -(p/||p||) . (z/||z||), averaged over the batch (Eq. 1). p, z: (B, d)."""
    return -(F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(dim=1).mean()


def cross_entropy_similarity(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """D(p, z) = -softmax(z) . log softmax(p), softmax over the d channels, averaged over the batch (Sec. 4.5)."""
    return -(F.softmax(z, dim=1) * F.log_softmax(p, dim=1)).sum(dim=1).mean()


SIMILARITIES = {"cosine": negative_cosine, "cross_entropy": cross_entropy_similarity}


def simsiam_loss(p1, p2, z1, z2, stop_grad: bool = True, similarity: str = "cosine",
                 symmetric: bool = True) -> torch.Tensor:
    """L = D(p1, sg(z2))/2 + D(p2, sg(z1))/2 (Eq. 4) for one view pair; `symmetric=False`: D(p1, sg(z2)) (Eq. 3)."""
    D = SIMILARITIES[similarity]
    if stop_grad:
        z1, z2 = z1.detach(), z2.detach()
    if not symmetric:
        return D(p1, z2)
    return 0.5 * D(p1, z2) + 0.5 * D(p2, z1)
