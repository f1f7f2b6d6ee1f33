"""python -m sweeps.export (core/eval/backbone_export.py): the backbone loads into torchvision with strict=True except
fc and gives the harness's pool5 features on the same input; the detectron2 file has MoCo's converter's
names."""
import json
import pickle
import re

import pytest
import torch
import torch.nn as nn
import torchvision

from core.eval.backbone_export import HOW_TO_BUILD, build_torchvision, detectron2_name
from core.model.simsiam import SimSiam
from core.runtime.checkpoint import save_checkpoint
from core.runtime.run_directory import RunDir
from sweeps.export import cli
from tests.conftest import tiny_config


def _run(tmp_path, backbone: str, channels: int = 3, size: int = 32):
    """A run directory whose last.pt holds a SimSiam model with non-trivial BN (as trained weights have)."""
    cfg = tiny_config(model__backbone=backbone, data__image_size=size)
    torch.manual_seed(0)
    model = SimSiam(cfg.model, channels)
    with torch.no_grad():
        for m in model.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):            # zero-init residual BN made the blocks identities
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 2.0)
    run = tmp_path / "run"
    RunDir(run).write_config(cfg)
    save_checkpoint(run, {"model": model.state_dict(), "state": {"step": 7}})
    return run, model.backbone.eval()


def _loaded(path, backbone: str):
    net = build_torchvision(backbone)
    missing, unexpected = net.load_state_dict(torch.load(path, weights_only=True), strict=False)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and unexpected == []
    net.fc = nn.Identity()                                # pool5
    return net.eval()


def test_resnet50_loads_into_torchvision_and_gives_the_same_pool5(tmp_path):
    run, ours = _run(tmp_path, "resnet50")
    assert cli([str(run), str(tmp_path / "out" / "r50.pth")]) == 0
    tv = _loaded(tmp_path / "out" / "r50.pth", "resnet50")
    assert type(tv) is torchvision.models.ResNet and tv.conv1.kernel_size == (7, 7)   # torchvision's own model
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(tv(x), ours(x))
    notes = json.loads((tmp_path / "out" / "r50.pth.json").read_text())
    assert notes["build"] == "torchvision.models.resnet50()" and notes["step"] == 7
    assert notes["pretraining_finished"] is False and not (tmp_path / "out" / "r50.pkl").exists()


def test_the_cifar_resnet18_loads_into_the_model_its_notes_say_how_to_build(tmp_path):
    run, ours = _run(tmp_path, "cifar_resnet18")
    assert cli([str(run), str(tmp_path / "r18.pth")]) == 0
    scope = {"torch": torch, "torchvision": torchvision}
    exec(json.loads((tmp_path / "r18.pth.json").read_text())["build"], scope)        # the recipe as written
    m = scope["m"]
    m.load_state_dict(torch.load(tmp_path / "r18.pth", weights_only=True), strict=False)
    m.fc = nn.Identity()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m.eval()(x), ours(x)) and torch.equal(_loaded(tmp_path / "r18.pth", "cifar_resnet18")(x),
                                                                 ours(x))
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1) and isinstance(m.maxpool, nn.Identity)


def test_a_one_channel_backbone_exports_for_the_gray_image_repeated_in_rgb(tmp_path):
    run, ours = _run(tmp_path, "resnet50", channels=1)
    assert cli([str(run), str(tmp_path / "g.pth")]) == 0
    tv = _loaded(tmp_path / "g.pth", "resnet50")
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        got, want = tv(x.repeat(1, 3, 1, 1)), ours(x)
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()          # w/3 three times is w up to rounding
    assert "repeated in R, G and B" in json.loads((tmp_path / "g.pth.json").read_text())["notes"][0]


D2_NAME = re.compile(r"^(stem\.conv1(\.norm)?|res[2-5]\.\d+\.(conv[1-3](\.norm)?|shortcut(\.norm)?))\."
                     r"(weight|bias|running_mean|running_var|num_batches_tracked)$")


def test_the_detectron2_file_has_the_converters_names_and_the_same_values(tmp_path):
    run, ours = _run(tmp_path, "resnet50")
    assert cli([str(run), str(tmp_path / "r50.pth"), "--detectron2"]) == 0
    with open(tmp_path / "r50.pkl", "rb") as fh:                                     # no detectron2 needed
        d2 = pickle.load(fh)
    assert set(d2) == {"model", "__author__", "matching_heuristics"} and d2["matching_heuristics"] is True
    names = d2["model"]
    for tv_name, d2_name in [("conv1.weight", "stem.conv1.weight"), ("bn1.running_var", "stem.conv1.norm.running_var"),
                             ("layer1.0.conv2.weight", "res2.0.conv2.weight"),
                             ("layer1.0.bn3.weight", "res2.0.conv3.norm.weight"),
                             ("layer1.0.downsample.0.weight", "res2.0.shortcut.weight"),
                             ("layer3.0.downsample.1.running_mean", "res4.0.shortcut.norm.running_mean"),
                             ("layer4.2.bn2.bias", "res5.2.conv2.norm.bias")]:
        assert detectron2_name(tv_name) == d2_name
        assert (names[d2_name] == ours.state_dict()[tv_name].numpy()).all(), d2_name
    assert all(D2_NAME.match(k) for k in names), [k for k in names if not D2_NAME.match(k)]
    assert len(names) == len(ours.state_dict())           # every weight and buffer, no fc


def test_errors_are_one_line(tmp_path, capsys):
    def error(*args) -> str:
        assert cli([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return err

    assert "not a run directory" in error(tmp_path / "nope", tmp_path / "o.pth")
    small = tmp_path / "small"
    RunDir(small).write_config(tiny_config())
    save_checkpoint(small, {"model": SimSiam(tiny_config().model, 1).state_dict(), "state": {"step": 0}})
    assert "small_resnet has no torchvision counterpart" in error(small, tmp_path / "o.pth")
    RunDir(tmp_path / "bare").write_config(tiny_config(model__backbone="resnet50"))
    assert "no checkpoint (last.pt)" in error(tmp_path / "bare", tmp_path / "o.pth")
    assert not (tmp_path / "o.pth").exists()


@pytest.mark.parametrize("backbone", sorted(HOW_TO_BUILD))
def test_every_exportable_backbone_says_how_to_build_it(backbone):
    assert build_torchvision(backbone).fc.in_features in (512, 2048)


def test_the_notes_carry_the_normalization_numbers_the_run_used(tmp_path):
    from core.data.batches import ArraySource
    from core.data.raw_images import load_arrays
    run, _ = _run(tmp_path, "resnet50", channels=1)
    assert cli([str(run), str(tmp_path / "g.pth")]) == 0
    normalize = json.loads((tmp_path / "g.pth.json").read_text())["input"]["normalize"]
    cfg = tiny_config(model__backbone="resnet50", data__image_size=32)
    source = ArraySource(load_arrays(cfg.data), cfg, torch.device("cpu"))
    assert normalize["mean"] == source.mean.flatten().tolist() * 3            # gray, repeated in R, G and B
    assert normalize["std"] == source.std.flatten().tolist() * 3 and normalize["scale"] == "[0, 1]"
    assert normalize["of"].startswith("the synthetic training set (128 images, data.train_subset 128)")
    from sweeps.export import IMAGENET_NORMALIZE, normalization
    folder = tiny_config(data__dataset="folder")
    assert {k: normalization(folder, 3)[k] for k in ("mean", "std")} == IMAGENET_NORMALIZE


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    from pathlib import Path
    run, _ = _run(tmp_path, "resnet50")
    real = Path.write_bytes

    def full_disk(self, data):
        if self.name.endswith(".pkl.tmp"):
            raise OSError(28, "No space left on device")
        return real(self, data)
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    assert cli([str(run), str(tmp_path / "a" / "b" / "r50.pth"), "--detectron2"]) == 2
    assert "export failed, nothing written: [Errno 28] No space left on device" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()                              # nor the directories made for it
    monkeypatch.undo()
    cfg = tiny_config(model__backbone="resnet50", data__dataset="cifar10", data__root=str(tmp_path / "none"))
    RunDir(run).write_config(cfg)
    assert cli([str(run), str(tmp_path / "a" / "r50.pth")]) == 2
    assert "pass --data-root DIR" in capsys.readouterr().err and not (tmp_path / "a").exists()
