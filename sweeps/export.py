"""Take a pre-trained backbone out of the harness, for transfer:

    python -m sweeps.export RUN_DIR OUT.pth [--detectron2]

OUT.pth: the backbone of RUN_DIR's last.pt as a torchvision state dict (torch.load(..., weights_only=True)).
A ResNet-50 run loads into `torchvision.models.resnet50()` with strict=True except fc.weight and fc.bias; a
CIFAR ResNet-18 run into torchvision's resnet18 with App. D's stem (conv1 3x3 stride 1, no max-pool), which
OUT.pth.json spells out. `--detectron2` also writes OUT.pkl, the pickled dict MoCo's detectron2 converter makes
(core/eval/backbone_export.py), for fine-tuning detection as in Table 5. OUT.pth.json records where the weights
came from, how
to build the model and how to normalize its input (the numbers: ImageNet's for an image folder, else the training
set's per-channel mean and std, read from the data, `--data-root DIR` where it has moved). Bad input gets one line
on stderr and exit code 2, and a failed export leaves nothing behind, a last.pt
that cannot be used too (--trust-checkpoint: docs/run-directory-safety.md).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

from core.config.hyperparameters import ConfigError
from core.runtime.checkpoint_policy import SAFE, CheckpointPolicy
from core.runtime.checkpoint_policy import add_arguments as add_checkpoint_flags
from core.schema.record import CONFIG
from sweeps.cli_errors import one_line_errors

IMAGENET_NORMALIZE = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}   # core.data.batches.FolderSource


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m sweeps.export", description=(
        "Take a pre-trained backbone out of the harness, for transfer: OUT.pth, a torchvision state dict; "
        "OUT.pth.json, how to build the model and normalize its input; with --detectron2, OUT.pkl for detectron2."))
    ap.add_argument("run_dir", help="a run directory (runs/<sweep>/<run id>) with a last.pt")
    ap.add_argument("out", help="where the torchvision state dict goes (e.g. resnet50_simsiam.pth)")
    ap.add_argument("--detectron2", action="store_true", help="also write OUT with suffix .pkl in detectron2's format")
    ap.add_argument("--data-root", help="where the run's training set is (default: its data.root): the input "
                    "normalization recorded in OUT.json is that set's per-channel mean and std")
    add_checkpoint_flags(ap, restart=False)       # --trust-checkpoint
    return ap.parse_args(argv)


def normalization(cfg, channels: int, data_root: str | None = None) -> dict:
    """The numbers the model's input is normalized with, as the run normalized it: ImageNet's for an image folder
    (core.data.batches.FolderSource), else the training set's per-channel mean and std (core.data.batches.ArraySource),
    repeated over R, G and B for a 1-channel set (the model then takes the gray image in all three)."""
    if cfg.data.dataset == "folder":
        return {**IMAGENET_NORMALIZE, "of": "ImageNet's statistics (core.data.batches.FolderSource)", "scale": "[0, 1]"}
    import dataclasses

    from core.data.batches import channel_stats
    from core.data.raw_images import DataError, load_arrays
    data_cfg = dataclasses.replace(cfg.data, root=data_root) if data_root else cfg.data
    try:
        data = load_arrays(data_cfg)
    except DataError as err:
        raise ConfigError(f"the input normalization is the training set's per-channel mean and std, and the set "
                          f"cannot be read: {err} (pass --data-root DIR)") from None
    mean, std = (t.flatten().tolist() for t in channel_stats(data.x_train))
    if channels == 1:
        mean, std = mean * 3, std * 3
    subset = f", data.train_subset {cfg.data.train_subset}" if cfg.data.train_subset else ""
    return {"mean": mean, "std": std, "scale": "[0, 1]",
            "of": f"the {cfg.data.dataset} training set ({len(data.y_train)} images{subset}), as "
                  "core.data.batches.ArraySource normalized it"}


def notes(cfg, step: int, finished: bool, channels: int, normalize: dict) -> dict:
    """OUT.json: provenance, how to build the model, what its input is."""
    from core.eval.backbone_export import HOW_TO_BUILD
    gray = ["trained on 1-channel images: conv1 takes 3 channels with the weights split evenly, so feed the "
            "normalized gray image repeated in R, G and B"] if channels == 1 else []
    return {"backbone": cfg.model.backbone, "build": HOW_TO_BUILD[cfg.model.backbone],
            "load": "model.load_state_dict(torch.load(OUT, weights_only=True), strict=False): missing fc.weight, "
                    "fc.bias only (replace fc, or set model.fc = torch.nn.Identity() for pool5 features)",
            "input": {"size": cfg.data.image_size, "channels": 3, "normalize": normalize},
            "step": step, "pretraining_finished": finished, "notes": gray}


def export(run_dir: Path, out: Path, detectron2: bool, data_root: str | None = None,
           checkpoints: CheckpointPolicy = SAFE) -> list[Path]:
    """Write OUT (and OUT.json, and with `detectron2` OUT.pkl); the paths written. Everything is made in memory
    first and written last: a failed export leaves no file and no directory behind."""
    if not (run_dir / CONFIG).is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no {CONFIG})")
    import io

    import torch

    from core.eval.backbone_export import ExportError, check_exportable, detectron2_checkpoint, torchvision_state_dict
    from core.eval.backbone_export import backbone_fit
    from core.runtime.checkpoint import load_final
    from core.runtime.run_directory import RunDir
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
    side = notes(cfg, ckpt["state"]["step"], rd.is_finished(), channels, normalization(cfg, channels, data_root))
    weights = io.BytesIO()
    torch.save(state, weights)
    record = json.dumps({"source": str(run_dir), **side}, indent=1) + "\n"
    files = {out: weights.getvalue(), out.with_name(out.name + ".json"): record.encode()}
    if detectron2:
        files[out.with_suffix(".pkl")] = pickle.dumps(detectron2_checkpoint(state))
    write_all(files)
    return list(files)


def write_all(files: dict[Path, bytes]) -> None:
    """Write every file (creating its directories), or, when any write fails, none: what was written and the
    directories made for it are removed, and the error is one line."""
    made, written = [], []
    try:
        for path in files:
            missing = [d for d in [path.parent, *path.parent.parents] if not d.exists()]
            for d in reversed(missing):
                d.mkdir()
                made.append(d)
        for path, data in files.items():
            tmp = path.with_name(f".{path.name}.tmp")
            written.append(tmp)
            tmp.write_bytes(data)
        for path in files:
            os.replace(path.with_name(f".{path.name}.tmp"), path)
            written.append(path)
    except BaseException as err:
        for path in written:
            path.unlink(missing_ok=True)
        for d in reversed(made):
            d.rmdir()
        if isinstance(err, OSError):
            raise ConfigError(f"export failed, nothing written: {err}") from None
        raise


def main(argv=None) -> int:
    args = parse_args(argv)
    for path in export(Path(args.run_dir), Path(args.out), args.detectron2, args.data_root,
                       CheckpointPolicy.from_args(args)):
        print(f"wrote {path}")
    return 0


def cli(argv=None) -> int:
    return one_line_errors(main, argv)


if __name__ == "__main__":
    sys.exit(cli())
