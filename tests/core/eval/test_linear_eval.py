"""The paper's linear evaluation (core/eval/linear_eval.py, core/data/linear_eval_images.py, sweeps/evaluate.py) on a
tiny image folder: each piece as App. A and the official main_lincls.py have it (optimizer, lr scaling, schedule,
augmentation, BN in eval mode, no gradient to the backbone), the stage inside a run and after one, and a
kill in the middle that resumes to the same numbers."""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from torchvision.transforms import v2

from core.config.hyperparameters import Config
from core.config.presets import preset_config
from core.data.batches import make_source
from core.data.linear_eval_images import LinclsImages, folder_train_transform, train_augment
from core.eval import linear_eval
from core.optim.lars import LARS
from core.runtime.checkpoint import load_checkpoint
from core.runtime.run_directory import RunDir
from core.train.loop import train
from sweeps.evaluate import cli as evaluate_cli
from tests.conftest import REPO
from tests.core.runtime.test_distributed import free_port
from tests.core.data.test_folder_source import _cfg, tree  # noqa: F401  (the tiny image folder fixture)

QUIET = dict(log=lambda s: None)
CPU = torch.device("cpu")


def _lincls(root, **overrides):
    return _cfg(root, **{"eval__lincls_batch": 8, "eval__lincls_epochs": 3, **overrides})


@pytest.fixture(scope="module")
def pretrained(tree, tmp_path_factory):  # noqa: F811
    """A finished one-epoch pre-training run on the folder, its linear_acc from the default SGD probe."""
    run = tmp_path_factory.mktemp("pre") / "run"
    result = train(_lincls(tree, optim__epochs=1), run, {}, **QUIET)
    assert result["status"] == "ok" and result["linear_protocol"] == "sgd"
    return run


def test_the_defaults_are_app_a_and_main_lincls_and_the_cpu_path_is_unchanged():
    e = Config().eval
    assert (e.lincls_epochs, e.lincls_batch, e.lincls_momentum, e.lincls_weight_decay, e.lincls_trust) == \
        (90, 4096, 0.9, 0.0, 0.001)
    assert linear_eval.protocol(Config())["lr"] == 0.1 * 4096 / 256 == 1.6          # main_lincls.py init_lr
    assert e.lincls_crop_scale_min == 0.08                                          # RandomResizedCrop's default
    assert e.linear == "sgd" and preset_config("cpu").eval.linear == "sgd"
    assert preset_config("cifar10").eval.linear == "sgd" and preset_config("imagenet").eval.linear == "paper"


def test_the_optimizer_is_larc_on_every_fc_parameter_at_the_scaled_lr():
    e = _lincls("x", eval__lincls_batch=512, eval__lincls_base_lr=0.1).eval
    fc = linear_eval.build_classifier(6, 3, seed=0, device=CPU)
    assert fc.bias.abs().sum() == 0 and 0.005 < fc.weight.std().item() < 0.02        # N(0, 0.01), bias 0
    opt = linear_eval.build_optimizer(fc, e)
    assert isinstance(opt, LARS) and opt.param_groups[0]["lr"] == 0.1 * 512 / 256
    assert (opt.param_groups[0]["momentum"], opt.param_groups[0]["weight_decay"]) == (0.9, 0.0)
    w0 = fc.weight.detach().clone()
    gw, gb = torch.randn(3, 6), torch.randn(3)
    fc.weight.grad, fc.bias.grad = gw.clone(), gb.clone()
    opt.step()
    lr = 0.2
    ratio = 0.001 * w0.norm() / (gw.norm() + linear_eval.LARC_EPS)                 # apex LARC, no clipping
    assert torch.allclose(fc.weight, w0 - lr * ratio * gw, atol=1e-7)
    assert torch.allclose(fc.bias, -lr * gb)          # a zero-norm bias gets one plain step, as LARC does
    b1 = fc.bias.detach().clone()
    fc.weight.grad, fc.bias.grad = gw.clone(), gb.clone()
    opt.step()                                        # now the bias has a norm: LARC scales it too (momentum 0.9)
    bias_ratio = 0.001 * b1.norm() / (gb.norm() + linear_eval.LARC_EPS)
    assert torch.allclose(fc.bias, b1 - lr * (0.9 * gb + bias_ratio * gb), atol=1e-7)


def test_the_lr_is_cosine_set_once_per_epoch(tree, pretrained, tmp_path):  # noqa: F811
    run = tmp_path / "r"
    shutil.copytree(pretrained, run)
    assert evaluate_cli([str(run), "--set", "eval.lincls_epochs=4", "--set", "eval.lincls_base_lr=0.4"]) == 0
    record = json.loads((run / "linear_eval.json").read_text())
    peak = 0.4 * 8 / 256
    assert record["lr_per_epoch"] == pytest.approx([peak * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)])
    assert record["finished"] and record["epochs_done"] == 4 and len(record["top1_per_epoch"]) == 4


def test_training_crops_are_random_resized_crops_and_flips_only(tree):  # noqa: F811
    cfg = _lincls(tree)
    ops = folder_train_transform(cfg).transforms
    assert [type(t) for t in ops] == [v2.PILToTensor, v2.RandomResizedCrop, v2.RandomHorizontalFlip]
    assert tuple(ops[1].size) == (16, 16) and ops[1].scale == (0.08, 1.0)
    assert ops[1].ratio == pytest.approx((3 / 4, 4 / 3)) and ops[2].p == 0.5
    a = train_augment(cfg)                            # the in-memory data sets' crop: same recipe, on the device
    assert (a.crop_scale_min, a.crop_scale_max, a.flip_p) == (0.08, 1.0, 0.5)
    assert (a.jitter_p, a.grayscale_p, a.blur_p) == (0.0, 0.0, 0.0)
    images = LinclsImages(make_source(cfg, CPU), cfg)
    assert images.steps_per_epoch == 3 and [images.batch_len(i) for i in range(3)] == [8, 8, 8]
    epoch0 = list(images.train_epoch(0))
    assert [x.shape for x, _ in epoch0] == [(8, 3, 16, 16)] * 3
    assert not torch.equal(epoch0[0][0], next(iter(images.train_epoch(1)))[0])     # new crops every epoch
    resumed = list(images.train_epoch(0, start=1))                                 # a resumed epoch: same crops
    assert all(torch.equal(x, y) and torch.equal(a, b) for (x, a), (y, b) in zip(resumed, epoch0[1:]))


def test_test_images_are_resized_and_centre_cropped_without_randomness(tree):  # noqa: F811
    cfg = _lincls(tree)
    images = LinclsImages(make_source(cfg, CPU), cfg)
    x, y = map(torch.cat, zip(*images.test_batches(batch_size=4)))
    assert x.shape == (9, 3, 16, 16) and y.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    assert torch.equal(x, torch.cat([b for b, _ in images.test_batches()]))
    # an in-memory data set: resize to 18 (16 x 256/224), centre crop 16, as torchvision does it
    arrays = _lincls(tree, data__dataset="synthetic", optim__batch_size=32)
    source = make_source(arrays, CPU)
    got = next(iter(LinclsImages(source, arrays).test_batches(batch_size=5)))[0]
    ref = v2.functional.center_crop(v2.functional.resize(source.x_test[:5].float() / 255, [18], antialias=True), [16])
    assert torch.allclose(got, source.normalize(ref), atol=1e-5)


def test_the_backbone_gets_no_gradient_and_keeps_bn_in_eval_mode(tree, pretrained, tmp_path, monkeypatch):  # noqa: F811
    seen = []

    def watched(*args, **kwargs):
        backbone, dim = build(*args, **kwargs)
        for m in backbone.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.register_forward_pre_hook(lambda mod, inp: seen.append((mod.training, torch.is_grad_enabled())))
        found.append(backbone)
        return backbone, dim

    build, found = linear_eval.frozen_backbone, []
    monkeypatch.setattr(linear_eval, "frozen_backbone", watched)
    run = tmp_path / "r"
    shutil.copytree(pretrained, run)
    record = linear_eval.run_stage(_lincls(tree), RunDir(run), lambda s: None, CPU)
    assert record["finished"] and seen and not any(training or grad for training, grad in seen)
    backbone = found[0]
    assert all(not p.requires_grad and p.grad is None for p in backbone.parameters())
    weights = load_checkpoint(run)["model"]
    assert all(torch.equal(v, weights[f"backbone.{k}"]) for k, v in backbone.state_dict().items())   # BN buffers too


@pytest.mark.slow
def test_a_run_with_eval_linear_paper_ends_with_the_stage_and_names_its_protocol(tree, tmp_path):  # noqa: F811
    cfg = _lincls(tree, optim__epochs=1, eval__linear="paper")
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    record = json.loads((tmp_path / "r" / "linear_eval.json").read_text())
    assert result["status"] == "ok" and result["linear_protocol"] == "paper" and record["finished"]
    assert result["linear_acc"] == result["linear_acc_paper"] == record["top1"] == record["top1_per_epoch"][-1]
    assert result["linear_acc_paper_best"] == max(record["top1_per_epoch"])
    assert result["eval"]["linear"].startswith("paper (App. A") and result["eval"]["linear_paper"] == \
        result["eval"]["linear"]
    assert json.loads((tmp_path / "r" / "result.json").read_text())["linear_acc_paper"] == record["top1"]
    # killed in the stage after its second epoch: the run resumes (pre-training done) and ends the same
    run = tmp_path / "killed"
    shutil.copytree(tmp_path / "r", run)
    (run / "result.json").unlink()
    os.replace(run / "linear.prev.pt", run / "linear.pt")
    assert load_checkpoint(run, names=("linear.pt", "none"))["state"]["step"] == 2 * 3
    lines = []
    resumed = train(cfg, run, {}, log=lines.append)
    assert any("linear eval (paper) resumed at epoch 2.00 of 3" in line for line in lines), lines
    drop = ("wall_s", "train_s", "linear_eval_s")
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in result.items() if k not in drop}


def _evaluate_child(run, *sets) -> subprocess.Popen:
    args = [sys.executable, "-m", "sweeps.evaluate", str(run), "--protocol", "paper"]
    for s in sets:
        args += ["--set", s]
    return subprocess.Popen(args, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _epochs_done(run) -> int:
    try:
        return json.loads((run / "linear_eval.json").read_text())["epochs_done"]
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_sweeps_evaluate_resumes_after_a_kill_to_the_same_numbers(tree, pretrained, tmp_path):  # noqa: F811
    sets = ("eval.lincls_epochs=60", "eval.lincls_batch=8")
    ref, run = tmp_path / "ref", tmp_path / "killed"
    shutil.copytree(pretrained, ref)
    shutil.copytree(pretrained, run)
    torch.set_num_threads(1)
    assert evaluate_cli([str(ref), *[a for s in sets for a in ("--set", s)]]) == 0
    before = json.loads((pretrained / "result.json").read_text())

    proc = _evaluate_child(run, *sets)
    t0 = time.time()
    while _epochs_done(run) < 2:                      # two epochs checkpointed: kill it in the middle
        assert proc.poll() is None and time.time() - t0 < 120, "the stage ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads((run / "linear_eval.json").read_text())
    assert not partial["finished"] and 2 <= partial["epochs_done"] < 60, partial["epochs_done"]
    assert "linear_acc_paper" not in json.loads((run / "result.json").read_text())

    assert evaluate_cli([str(run), *[a for s in sets for a in ("--set", s)]]) == 0
    got, want = (json.loads((d / "linear_eval.json").read_text()) for d in (run, ref))
    assert got["top1_per_epoch"] == want["top1_per_epoch"] and got["lr_per_epoch"] == want["lr_per_epoch"]
    result = json.loads((run / "result.json").read_text())
    assert result["linear_acc_paper"] == want["top1"] and result["eval"]["linear_paper"].startswith("paper")
    # the run's own number keeps its own protocol: the SGD probe's, unchanged
    assert result["linear_acc"] == before["linear_acc"] and result["linear_protocol"] == "sgd"
    assert result["eval"]["linear"] == before["eval"]["linear"]

    # SIGTERM (a scheduler's stop): linear.pt saved at the next step, exit 3, and the same command resumes it
    termed = tmp_path / "termed"
    shutil.copytree(pretrained, termed)
    proc, t0 = _evaluate_child(termed, *sets), time.time()
    while _epochs_done(termed) < 2:
        assert proc.poll() is None and time.time() - t0 < 120
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 3
    step = load_checkpoint(termed, names=("linear.pt", "none"))["state"]["step"]
    assert 2 * 3 <= step < 60 * 3 and not json.loads((termed / "linear_eval.json").read_text())["finished"]
    assert evaluate_cli([str(termed), *[a for s in sets for a in ("--set", s)]]) == 0
    assert json.loads((termed / "linear_eval.json").read_text())["top1_per_epoch"] == want["top1_per_epoch"]


def test_evaluate_errors_are_one_line(tree, pretrained, tmp_path, capsys):  # noqa: F811
    def error(*args) -> str:
        assert evaluate_cli([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return err

    assert "not a run directory" in error(tmp_path / "nope")
    assert "may change eval.lincls_*" in error(pretrained, "--set", "model.dim=8")
    assert "did you mean 'eval.lincls_epochs'" in error(pretrained, "--set", "eval.lincls_epoch=3")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(pretrained, unfinished)
    (unfinished / "result.json").unlink()
    assert "has not finished" in error(unfinished)
    copy = tmp_path / "copy"
    shutil.copytree(pretrained, copy)
    (copy / "last.pt").unlink()
    (copy / "prev.pt").unlink(missing_ok=True)
    RunDir(copy).write_meta({"copied_from": "stopgrad/w-stop-grad-s0-abc"})
    assert "a copy of stopgrad/w-stop-grad-s0-abc" in error(copy)


@pytest.mark.slow
def test_two_ranks_evaluate_what_one_process_does(tree, pretrained, tmp_path):  # noqa: F811
    # batch 23 of 24 images: the second step's single image goes to rank 0, rank 1's share is empty
    sets = ["--set", "eval.lincls_epochs=2", "--set", "eval.lincls_batch=23"]
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(pretrained, one)
    shutil.copytree(pretrained, two)
    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "sweeps.evaluate", str(two), *sets], cwd=REPO, env={
        **os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}) for r in range(2)]
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    torch.set_num_threads(1)
    assert evaluate_cli([str(one), *sets]) == 0
    got, want = (load_checkpoint(d, names=("linear.pt", "none")) for d in (two, one))
    assert got["state"]["step"] == want["state"]["step"] == 2 * 2
    for k, v in want["classifier"].items():        # the crops are the same (seeded by position in the batch)
        assert torch.allclose(got["classifier"][k], v, rtol=1e-4, atol=1e-6), k
    assert json.loads((two / "linear_eval.json").read_text())["top1_per_epoch"] == \
        json.loads((one / "linear_eval.json").read_text())["top1_per_epoch"]


def test_the_backbone_of_a_swav_run_loads_its_prototypes_aside():
    from core.model.simsiam import build_model
    from tests.conftest import tiny_config
    cfg = tiny_config(loss__objective="swav", loss__prototypes=10, model__predictor="none")
    trained = build_model(cfg, 1)
    backbone, _ = linear_eval.frozen_backbone(cfg, trained.state_dict(), 1, CPU)
    assert all(torch.equal(v, trained.backbone.state_dict()[k]) for k, v in backbone.state_dict().items())
