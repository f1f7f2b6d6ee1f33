"""The targets' switches (core/objective/targets.py, Sec. 5.2): k-step alternation holds the targets fixed for k
steps, and the moving-average eta updates with momentum, normalized."""
import pytest
import torch

from core.model.simsiam import SimSiam
from core.objective.losses import simsiam_loss
from core.objective.targets import MovingAverageTargets, frozen_bn_stats, kstep_targets
from core.train.loop import train
from tests.conftest import tiny_config

QUIET = dict(log=lambda s: None)


def test_k1_targets_equal_the_plain_loss():
    cfg = tiny_config()
    torch.manual_seed(0)
    m = SimSiam(cfg.model, 1).train()
    x1, x2 = torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)
    with frozen_bn_stats(m):
        [[(t1, t2)]] = kstep_targets(m.f, [[(x1, x2)]])
    p1, p2, z1, z2 = m(x1, x2)
    assert torch.allclose(simsiam_loss(p1, p2, t1, t2), simsiam_loss(p1, p2, z1, z2))


def test_kstep_targets_leave_bn_running_stats_untouched():
    cfg = tiny_config()
    m = SimSiam(cfg.model, 1).train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with frozen_bn_stats(m):
        kstep_targets(m.f, [[(torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16))]])
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


@pytest.mark.slow
def test_kstep_holds_targets_fixed_for_exactly_k_steps(tmp_path, monkeypatch):
    calls = []
    import core.objective.targets as T
    real = T.kstep_targets
    monkeypatch.setattr(T, "kstep_targets", lambda f, steps: calls.append(len(steps)) or real(f, steps))
    cfg = tiny_config(target__k_steps=2, data__train_subset=192, optim__epochs=2)   # 6 steps per epoch
    train(cfg, tmp_path / "k2", {}, **QUIET)
    assert calls == [2] * 6                              # one block of targets every 2 steps
    # k = 1 takes the plain path and gives SimSiam's result exactly
    calls.clear()
    plain = train(tiny_config(), tmp_path / "plain", {}, **QUIET)
    k1 = train(tiny_config(target__k_steps=1), tmp_path / "k1", {}, **QUIET)
    assert calls == [] and plain["loss"] == k1["loss"]


@pytest.mark.slow
def test_kstep_changes_training_and_epoch_k_counts_blocks(tmp_path, monkeypatch):
    import core.objective.targets as T
    blocks = []
    real = T.kstep_targets
    monkeypatch.setattr(T, "kstep_targets", lambda f, steps: blocks.append(len(steps)) or real(f, steps))
    cfg = tiny_config(target__k_steps=0, data__train_subset=192, optim__epochs=2)  # k = one epoch
    r_epoch = train(cfg, tmp_path / "ke", {}, **QUIET)
    assert blocks == [6, 6]
    r_plain = train(tiny_config(data__train_subset=192, optim__epochs=2), tmp_path / "p", {}, **QUIET)
    assert r_epoch["loss"] != r_plain["loss"]


def test_moving_average_targets_update_with_momentum_and_are_normalized():
    ema = MovingAverageTargets(n_images=5, dim=3, momentum=0.8, device="cpu")
    idx = torch.tensor([1, 3])
    first = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    out = ema.update(idx, first, first)
    assert torch.allclose(out, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))   # first visit: the output
    second = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    out = ema.update(idx, second, second)
    expected = torch.nn.functional.normalize(torch.tensor([[0.8, 0.2, 0.0], [0.0, 1.0, 0.0]]), dim=1)
    assert torch.allclose(out, expected) and torch.allclose(ema.eta[idx], expected)
    assert ema.eta[0].abs().sum() == 0 and not ema.seen[0]


def test_moving_average_run_without_predictor(tmp_path):
    cfg = tiny_config(target__eta="moving_average", model__predictor="none")
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    assert result["status"] in ("ok", "collapsed")
    ck = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert ck["targets"]["seen"].sum() == 128
    assert torch.allclose(ck["targets"]["eta"].norm(dim=1), torch.ones(128), atol=1e-5)
