"""What each ablation switch does (issue: every ablation of the paper as a switch), on tiny tensors and steps."""
import itertools

import pytest
import torch
import torch.nn as nn

from core.data.batches import make_source
from core.model.simsiam import SimSiam
from core.objective.losses import cross_entropy_similarity, negative_cosine, simsiam_loss
from core.objective.targets import MovingAverageTargets, frozen_bn_stats, kstep_targets
from core.optim.lars import LARS, trust_ratio
from core.optim.optimizer import build_optimizer, set_lr
from core.optim.schedule import cosine_lr
from core.train.loop import train
from tests.conftest import tiny_config

QUIET = dict(log=lambda s: None)


def _bn_after_linears(seq):
    mods = list(seq)
    return [isinstance(mods[i + 1], nn.BatchNorm1d) if i + 1 < len(mods) else False
            for i, m in enumerate(mods) if isinstance(m, nn.Linear)]


# ---- Table 1: predictor -------------------------------------------------------------------------

def test_no_predictor_has_no_parameters_and_p_equals_z():
    m = SimSiam(tiny_config(model__predictor="none").model, 1)
    assert m.predictor_parameters() == [] and len(list(m.h.parameters())) == 0
    p1, p2, z1, z2 = m(torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16))
    assert torch.equal(p1, z1) and torch.equal(p2, z2)


@pytest.mark.slow
def test_frozen_predictor_gets_no_gradient_and_stays_bit_identical(tmp_path):
    cfg = tiny_config(model__predictor="frozen")
    torch.manual_seed(cfg.run.seed)
    fresh = SimSiam(cfg.model, 1)                     # same seed -> the run's random init
    train(cfg, tmp_path / "r", {}, **QUIET)
    trained = torch.load(tmp_path / "r" / "last.pt", weights_only=True)["model"]
    for name, w in fresh.h.state_dict().items():
        if "running" in name or "num_batches" in name:
            continue                                  # BN statistics are buffers, not weights
        assert torch.equal(trained[f"h.{name}"], w), name
    assert any(not torch.equal(trained[f"backbone.{n}"], w) for n, w in fresh.backbone.state_dict().items())
    m = SimSiam(cfg.model, 1)
    opt = build_optimizer(cfg, m, 0.1)
    assert [g["name"] for g in opt.param_groups] == ["encoder"]
    p1, p2, z1, z2 = m(torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16))
    simsiam_loss(p1, p2, z1, z2).backward()
    assert all(p.grad is None for p in m.h.parameters())


def test_constant_predictor_lr_holds_while_encoder_decays():
    cfg = tiny_config(optim__pred_lr="constant", optim__epochs=10)
    m = SimSiam(cfg.model, 1)
    opt = build_optimizer(cfg, m, 0.4)
    lrs = {e: (set_lr(opt, cfg, 0.4, e), {g["name"]: g["lr"] for g in opt.param_groups}) for e in (0, 5, 9.5)}
    assert [lrs[e][1]["predictor"] for e in lrs] == [0.4, 0.4, 0.4]
    assert lrs[0][1]["encoder"] == pytest.approx(0.4) and lrs[5][1]["encoder"] == pytest.approx(0.2)
    assert lrs[9.5][1]["encoder"] < 0.01
    cfg = tiny_config(optim__pred_lr="cosine", optim__epochs=10)
    opt = build_optimizer(cfg, SimSiam(cfg.model, 1), 0.4)
    set_lr(opt, cfg, 0.4, 5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2, 0.2])


# ---- Table 2: batch size, warm-up, LARS ---------------------------------------------------------

def test_warmup_ramps_linearly_to_the_scaled_lr_for_both_groups():
    cfg = tiny_config(optim__warmup_epochs=10, optim__epochs=100, optim__pred_lr="constant")
    opt = build_optimizer(cfg, SimSiam(cfg.model, 1), 0.8)
    for e, expected in [(0, 0.0), (2.5, 0.2), (5, 0.4), (10, 0.8)]:
        set_lr(opt, cfg, 0.8, e)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([expected, expected])
    set_lr(opt, cfg, 0.8, 55)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([cosine_lr(0.8, 55, 100, 10), 0.8])


def test_lars_trust_ratio_scales_matrix_updates_only():
    w, g = torch.full((2, 2), 3.0), torch.full((2, 2), 0.5)
    assert trust_ratio(w, g, 0.0, 0.001).item() == pytest.approx(0.001 * 6.0 / 1.0)
    assert trust_ratio(torch.zeros(2, 2), g, 0.0, 0.001).item() == 1.0
    mat, vec = nn.Parameter(w.clone()), nn.Parameter(torch.full((2,), 3.0))
    mat.grad, vec.grad = g.clone(), torch.full((2,), 0.5)
    LARS([mat, vec], lr=1.0, momentum=0.9, trust=0.001).step()
    assert torch.allclose(mat, w - 0.5 * 0.006)       # g * ratio
    assert torch.allclose(vec, torch.full((2,), 2.5))  # plain SGD for 1-D parameters


def test_lars_optimizer_is_used_when_configured():
    cfg = tiny_config(optim__optimizer="lars")
    assert isinstance(build_optimizer(cfg, SimSiam(cfg.model, 1), 0.1), LARS)


# ---- Table 3: BN in the heads -------------------------------------------------------------------

@pytest.mark.parametrize("case,proj,pred", [
    ("none", dict(proj_bn_hidden=False, proj_bn_out=False, pred_bn_hidden=False),
     ([False, False, False], [False, False])),
    ("hidden-only", dict(proj_bn_out=False), ([True, True, False], [True, False])),
    ("default", dict(), ([True, True, True], [True, False])),
    ("all", dict(pred_bn_out=True), ([True, True, True], [True, True])),
])
def test_bn_options_place_batchnorm_exactly_where_table3_says(case, proj, pred):
    cfg = tiny_config(model__proj_layers=3, **{f"model__{k}": v for k, v in proj.items()})
    m = SimSiam(cfg.model, 1)
    assert _bn_after_linears(m.projector) == pred[0]
    assert _bn_after_linears(m.h) == pred[1]
    n_bn = sum(isinstance(x, nn.BatchNorm1d) for x in itertools.chain(m.projector, m.h))
    assert n_bn == sum(pred[0]) + sum(pred[1])          # and nowhere else in the heads
    for seq in (m.projector, m.h):                      # an fc without BN after it has a bias
        mods = list(seq)
        for i, layer in enumerate(mods):
            if isinstance(layer, nn.Linear):
                followed = i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm1d)
                assert (layer.bias is None) == followed


# ---- Sec. 4.5 / 4.6: similarity and symmetrization ----------------------------------------------

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


# ---- Sec. 5.2: k-step alternation and moving-average targets ------------------------------------

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
