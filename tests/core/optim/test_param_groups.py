"""The optimizer's switches (core/optim/optimizer.py): Table 1's frozen predictor and its constant lr, Table 2's
warm-up, each read as the parameter groups' learning rates."""
import pytest
import torch

from core.model.simsiam import SimSiam
from core.objective.losses import simsiam_loss
from core.optim.optimizer import build_optimizer, set_lr
from core.optim.schedule import cosine_lr
from core.train.loop import train
from tests.conftest import tiny_config

QUIET = dict(log=lambda s: None)


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


def test_warmup_ramps_linearly_to_the_scaled_lr_for_both_groups():
    cfg = tiny_config(optim__warmup_epochs=10, optim__epochs=100, optim__pred_lr="constant")
    opt = build_optimizer(cfg, SimSiam(cfg.model, 1), 0.8)
    for e, expected in [(0, 0.0), (2.5, 0.2), (5, 0.4), (10, 0.8)]:
        set_lr(opt, cfg, 0.8, e)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([expected, expected])
    set_lr(opt, cfg, 0.8, 55)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([cosine_lr(0.8, 55, 100, 10), 0.8])
