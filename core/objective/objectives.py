"""The objective of one training step (Sec. 6, Fig. 3): what the loss of a view pair is, given p1, p2 (online
branch) and t1, t2 (what the target provider returned for z1, z2).

    similarity   SimSiam / BYOL: D(p1, sg(t2))/2 + D(p2, sg(t1))/2 (Eq. 4, core.objective.losses.simsiam_loss)
    infonce      SimCLR (negatives: batch) / MoCo (negatives: queue): InfoNCE of query p against key t
    swav         SwAV: each view's prototype scores predict the other view's Sinkhorn-Knopp codes

Symmetrization (loss.symmetry) and stop-gradient (model.stop_grad) mean the same for all three: sym is the
mean of the two swapped terms, asym the first alone; with stop-gradient the target branch t (and, for SwAV,
the Sinkhorn-Knopp codes computed from it) is a constant. Footnote 7: with a predictor, it sits on the query
branch and the stop-gradient on the other, symmetrized by swapping the views.

An objective with state (the MoCo queue) takes the step's keys in `after_step`, after the optimizer step,
so a step's own keys are never its negatives.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.config.hyperparameters import Config
from core.objective import contrastive as nce
from core.objective.losses import simsiam_loss


class Objective:
    """What every objective reads (model.stop_grad, loss.symmetry) and its hooks, no-ops unless it has state."""

    def __init__(self, cfg: Config):
        self.stop_grad, self.symmetric = cfg.model.stop_grad, cfg.loss.symmetry == "sym"

    def after_step(self) -> None:
        pass

    def state_dict(self) -> dict | None:
        return None

    def load_state_dict(self, state) -> None:
        pass


class Similarity(Objective):
    """D-based loss of SimSiam and BYOL (loss.similarity, loss.symmetry, model.stop_grad)."""

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.similarity = cfg.loss.similarity

    def __call__(self, p1, p2, t1, t2) -> torch.Tensor:
        return simsiam_loss(p1, p2, t1, t2, self.stop_grad, self.similarity, self.symmetric)


class KeyQueue:
    """MoCo's dictionary: the K most recent keys (K, d), l2-normalized, oldest overwritten first. It starts as
    random unit vectors (as MoCo's code) drawn from its own generator, so the run's other draws are unchanged."""

    def __init__(self, size: int, dim: int, seed: int, device):
        g = torch.Generator().manual_seed(seed)
        self.keys = F.normalize(torch.randn(size, dim, generator=g), dim=1).to(device)
        self.ptr = 0                                                 # next row to overwrite (a host int: no sync)

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        """Write `keys` (n, d) over the n oldest entries (FIFO, wrapping around the end)."""
        n, size = keys.shape[0], self.keys.shape[0]
        rows = (self.ptr + torch.arange(n, device=self.keys.device)) % size
        self.keys.index_copy_(0, rows, F.normalize(keys.detach().float(), dim=1))
        self.ptr = (self.ptr + n) % size

    def state_dict(self) -> dict:
        return {"keys": self.keys, "ptr": self.ptr}

    def load_state_dict(self, state: dict) -> None:
        self.keys.copy_(state["keys"])
        self.ptr = int(state["ptr"])


class InfoNCE(Objective):
    """SimCLR's NT-Xent (in-batch negatives) or MoCo's InfoNCE against a queue (loss.negatives)."""

    def __init__(self, cfg: Config, device):
        super().__init__(cfg)
        self.tau = cfg.loss.temperature
        self.queue = (KeyQueue(cfg.loss.queue_size, cfg.model.dim, cfg.run.seed, device)
                      if cfg.loss.negatives == "queue" else None)
        self.pending: list[torch.Tensor] = []

    def term(self, p: torch.Tensor, t: torch.Tensor, t_same: torch.Tensor) -> torch.Tensor:
        """InfoNCE of queries p (B, d) against positives t (B, d); t_same: the query view's own targets."""
        if self.queue is None:
            logits = nce.in_batch_logits(p, t, t_same, self.tau)
            positive = torch.arange(p.shape[0], device=p.device)
        else:
            logits = nce.queue_logits(p, t, self.queue.keys, self.tau)
            positive = torch.zeros(p.shape[0], dtype=torch.long, device=p.device)
            self.pending.append(t)
        return nce.info_nce(logits, positive)

    def __call__(self, p1, p2, t1, t2) -> torch.Tensor:
        if self.stop_grad:
            t1, t2 = t1.detach(), t2.detach()
        if not self.symmetric:
            return self.term(p1, t2, t1)
        return 0.5 * self.term(p1, t2, t1) + 0.5 * self.term(p2, t1, t2)

    def after_step(self) -> None:
        if self.queue is not None and self.pending:
            self.queue.push(torch.cat(self.pending))
        self.pending = []

    def state_dict(self) -> dict | None:
        return self.queue.state_dict() if self.queue is not None else None

    def load_state_dict(self, state) -> None:
        if self.queue is not None:
            self.queue.load_state_dict(state)


class SwappedPrediction(Objective):
    """SwAV's swapped prediction with the model's prototypes C (model.prototypes, trained with the encoder)."""

    def __init__(self, cfg: Config, prototypes: torch.nn.Parameter):
        super().__init__(cfg)
        self.C, self.tau = prototypes, cfg.loss.temperature
        self.iters, self.eps = cfg.loss.sinkhorn_iters, cfg.loss.sinkhorn_epsilon

    def codes(self, t: torch.Tensor) -> torch.Tensor:
        """Sinkhorn-Knopp codes of the targets t: constants under stop-gradient (SwAV), else differentiable."""
        if self.stop_grad:
            with torch.no_grad():
                return nce.sinkhorn(nce.prototype_scores(t, self.C), self.iters, self.eps)
        return nce.sinkhorn(nce.prototype_scores(t, self.C), self.iters, self.eps)

    def __call__(self, p1, p2, t1, t2) -> torch.Tensor:
        first = nce.swapped_prediction(p1, self.codes(t2), self.C, self.tau)
        if not self.symmetric:
            return first
        return 0.5 * first + 0.5 * nce.swapped_prediction(p2, self.codes(t1), self.C, self.tau)


def make_objective(cfg: Config, model, device) -> Objective:
    """The objective loss.objective names, built once per run."""
    if cfg.loss.objective == "infonce":
        return InfoNCE(cfg, device)
    if cfg.loss.objective == "swav":
        return SwappedPrediction(cfg, model.prototypes)
    return Similarity(cfg)
