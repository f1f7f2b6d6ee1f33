"""The similarity and symmetrization switches (core/objective/losses.py, Sec. 4.5 and 4.6): cross-entropy against
its hand computation, the asymmetric loss's one term and asym. 2x's two independent pairs of views."""
import itertools

import torch

from core.data.batches import make_source
from core.objective.losses import cross_entropy_similarity, negative_cosine, simsiam_loss
from tests.conftest import tiny_config


def test_cross_entropy_matches_hand_computation_and_keeps_stop_grad():
    p = torch.tensor([[0.0, 1.0]])
    z = torch.tensor([[1.0, 0.0]])
    sz = torch.tensor([1.0, 0.0]).exp() / (1 + torch.e)      # softmax(z)
    log_sp = torch.log(torch.tensor([1.0, torch.e]) / (1 + torch.e))
    assert torch.allclose(cross_entropy_similarity(p, z), -(sz * log_sp).sum())
    p1, p2, z1, z2 = (torch.randn(4, 6, requires_grad=True) for _ in range(4))
    simsiam_loss(p1, p2, z1, z2, similarity="cross_entropy").backward()
    assert z1.grad is None and z2.grad is None and p1.grad is not None


def test_asym_has_one_term_and_asym2x_draws_two_independent_pairs():
    p1, p2, z1, z2 = (torch.randn(4, 8) for _ in range(4))
    assert torch.allclose(simsiam_loss(p1, p2, z1, z2, symmetric=False), negative_cosine(p1, z2))
    cfg = tiny_config()
    source = make_source(cfg, torch.device("cpu"), n_pairs=2)
    pairs, idx = next(source.train_epoch(0, 0, n_pairs=2))
    assert len(pairs) == 2 and len(idx) == cfg.optim.batch_size
    views = [v for pair in pairs for v in pair]
    for a, b in itertools.combinations(views, 2):       # same images, four different draws
        assert not torch.allclose(a, b)
    one_pair, idx1 = next(source.train_epoch(0, 0, n_pairs=1))
    assert torch.equal(idx, idx1) and torch.equal(one_pair[0][0], pairs[0][0])
