"""Evaluation of the frozen backbone: kNN monitor (Fig. 2 right), the spread of its features, and the linear
probe on cached features (eval.linear sgd). Features are extracted once per evaluation point and shared by all
three. The paper's own linear evaluation (eval.linear paper) trains on augmented crops instead:
core.eval.linear_eval."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.config.hyperparameters import EvalConfig
from core.eval.linear_eval import describe
from core.eval.linear_probe import linear_probe
from core.eval.monitors import accuracy, effective_rank, knn_predict, z_std

KNN_CHUNK = 1024          # kNN queries per similarity matrix (chunk x bank floats)


@dataclass(frozen=True)
class Features:
    """Pool5 features of both splits, backbone in eval mode: the kNN bank (train) and the queries (test)."""
    bank: torch.Tensor          # (N_train, D)
    bank_y: torch.Tensor        # (N_train,)
    query: torch.Tensor         # (N_test, D)
    query_y: torch.Tensor       # (N_test,)


@torch.no_grad()
def extract_features(backbone: torch.nn.Module, source, split: str,
                     batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pool5 features (N, D) and labels (N,) of a split, backbone in eval mode (BN running statistics), in batches
    of `batch_size` images (None: the source's own, 1024 for the in-memory data sets)."""
    was_training = backbone.training
    backbone.eval()
    feats, labels = [], []
    for x, y in source.eval_batches(split, **({} if batch_size is None else {"batch_size": batch_size})):
        feats.append(backbone(x).float())
        labels.append(y)
    backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels)


def features(backbone: torch.nn.Module, source, batch_size: int | None = None) -> Features:
    return Features(*extract_features(backbone, source, "train", batch_size),
                    *extract_features(backbone, source, "test", batch_size))


def knn_accuracy(feats: Features, num_classes: int, cfg: EvalConfig, chunk: int = KNN_CHUNK) -> float:
    """Weighted kNN top-1 (%): training set as the bank, test set as the queries, `chunk` queries at a time."""
    pred = knn_predict(feats.query, feats.bank, feats.bank_y, num_classes, cfg.knn_k, cfg.knn_t, chunk)
    return accuracy(pred, feats.query_y)


def backbone_spread(feats: Features) -> dict:
    """Per-channel std and effective rank of the l2-normalized backbone features of the test images: where a
    collapse sits (head or backbone) shows in these beside z_std and z_erank of the projector output."""
    return {"backbone_std": z_std(feats.query).item(), "backbone_erank": effective_rank(feats.query).item()}


def monitor(feats: Features, num_classes: int, cfg: EvalConfig, chunk: int = KNN_CHUNK) -> dict:
    """What a kNN point logs: kNN accuracy and the backbone's spread."""
    return {"knn_acc": knn_accuracy(feats, num_classes, cfg, chunk), **backbone_spread(feats)}


def linear_accuracy(feats: Features, num_classes: int, cfg: EvalConfig, seed: int) -> float | None:
    """Linear probe top-1 (%) on the cached features, or None when eval.linear is none."""
    if cfg.linear != "sgd":
        return None
    with torch.enable_grad():
        return linear_probe(feats.bank, feats.bank_y, feats.query, feats.query_y, num_classes, cfg.linear_epochs,
                            cfg.linear_lr, cfg.linear_batch, seed)


def protocol(cfg: EvalConfig, n_train: int, n_test: int) -> dict:
    """What `result.json` records about how its accuracies were measured."""
    return {"features": "backbone pool5, eval-mode BN, no augmentation", "bank": f"train ({n_train} images)",
            "queries": f"test ({n_test} images)", "knn_k": cfg.knn_k, "knn_t": cfg.knn_t,
            "backbone_spread": "std and effective rank of the l2-normalized features of the queries",
            "linear": linear_protocol(cfg)}


def linear_protocol(cfg: EvalConfig) -> str:
    """How linear_acc is measured (eval.linear), in one line."""
    if cfg.linear == "sgd":
        return (f"SGD m0.9 on cached standardized features, {cfg.linear_epochs} ep, lr {cfg.linear_lr}, "
                f"batch {cfg.linear_batch}, cosine, wd 0, no augmentation")
    if cfg.linear == "paper":                                    # a stage after pre-training: core.eval.linear_eval
        return describe(cfg)
    return "none"
