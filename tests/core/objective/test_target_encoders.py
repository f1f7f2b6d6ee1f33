"""The target encoder (same network / momentum copy), the shared training step, and whole runs of each Sec. 6
method on the tiny synthetic set."""
import copy
import json

import pytest
import torch

from core.data.batches import make_source
from core.model.simsiam import SimSiam, build_model
from core.objective.losses import simsiam_loss
from core.objective.objectives import Similarity, make_objective
from core.objective.targets import KStepTargets, MomentumCopy, MovingAverageTargets, SameNetwork, make_targets
from core.optim.optimizer import build_optimizer
from core.optim.schedule import momentum_at
from core.train.loop import train
from core.train.step import train_step
from tests.conftest import tiny_config

QUIET = dict(log=lambda s: None)
X = torch.Generator().manual_seed(0)
VIEWS = (torch.randn(8, 1, 16, 16, generator=X), torch.randn(8, 1, 16, 16, generator=X))
IDX = torch.arange(8)


def test_momentum_schedules_constant_and_byol_cosine_from_base_to_one():
    assert momentum_at(0.99, 0, 100) == momentum_at(0.99, 70, 100) == 0.99
    assert momentum_at(0.99, 0, 100, "cosine") == pytest.approx(0.99)
    assert momentum_at(0.99, 50, 100, "cosine") == pytest.approx(0.995)
    assert momentum_at(0.99, 100, 100, "cosine") == pytest.approx(1.0)


def test_momentum_update_is_exactly_m_theta_m_plus_one_minus_m_theta():
    cfg = tiny_config(target__momentum=0.9)
    torch.manual_seed(0)
    model = SimSiam(cfg.model, 1)
    provider = MomentumCopy(model, cfg, total_steps=10)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))                            # the online network moved by a "step"
    old = [p.clone() for p in provider.copy.parameters()]
    online = list(model.backbone.parameters()) + list(model.projector.parameters())
    provider.after_step(3)
    for p_m, p_old, p in zip(provider.copy.parameters(), old, online):
        assert torch.equal(p_m, p_old * 0.9 + p * (1 - 0.9))
    assert len(old) == len(online) and not any(torch.equal(a, b) for a, b in zip(old, online) if a.numel() > 1)


def test_momentum_copy_gets_no_gradient_and_is_not_in_the_optimizer():
    cfg = tiny_config(target__momentum=0.99)
    torch.manual_seed(0)
    model = build_model(cfg, 1)
    optimizer = build_optimizer(cfg, model, 0.1)
    provider = make_targets(cfg, model, None, 1, "cpu", 10)
    assert isinstance(provider, MomentumCopy)
    copy_ids = {id(p) for p in provider.copy.parameters()}
    assert not copy_ids & {id(p) for g in optimizer.param_groups for p in g["params"]}
    before = copy.deepcopy(provider.copy.state_dict())
    train_step(model, optimizer, [VIEWS], IDX, provider, Similarity(cfg), cfg.run, 0)
    assert all(p.grad is None and not p.requires_grad for p in provider.copy.parameters())
    moved = [k for k, v in provider.copy.state_dict().items() if not torch.equal(v, before[k])]
    assert any("weight" in k for k in moved)                       # the copy moved, by the average only


def test_a_momentum_copy_at_m_0_is_the_same_network_bit_for_bit():
    """Sec. 6.2: SimSiam is BYOL without the momentum encoder. A copy averaged with m = 0 holds the online
    weights after every step and its targets are z itself; the config's m = 0 builds no copy at all."""
    cfg = tiny_config()
    assert isinstance(make_targets(cfg, None, _Source(), 1, "cpu", 10), SameNetwork)
    torch.manual_seed(0)
    model = SimSiam(cfg.model, 1).train()
    provider = MomentumCopy(model, cfg, total_steps=10)            # cfg.target.momentum == 0
    optimizer = build_optimizer(cfg, model, 0.1)
    train_step(model, optimizer, [VIEWS], IDX, provider, Similarity(cfg), cfg.run, 0)
    online = list(model.backbone.parameters()) + list(model.projector.parameters())
    assert all(torch.equal(a, b) for a, b in zip(provider.copy.parameters(), online))
    t1, t2 = provider(0, IDX, *VIEWS, None, None)
    with torch.no_grad():
        z1, z2 = model.f(VIEWS[0]), model.f(VIEWS[1])
    assert torch.equal(t1, z1) and torch.equal(t2, z2)


class _Source:
    steps_per_epoch, n_train = 4, 128


def test_make_targets_picks_one_provider_per_config():
    src = _Source()
    model = SimSiam(tiny_config().model, 1)
    assert type(make_targets(tiny_config(), model, src, 1, "cpu", 8)) is SameNetwork
    assert type(make_targets(tiny_config(target__k_steps=2), model, src, 1, "cpu", 8)) is KStepTargets
    targets = make_targets(tiny_config(target__eta="moving_average"), model, src, 1, "cpu", 8)
    assert type(targets) is MovingAverageTargets
    assert type(make_targets(tiny_config(target__momentum=0.5), model, src, 1, "cpu", 8)) is MomentumCopy


def test_the_shared_step_is_todays_simsiam_step_bit_for_bit():
    """Same network, no negatives: one train_step changes the weights exactly as the step before Sec. 6 did."""
    cfg = tiny_config()
    torch.manual_seed(0)
    ours = SimSiam(cfg.model, 1).train()
    today = copy.deepcopy(ours)
    opt_ours, opt_today = build_optimizer(cfg, ours, 0.1), build_optimizer(cfg, today, 0.1)
    out = train_step(ours, opt_ours, [VIEWS], IDX, SameNetwork(), make_objective(cfg, ours, "cpu"), cfg.run, 0)
    p1, p2, z1, z2 = today(*VIEWS)
    loss = simsiam_loss(p1, p2, z1, z2)
    opt_today.zero_grad(set_to_none=True)
    loss.backward()
    opt_today.step()
    assert torch.equal(out.stats[0], loss.detach().double())
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), today.state_dict().values()))


METHOD_RUNS = {
    "simclr": dict(loss__objective="infonce", loss__negatives="batch", model__predictor="none", model__stop_grad=False),
    "moco_v2": dict(loss__objective="infonce", loss__negatives="queue", loss__queue_size=96, loss__temperature=0.2,
                    target__momentum=0.9, model__predictor="none"),
    "byol": dict(target__momentum=0.9, target__momentum_schedule="cosine"),
    "swav": dict(loss__objective="swav", loss__prototypes=10, model__predictor="none"),
    "swav-no-stop-grad": dict(loss__objective="swav", loss__prototypes=10, model__predictor="none",
                              model__stop_grad=False),
}


@pytest.mark.parametrize("name", list(METHOD_RUNS))
def test_each_method_trains_and_resumes_from_its_checkpoint_exactly(name, tmp_path):
    """Runs end with a status; a run resumed from the end of epoch 1 (prev.pt) reaches the same result, so the
    momentum copy and the queue are checkpointed with the model."""
    cfg = tiny_config(**METHOD_RUNS[name])
    ref = train(cfg, tmp_path / "ref", {}, **QUIET)
    assert ref["status"] in ("ok", "near-collapse", "collapsed", "diverged"), ref
    if ref["status"] == "diverged":
        return
    run = tmp_path / "r"
    train(cfg, run, {}, **QUIET)
    (run / "result.json").unlink()
    (run / "last.pt").unlink()                                     # prev.pt: the end of epoch 1
    resumed = train(cfg, run, {}, **QUIET)
    drop = ("wall_s", "train_s")
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in ref.items() if k not in drop}


def test_swav_with_prototypes_in_the_encoder_group_and_a_nan_ends_as_diverged(tmp_path):
    cfg = tiny_config(loss__objective="swav", loss__prototypes=10, model__predictor="none")
    model = build_model(cfg, 1)
    assert model.prototypes.shape == (10, 16)
    assert any(p is model.prototypes for p in build_optimizer(cfg, model, 0.1).param_groups[0]["params"])
    assert not hasattr(build_model(tiny_config(), 1), "prototypes")
    bad = tiny_config(loss__objective="swav", loss__prototypes=10, model__predictor="none", loss__sinkhorn_epsilon=1e-5)
    result = train(bad, tmp_path / "nan", {}, **QUIET)              # exp(score / eps) overflows: NaN, not a crash
    assert result["status"] == "diverged"
    assert json.loads((tmp_path / "nan" / "result.json").read_text())["status"] == "diverged"


def test_a_queue_not_smaller_than_the_training_set_fails_the_run_with_the_reason(tmp_path):
    cfg = tiny_config(loss__objective="infonce", loss__negatives="queue", loss__queue_size=128)
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    assert result["status"] == "failed" and "loss.queue_size 128" in result["reason"]


def test_kstep_provider_caches_targets_of_the_coming_steps_only_at_block_starts():
    cfg = tiny_config(target__k_steps=2, data__train_subset=192)
    torch.manual_seed(0)
    model = SimSiam(cfg.model, 1).train()
    source = make_source(cfg, torch.device("cpu"))
    provider = make_targets(cfg, model, source, 1, "cpu", 12)
    provider.begin(0, 0)
    first = provider.cached
    provider.begin(0, 1)
    assert provider.cached is first and len(first) == 2
    provider.begin(0, 2)
    assert provider.cached is not first
