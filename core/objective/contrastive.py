"""The other methods' objectives of Sec. 6 (Fig. 3) as small pure functions, in the paper's notation.

p: the online branch's outputs (h(f(x)), or f(x) without a predictor), t: the target branch's (f(x), or a
momentum copy's), one row per image, (B, d) each; view 1 and view 2 of image i share row i.

InfoNCE (SimCLR's NT-Xent; MoCo): on l2-normalized rows, query p1_i, positive key t2_i, and negatives
  - in the batch (SimCLR): the other images' keys of both views, t2_j and t1_j for j != i (2B - 2 of them);
    with p = t (no predictor, same network) this is NT-Xent over the 2B views;
  - from a queue (MoCo): K keys of earlier steps.
  l(p1, t2) = -1/B sum_i log( exp(p1_i.t2_i / tau) / (exp(p1_i.t2_i / tau) + sum_n exp(p1_i.n / tau)) ).

SwAV (Caron et al. 2020), with the prototypes C (K, d) l2-normalized as the SimSiam paper's version
(footnote 8: weight-normalized prototypes with full gradient): scores s(x) = x/||x|| . C/||C|| (B, K);
codes q = Sinkhorn-Knopp(exp(s(t)/eps)), an assignment of the B images to the K prototypes in equal shares;
swapped prediction l(p1, q2) = -1/B sum_i sum_k q2_ik log softmax(s(p1_i)/tau)_k.
Every function here is differentiable: the stop-gradient is the caller's choice (core.objective.objectives).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def in_batch_logits(p1: torch.Tensor, t2: torch.Tensor, t1: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, 2B) logits of query p1_i against [t2_0..t2_{B-1}, t1_0..t1_{B-1}], t1_i masked out (-inf): the
    positive t2_i sits in column i."""
    q = F.normalize(p1, dim=1)
    keys = F.normalize(torch.cat([t2, t1]), dim=1)                  # (2B, d)
    logits = q @ keys.T / temperature                               # (B, 2B)
    b = q.shape[0]
    own = torch.eye(b, dtype=torch.bool, device=q.device)
    mask = torch.cat([torch.zeros_like(own), own], dim=1)         # p1_i's own image in the t1 half
    return logits.masked_fill(mask, float("-inf"))


def queue_logits(p1: torch.Tensor, t2: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, 1 + K) logits: column 0 the positive p1_i . t2_i, then p1_i against the K queued keys (K, d)."""
    q, k = F.normalize(p1, dim=1), F.normalize(t2, dim=1)
    positive = (q * k).sum(dim=1, keepdim=True)                     # (B, 1)
    return torch.cat([positive, q @ queue.T], dim=1) / temperature


def info_nce(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """-mean_i log softmax(logits_i)[positive_i]: cross-entropy with the positive's column as the label."""
    return F.cross_entropy(logits, positive)


def prototype_scores(x: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """s(x) = x/||x|| . C/||C||: cosine of each row (B, d) with each prototype (K, d) -> (B, K)."""
    return F.normalize(x, dim=1) @ F.normalize(prototypes, dim=1).T


def sinkhorn(scores: torch.Tensor, n_iters: int, epsilon: float) -> torch.Tensor:
    """SwAV's codes (B, K) from scores (B, K): Q = exp(scores/eps) as a (K, B) matrix of total mass 1, then
    n_iters times: scale each prototype's row to mass 1/K, each image's column to mass 1/B. Returned as B*Q^T,
    so each image's codes sum to 1 and each prototype receives B/K images in the limit. No in-place ops, so
    gradients can flow through it (Sec. 6.2, "remove stop-grad")."""
    Q = torch.exp(scores / epsilon).T                               # (K, B)
    Q = Q / Q.sum()
    K, B = Q.shape
    for _ in range(n_iters):
        Q = Q / Q.sum(dim=1, keepdim=True) / K                      # rows (prototypes): 1/K each
        Q = Q / Q.sum(dim=0, keepdim=True) / B                      # columns (images): 1/B each
    return (Q * B).T


def swapped_prediction(p: torch.Tensor, codes: torch.Tensor, prototypes: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """-1/B sum_i sum_k codes_ik log softmax(s(p_i)/tau)_k: the other view's codes predicted from p."""
    log_prob = F.log_softmax(prototype_scores(p, prototypes) / temperature, dim=1)
    return -(codes * log_prob).sum(dim=1).mean()
