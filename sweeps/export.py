"""Take a pre-trained backbone out of the harness, for transfer:

    python -m sweeps.export RUN_DIR OUT.pth [--detectron2]

OUT.pth: the backbone of RUN_DIR's last.pt as a torchvision state dict (torch.load(..., weights_only=True)).
A ResNet-50 run loads into `torchvision.models.resnet50()` with strict=True except fc.weight and fc.bias; a
CIFAR ResNet-18 run into torchvision's resnet18 with App. D's stem (conv1 3x3 stride 1, no max-pool), which
OUT.pth.json spells out. `--detectron2` also writes OUT.pkl, the pickled dict MoCo's detectron2 converter makes
(core/export.py), for fine-tuning detection as in Table 5. OUT.pth.json records where the weights came from, how
to build the model and how to normalize its input. Bad input gets one line on stderr and exit code 2, a last.pt
that cannot be used too (--trust-checkpoint: docs/run-directory-safety.md).
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

from core.checkpoint_policy import SAFE, CheckpointPolicy
from core.checkpoint_policy import add_arguments as add_checkpoint_flags
from core.config import ConfigError
from core.record import CONFIG
from sweeps.cli_errors import one_line_errors

IMAGENET_NORMALIZE = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}   # core.batches.FolderSource


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m sweeps.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", help="a run directory (runs/<sweep>/<run id>) with a last.pt")
    ap.add_argument("out", help="where the torchvision state dict goes (e.g. resnet50_simsiam.pth)")
    ap.add_argument("--detectron2", action="store_true", help="also write OUT with suffix .pkl in detectron2's format")
    add_checkpoint_flags(ap, restart=False)       # --trust-checkpoint
    return ap.parse_args(argv)


def notes(cfg, step: int, finished: bool, channels: int) -> dict:
    """OUT.json: provenance, how to build the model, what its input is."""
    from core.export import HOW_TO_BUILD
    gray = ["trained on 1-channel images: conv1 takes 3 channels with the weights split evenly, so feed the "
            "normalized gray image repeated in R, G and B"] if channels == 1 else []
    normalize = (IMAGENET_NORMALIZE if cfg.data.dataset == "folder" else
                 f"per-channel mean and std of the {cfg.data.dataset} training set (core.batches.ArraySource)")
    return {"backbone": cfg.model.backbone, "build": HOW_TO_BUILD[cfg.model.backbone],
            "load": "model.load_state_dict(torch.load(OUT, weights_only=True), strict=False): missing fc.weight, "
                    "fc.bias only (replace fc, or set model.fc = torch.nn.Identity() for pool5 features)",
            "input": {"size": cfg.data.image_size, "channels": 3, "normalize": normalize},
            "step": step, "pretraining_finished": finished, "notes": gray}


def export(run_dir: Path, out: Path, detectron2: bool, checkpoints: CheckpointPolicy = SAFE) -> list[Path]:
    """Write OUT (and OUT.json, and with `detectron2` OUT.pkl); the paths written."""
    if not (run_dir / CONFIG).is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no {CONFIG})")
    import torch

    from core.checkpoint import load_final
    from core.checkpoint_fit import backbone_fit
    from core.export import ExportError, check_exportable, detectron2_checkpoint, torchvision_state_dict
    from core.rundir import RunDir
    rd = RunDir(run_dir)
    cfg = rd.read_config()
    try:
        check_exportable(cfg.model.backbone)
        ckpt = load_final(run_dir, policy=checkpoints, fits=backbone_fit(cfg))
        if ckpt is None:
            origin = rd.read_meta().get("copied_from")
            raise ConfigError(f"{run_dir}: no checkpoint (last.pt)" + (f"; it is a copy of {origin}: export that "
                                                                       "run" if origin else ""))
        state = torchvision_state_dict(ckpt["model"], cfg.model.backbone)
    except ExportError as err:
        raise ConfigError(str(err)) from None
    channels = ckpt["model"]["backbone.conv1.weight"].shape[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    written = [out]
    side = out.with_name(out.name + ".json")
    side.write_text(json.dumps({"source": str(run_dir), **notes(cfg, ckpt["state"]["step"], rd.is_finished(),
                                                                  channels)}, indent=1) + "\n")
    written.append(side)
    if detectron2:
        pkl = out.with_suffix(".pkl")
        with open(pkl, "wb") as fh:
            pickle.dump(detectron2_checkpoint(state), fh)
        written.append(pkl)
    return written


def main(argv=None) -> int:
    args = parse_args(argv)
    for path in export(Path(args.run_dir), Path(args.out), args.detectron2, CheckpointPolicy.from_args(args)):
        print(f"wrote {path}")
    return 0


def cli(argv=None) -> int:
    return one_line_errors(main, argv)


if __name__ == "__main__":
    sys.exit(cli())
