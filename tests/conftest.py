"""Shared fixtures: a tiny config on the synthetic data set that trains in about a second."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TINY = {
    # width 8, not 4: at 4 input channels oneDNN's AVX2 1x1 convolution backward (channels_last, which the cpu
    # preset sets and torch.compile picks) corrupts the heap on an AMD EPYC ("double free or corruption", or a
    # hang); at 8 and up, as every preset has, it does not.
    "data.dataset": "synthetic", "data.image_size": 16, "data.train_subset": 128, "data.test_subset": 64,
    "model.backbone": "small_resnet", "model.small_width": 8, "model.proj_layers": 2, "model.proj_hidden": 32,
    "model.dim": 16, "model.pred_hidden": 4, "optim.batch_size": 32, "optim.epochs": 2,
    "augment.blur_p": 0.0, "eval.knn_k": 20, "eval.linear_epochs": 2, "eval.linear_batch": 32, "run.log_every": 2,
    "run.device": "cpu",
    "run.keep_checkpoints": 2,      # prev.pt stays after a run ends, so a test can resume from one checkpoint back
}


# One short run per code path of the training step (tiny_config overrides), shared by the tests that check a
# property on every path (no host sync between logging points, the compiled step's losses)
ABLATION_PATHS = {
    "default": {}, "asym2x": {"loss__symmetry": "asym2x"}, "k-step": {"target__k_steps": 4},
    "moving-average": {"target__eta": "moving_average", "model__predictor": "none"},
    "lars": {"optim__optimizer": "lars"}, "frozen-h": {"model__predictor": "frozen"},
    "moco": {"loss__objective": "infonce", "loss__negatives": "queue", "loss__queue_size": 64,
             "target__momentum": 0.9, "model__predictor": "none"},
    "swav": {"loss__objective": "swav", "loss__prototypes": 10, "model__predictor": "none"},
}


def tiny_config(**overrides):
    from core.config.hyperparameters import Config, apply_overrides
    return apply_overrides(Config(), {**TINY, **{k.replace("__", "."): v for k, v in overrides.items()}}, "tiny")


@pytest.fixture
def tiny():
    return tiny_config


def expanded_config(sweep, case: str, seed: int, preset: str = "cpu", sets: dict | None = None,
                    grid: dict | None = None) -> dict:
    """config.yaml (nested) of one run of `sweep` (a core.schema.sweep_format.Sweep) as sweeps.run writes it, from
    the real
    expansion (sweeps.expand; no torch): fixture run trees whose configs are what a sweep makes."""
    from core.config.hyperparameters import to_dict
    from sweeps.expand import expand
    specs = expand(sweep, preset, Path("runs"), [seed], sets or None, [case])
    return to_dict(next(s.config for s in specs if grid is None or s.grid == grid))


def record_group(run_dir: Path, overrides: dict) -> None:
    """Write into a fixture run's meta.json the group a sweep records when it creates a run (sweeps.expand:
    core.config.run_groups), from the run's config.yaml as it stands and its case's `overrides`: a run written by
    hand, grouped as the real expansion would group it."""
    import json

    import yaml

    from core.config.run_groups import recorded_group
    from core.schema.group_record import GROUP_KEY
    meta = json.loads((run_dir / "meta.json").read_text())
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, GROUP_KEY: recorded_group(config, meta, overrides)}))


def image_folder(root: Path) -> Path:
    """Write a tiny ImageNet-style folder into `root`: 3 classes (cat, dog, emu), 24 training and 6 validation
    PNGs each, of varied sizes, each class tinted in its own channel; the same pixels every time."""
    import torch
    from PIL import Image
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 24), ("val", 6)):
        for c, name in enumerate(("cat", "dog", "emu")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                px = torch.randint(0, 256, (20 + 2 * (i % 3), 24, 3), generator=g, dtype=torch.uint8)
                px[..., c] = px[..., c] // 2 + 128
                Image.fromarray(px.numpy()).save(root / split / name / f"{i}.png")
    return root
