"""Shared fixtures: a tiny config on the synthetic data set that trains in about a second."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TINY = {
    "data.dataset": "synthetic", "data.image_size": 16, "data.train_subset": 128, "data.test_subset": 64,
    "model.backbone": "small_resnet", "model.small_width": 4, "model.proj_layers": 2, "model.proj_hidden": 32,
    "model.dim": 16, "model.pred_hidden": 4, "optim.batch_size": 32, "optim.epochs": 2,
    "augment.blur_p": 0.0, "eval.knn_k": 20, "eval.linear_epochs": 2, "run.log_every": 2, "run.device": "cpu",
}


def tiny_config(**overrides):
    from core.config import Config, apply_overrides
    return apply_overrides(Config(), {**TINY, **{k.replace("__", "."): v for k, v in overrides.items()}}, "tiny")


@pytest.fixture
def tiny():
    return tiny_config
