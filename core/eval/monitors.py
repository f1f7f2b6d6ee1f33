"""Monitors of Sec. 4.1 / Fig. 2: output std of the l2-normalized z, and the weighted kNN classifier."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def z_std(z: torch.Tensor) -> torch.Tensor:
    """Per-channel std of z/||z|| over the batch, averaged over channels (Fig. 2 middle).

    ~1/sqrt(d) for outputs spread on the sphere; 0 for a collapsed (constant) output. z: (B, d).
    """
    return F.normalize(z.detach().float(), dim=1).std(dim=0).mean()


def knn_predict(query: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, num_classes: int,
                k: int = 200, t: float = 0.2, chunk: int = 1024) -> torch.Tensor:
    """Weighted kNN (Wu et al. 2018, as described by the SimSiam author): cosine similarity of
    l2-normalized features, top-k neighbours each voting exp(sim / t) for its class.

    query: (Q, D), bank: (N, D), bank_labels: (N,) int64 -> predicted labels (Q,).
    """
    bank = F.normalize(bank.float(), dim=1)
    k = min(k, bank.shape[0])
    preds = []
    for q in F.normalize(query.float(), dim=1).split(chunk):
        sim, idx = (q @ bank.T).topk(k, dim=1)            # (q, k)
        votes = torch.zeros(q.shape[0], num_classes, device=q.device)
        votes.scatter_add_(1, bank_labels[idx], (sim / t).exp())
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds)


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * (pred == labels).float().mean().item()


def effective_rank(z: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Entropy-based effective rank (Roy & Vetterli 2007) of the covariance of z/||z|| over the batch.

    exp(H(p)) with p_i = lambda_i / sum(lambda) the normalized covariance eigenvalues: d for an isotropic
    output, 1 when all variance lies along one direction. Sees partial collapse (a few directions left)
    that the mean per-channel std hides. z: (B, d).
    """
    zn = F.normalize(z.detach().float(), dim=1)
    zn = zn - zn.mean(dim=0, keepdim=True)
    lam = torch.linalg.svdvals(zn) ** 2                      # covariance eigenvalues (up to 1/(B-1))
    p = lam / lam.sum().clamp_min(eps)
    return torch.exp(-(p * (p + eps).log()).sum())
