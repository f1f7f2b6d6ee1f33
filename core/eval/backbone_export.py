"""A pre-trained backbone in the formats transfer code loads (sweeps.export is the command).

- torchvision: our `resnet50` backbone is torchvision's ResNet-50 with its fc removed, so its state dict under
  the model's `backbone.` prefix is torchvision's, fc excepted; `torchvision.models.resnet50()` loads it with
  strict=True apart from fc.weight and fc.bias. `cifar_resnet18` is torchvision's ResNet-18 with App. D's stem
  (conv1 3x3 stride 1, no max-pool): build that model first (`build_torchvision`, `HOW_TO_BUILD`). A backbone
  trained on 1-channel images gets a 3-channel conv1 with the weights divided by 3 over the channels, which
  gives the same output on the gray image repeated in R, G and B.
- detectron2: the pickled dict of MoCo's converter (moco/detection/convert-pretrain-to-detectron2.py, which
  the official SimSiam README points to for Table 5), {"model": {name: numpy array}, "__author__": ...,
  "matching_heuristics": True}, its names renamed by the converter's rules (`detectron2_name`). detectron2 is
  not needed to write it.
- small_resnet (the cpu preset's) has no counterpart in torchvision or detectron2; it is refused.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torchvision

from core.model.simsiam import build_model
from core.runtime.checkpoint import Unusable
from core.runtime.checkpoint_fit import weights_fit

PREFIX = "backbone."                           # core.model.simsiam.SimSiam keeps the backbone under this name
TORCHVISION = {"resnet50": "resnet50", "cifar_resnet18": "resnet18"}
HOW_TO_BUILD = {
    "resnet50": "torchvision.models.resnet50()",
    "cifar_resnet18": ("m = torchvision.models.resnet18(); m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); "
                       "m.maxpool = torch.nn.Identity()   # App. D's CIFAR stem"),
}
AUTHOR = "simsiam-harness"                     # detectron2 reads __author__ only to tell Caffe2 files apart


class ExportError(ValueError):
    """A backbone that no transfer format takes; the message says why."""


def check_exportable(backbone: str) -> None:
    """ExportError for a backbone with no torchvision counterpart (known from the config, before any file is read)."""
    if backbone not in TORCHVISION:
        raise ExportError(f"model.backbone {backbone} has no torchvision counterpart (the cpu preset's small ResNet "
                          f"is ours alone); export takes {' or '.join(TORCHVISION)}")


def torchvision_state_dict(model_state: dict, backbone: str) -> dict[str, torch.Tensor]:
    """The backbone's weights and BN buffers under torchvision's names, from a SimSiam state dict."""
    check_exportable(backbone)
    state = {k[len(PREFIX):]: v.detach().cpu().clone() for k, v in model_state.items() if k.startswith(PREFIX)}
    if state["conv1.weight"].shape[1] == 1:    # gray input: conv over (x, x, x) with w/3 each is conv over x with w
        state["conv1.weight"] = state["conv1.weight"].repeat(1, 3, 1, 1) / 3
    return state


def build_torchvision(backbone: str) -> nn.Module:
    """The torchvision model an exported state dict loads into (strict, fc excepted): HOW_TO_BUILD in code."""
    net = getattr(torchvision.models, TORCHVISION[backbone])()
    if backbone == "cifar_resnet18":
        net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
    return net


def detectron2_name(name: str) -> str:
    """A torchvision ResNet name as MoCo's converter renames it: outside the stages under `stem.`; layer1-4 are
    res2-5; bnK is convK.norm; downsample.0 / .1 are shortcut / shortcut.norm."""
    if "layer" not in name:
        name = "stem." + name
    for stage in range(1, 5):
        name = name.replace(f"layer{stage}", f"res{stage + 1}")
    for k in range(1, 4):
        name = name.replace(f"bn{k}", f"conv{k}.norm")
    return name.replace("downsample.0", "shortcut").replace("downsample.1", "shortcut.norm")


def detectron2_checkpoint(state: dict[str, torch.Tensor]) -> dict:
    """The converter's pickled dict from a torchvision state dict: numpy arrays under detectron2's names."""
    return {"model": {detectron2_name(k): v.numpy() for k, v in state.items()}, "__author__": AUTHOR,
            "matching_heuristics": True}


def backbone_fit(cfg):
    """A finished run's last.pt read for its backbone alone (sweeps.export): the shapes of the run's backbone,
    built for the input channels its conv1 was trained on."""
    def check(ckpt: dict) -> None:
        saved = ckpt["model"] if isinstance(ckpt["model"], dict) else {}
        stem = next((v for k, v in saved.items() if k.startswith("backbone.") and isinstance(v, torch.Tensor)
                     and v.dim() == 4), None)             # the first conv: its input channels are the images'
        if stem is None:
            raise Unusable("does not fit: model holds no backbone convolution")
        with torch.device("meta"):                      # shapes only: no memory, no random draws
            layout = build_model(cfg, stem.shape[1]).state_dict()
        weights_fit(layout, prefix="backbone.")(ckpt)
    return check
