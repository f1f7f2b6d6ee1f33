import math

import pytest
import torch

from core.eval.monitors import accuracy, knn_predict, z_std


def test_z_std_of_collapsed_output_is_zero():
    z = torch.randn(1, 64).repeat(100, 1)
    assert z_std(z).item() < 1e-6


def test_z_std_of_isotropic_gaussian_is_one_over_sqrt_d():
    torch.manual_seed(0)
    for d in (64, 512):
        z = torch.randn(4096, d)
        assert abs(z_std(z).item() - 1 / math.sqrt(d)) < 0.03 / math.sqrt(d)


def test_z_std_ignores_scale_of_z():
    torch.manual_seed(0)
    z = torch.randn(256, 32)
    assert torch.allclose(z_std(z), z_std(z * 10))


def test_knn_separable_clusters():
    torch.manual_seed(0)
    centers = torch.eye(3) * 5
    bank_y = torch.arange(3).repeat_interleave(20)
    bank = centers[bank_y] + 0.1 * torch.randn(60, 3)
    q_y = torch.tensor([0, 1, 2, 2])
    query = centers[q_y] + 0.1 * torch.randn(4, 3)
    assert accuracy(knn_predict(query, bank, bank_y, 3, k=10, t=0.2), q_y) == 100.0


def test_knn_weights_votes_by_exp_similarity():
    # one query; two neighbours of class 1 at similarity 0.0, one of class 0 at similarity 1.0.
    # exp(1/t) vs 2*exp(0): with t=0.2 the single close neighbour wins; with t=10 the two far ones win.
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    q = torch.tensor([[1.0, 0.0]])
    assert knn_predict(q, bank, labels, 2, k=3, t=0.2).item() == 0
    assert knn_predict(q, bank, labels, 2, k=3, t=10.0).item() == 1
    assert knn_predict(q, bank, labels, 2, k=1, t=10.0).item() == 0  # only the nearest votes


def test_effective_rank_isotropic_is_near_d_and_rank_one_is_near_one():
    from core.eval.monitors import effective_rank
    torch.manual_seed(0)
    d = 32
    iso = torch.randn(4096, d)
    assert effective_rank(iso).item() > 0.95 * d
    direction = torch.randn(1, d)
    rank1 = torch.randn(4096, 1) * direction + 5 * torch.randn(1, d)   # one direction of variance around a mean
    assert effective_rank(rank1).item() < 1.3      # normalization bends the line slightly
    two = torch.cat([torch.randn(2048, 2), torch.zeros(2048, d - 2)], dim=1) + 3.0
    assert 1.8 < effective_rank(two).item() < 2.2


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_monitor_computes_the_same_bits_at_any_batch(channels_last):
    """Issue 34: the kNN monitor's features, kNN predictions and logged values are the same bits at 4a8f308's batches
    (1024 images a forward pass, 1024 queries a kNN chunk; this code keeps them) and at smaller and uneven ones:
    each image's features and each query's votes are computed alone, so a batch is free to change."""
    from core.data.batches import make_source
    from core.eval.frozen_backbone import features, knn_accuracy, monitor
    from core.model.simsiam import build_model
    from core.runtime import precision
    from tests.conftest import tiny_config
    cfg = tiny_config(data__train_subset=300, data__test_subset=100, run__channels_last=channels_last)
    torch.manual_seed(0)
    source = make_source(cfg, torch.device("cpu"))
    backbone = precision.prepare_model(build_model(cfg, source.channels), cfg.run).backbone
    old = features(backbone, source, 1024)
    for batch in (None, 256, 64, 7):                               # None: the code's own
        new = features(backbone, source, batch)
        assert all(torch.equal(a, b) for a, b in zip(old.__dict__.values(), new.__dict__.values())), batch
    old_pred = knn_predict(old.query, old.bank, old.bank_y, 10, cfg.eval.knn_k, cfg.eval.knn_t, chunk=1024)
    for chunk in (256, 33, 1):
        assert torch.equal(knn_predict(old.query, old.bank, old.bank_y, 10, cfg.eval.knn_k, cfg.eval.knn_t, chunk),
                           old_pred), chunk
        assert knn_accuracy(old, 10, cfg.eval, chunk) == knn_accuracy(old, 10, cfg.eval, 1024)
    assert monitor(old, 10, cfg.eval) == monitor(old, 10, cfg.eval, 1024)
