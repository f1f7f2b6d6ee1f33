"""Named recipes (core/config/recipes/): the official code's recipe as one command, what it resolves to, and how a
recipe
sits between the preset and a sweep's cases."""
import re
import shlex

import pytest
import torch
import yaml
from torch import nn

from core.config import recipes
from core.config.hyperparameters import ConfigError, apply_overrides, config_hash
from core.config.presets import list_presets, preset_config
from core.config.recipes import list_recipes, recipe_overrides
from core.model.backbones import build_backbone
from core.model.simsiam import SimSiam
from sweeps.expand import expand
from sweeps.run import cli, main, parse_args
from sweeps.sweepfile import load_sweep
from tests.conftest import REPO


def _backbone_width(cfg) -> int:
    return build_backbone(cfg.model, 3)[1]


def _official_at(preset: str):
    return apply_overrides(preset_config(preset), recipe_overrides("official", preset), "test")


def _documented_commands() -> list[str]:
    text = (REPO / "docs" / "paper.md").read_text()
    return [line.strip() for line in text.splitlines()
            if line.strip().startswith("python -m sweeps.run") and "--recipe official" in line]


def test_the_documented_one_line_commands_train_what_the_official_code_trains(tmp_path):
    commands = _documented_commands()
    assert {parse_args(shlex.split(c)[3:]).preset for c in commands} == {"imagenet", "cifar10"}
    for command in commands:
        args = parse_args(shlex.split(command)[3:])
        specs = expand(load_sweep(args.sweep), args.preset, tmp_path, args.seeds, {}, args.cases, args.recipe)
        assert len(specs) == 1 and specs[0].meta()["recipe"] == "official"
        cfg = specs[0].config
        m, o = cfg.model, cfg.optim
        assert m.proj_out_affine is False                         # builder.py: BatchNorm1d(dim, affine=False)
        assert o.lr_every == "epoch"                              # main_simsiam.py: adjust_learning_rate per epoch
        assert o.pred_lr == "constant"                            # --fix-pred-lr
        assert m.proj_layers == 3 and m.proj_hidden == _backbone_width(cfg)   # builder.py: prev_dim, 3 layers
        assert (m.dim, m.pred_hidden, m.predictor, m.stop_grad, m.zero_init_residual) == (2048, 512, "mlp", True, True)
        assert (o.warmup_epochs, o.optimizer, o.momentum) == (0.0, "sgd", 0.9)
        if args.preset == "imagenet":                             # main_simsiam.py's defaults and augmentation
            assert (o.batch_size, o.base_lr, o.weight_decay, o.epochs) == (512, 0.05, 1e-4, 100)
            assert (cfg.augment.blur_p, cfg.augment.crop_scale_min, m.backbone) == (0.5, 0.2, "resnet50")
            assert cfg.eval.linear == "paper" and cfg.eval.lincls_base_lr == 0.1    # main_lincls.py


@pytest.mark.parametrize("preset", list_presets())
def test_the_official_recipe_is_defined_at_every_preset_with_the_backbones_width(preset):
    cfg = _official_at(preset)
    assert (cfg.model.proj_layers, cfg.model.proj_hidden) == (3, _backbone_width(cfg))
    assert (cfg.model.proj_out_affine, cfg.optim.lr_every, cfg.optim.pred_lr) == (False, "epoch", "constant")


def test_the_official_model_has_no_affine_on_fs_output_bn_and_no_bias_in_the_fc_before_it():
    cfg = _official_at("cpu")
    projector = SimSiam(cfg.model, 1).projector
    fcs = [mod for mod in projector if isinstance(mod, nn.Linear)]
    assert len(fcs) == 3 and all(fc.bias is None for fc in fcs)
    assert isinstance(projector[-1], nn.BatchNorm1d) and not projector[-1].affine
    assert fcs[0].out_features == fcs[1].out_features == 128


def test_a_frozen_bias_before_batch_norm_computes_what_no_bias_computes():
    """builder.py keeps the last fc's bias and freezes it; in training BN's batch mean subtracts it again, so the
    harness's bias-free fc is the same f. The running mean (eval mode, which neither code applies to f's output)
    takes the bias in as its average forgets its start at 0, (1 - momentum)^n after n steps."""
    torch.manual_seed(0)
    official = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6, affine=False))
    official[0].bias.requires_grad = False                        # builder.py's "hack"
    with torch.no_grad():
        official[0].bias.uniform_(-2.0, 2.0)                      # any constant: far from 0 on purpose
    ours = nn.Sequential(nn.Linear(8, 6, bias=False), nn.BatchNorm1d(6, affine=False))
    with torch.no_grad():
        ours[0].weight.copy_(official[0].weight)
    bias0 = official[0].bias.detach().clone()
    opt = torch.optim.SGD([p for p in official.parameters() if p.requires_grad], lr=0.1, weight_decay=1e-4)
    for _ in range(5):                                            # train mode: equal outputs and weight gradients
        x = torch.randn(16, 8)
        a, b = official(x), ours(x)
        assert torch.allclose(a, b, atol=1e-5)
        (a ** 3).sum().backward()
        (b ** 3).sum().backward()
        assert torch.allclose(official[0].weight.grad, ours[0].weight.grad, rtol=1e-4, atol=1e-5)
        assert official[0].bias.grad is None
        opt.step()
        with torch.no_grad():
            ours[0].weight.sub_(0.1 * (ours[0].weight.grad + 1e-4 * ours[0].weight))
        official.zero_grad()
        ours.zero_grad()
    assert torch.equal(official[0].bias, bias0)                   # never changes
    x = torch.randn(4, 8)
    official.eval(), ours.eval()
    assert not torch.allclose(official(x), ours(x), atol=1e-2)    # 5 steps: 0.9^5 of the bias still shows
    official.train(), ours.train()
    with torch.no_grad():
        for _ in range(250):                                      # 0.9^255 ~ 2e-12 of it left
            batch = torch.randn(16, 8)
            official(batch), ours(batch)
    official.eval(), ours.eval()
    assert torch.allclose(official(x), ours(x), atol=1e-4)


def _sweep(tmp_path, cases: dict):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"figure": "t", "title": "t", "seeds": [0], "cases": cases}))
    return load_sweep(str(path))


def test_a_recipe_sits_between_the_preset_and_the_cases_and_set_wins(tmp_path):
    sw = _sweep(tmp_path, {"plain": {}, "cosine h": {"optim.pred_lr": "cosine"},
                           "affine": {"model.proj_out_affine": True}})
    without = {s.case: s for s in expand(sw, "cpu", tmp_path)}
    official = {s.case: s for s in expand(sw, "cpu", tmp_path, recipe="official")}
    assert official["plain"].config == apply_overrides(_official_at("cpu"), {"run.seed": 0}, "test")
    assert official["plain"].config.optim.lr_every == "epoch" and official["plain"].config.model.proj_layers == 3
    assert official["cosine h"].config.optim.pred_lr == "cosine"                 # the case keeps its own value
    assert official["affine"].config.model.proj_out_affine is True
    assert official["affine"].config.optim.lr_every == "epoch"                   # and the recipe's other values
    assert all(official[c].run_id != without[c].run_id for c in without)
    assert "recipe" not in without["plain"].meta() and official["plain"].meta()["recipe"] == "official"
    assert without["plain"].config.optim.lr_every == "step"                      # without a recipe: as before
    set_step = expand(sw, "cpu", tmp_path, cli_overrides={"optim.lr_every": "step"}, recipe="official")
    assert all(s.config.optim.lr_every == "step" for s in set_step)             # --set wins over the recipe
    assert config_hash(set_step[0].config) != config_hash(without["plain"].config)   # (the rest of it stays)


def test_an_unknown_recipe_is_one_line_with_a_suggestion(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"unknown recipe 'offical' \(did you mean 'official'\?\)"):
        recipe_overrides("offical", "cpu")
    assert cli(["stopgrad", "--recipe", "offical", "--dry-run", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "did you mean 'official'" in err and "\n" not in err and "Traceback" not in err


def test_a_recipe_refuses_a_preset_it_does_not_describe(tmp_path, monkeypatch):
    (tmp_path / "partial.yaml").write_text(yaml.safe_dump({"overrides": {"optim.lr_every": "epoch"},
                                                          "presets": {"imagenet": {}}}))
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump({"override": {}}))
    monkeypatch.setattr(recipes, "RECIPE_DIR", tmp_path)
    assert recipe_overrides("partial", "imagenet") == {"optim.lr_every": "epoch"}
    with pytest.raises(ConfigError, match="does not say what it means at preset 'cpu'"):
        recipe_overrides("partial", "cpu")
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['override'\]"):
        recipe_overrides("typo", "cpu")


def test_list_recipes_prints_each_with_its_description(capsys):
    assert main(["--list-recipes"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list_recipes() == ["official"]
    assert re.search(r"facebookresearch/simsiam", out)
