"""Evaluation of the frozen backbone: kNN monitor (Fig. 2 right) and linear probe (Sec. 3.3)."""
from __future__ import annotations

import torch

from core.config import EvalConfig
from core.linear_probe import linear_probe
from core.monitors import accuracy, knn_predict


@torch.no_grad()
def extract_features(backbone: torch.nn.Module, source, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pool5 features (N, D) and labels (N,) of a split, backbone in eval mode (BN running statistics)."""
    was_training = backbone.training
    backbone.eval()
    feats, labels = [], []
    for x, y in source.eval_batches(split):
        feats.append(backbone(x).float())
        labels.append(y)
    backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels)


def knn_accuracy(backbone, source, cfg: EvalConfig) -> float:
    """Weighted kNN top-1 (%): training set as the bank, test set as the queries."""
    return final_evaluation(backbone, source, cfg, seed=0, linear=False)["knn_acc"]


def final_evaluation(backbone, source, cfg: EvalConfig, seed: int, linear: bool = True) -> dict:
    """kNN and (if `linear` and configured) linear accuracy of the backbone."""
    bank, bank_y = extract_features(backbone, source, "train")
    query, query_y = extract_features(backbone, source, "test")
    out = {"knn_acc": accuracy(knn_predict(query, bank, bank_y, source.num_classes, cfg.knn_k, cfg.knn_t), query_y),
           "linear_acc": None}
    if linear and cfg.linear == "sgd":
        with torch.enable_grad():
            out["linear_acc"] = linear_probe(bank, bank_y, query, query_y, source.num_classes, cfg.linear_epochs,
                                             cfg.linear_lr, cfg.linear_batch, seed)
    return out


def protocol(cfg: EvalConfig, n_train: int, n_test: int) -> dict:
    """What `result.json` records about how its accuracies were measured."""
    return {"features": "backbone pool5, eval-mode BN, no augmentation", "bank": f"train ({n_train} images)",
            "queries": f"test ({n_test} images)", "knn_k": cfg.knn_k, "knn_t": cfg.knn_t,
            "linear": (f"SGD m0.9 on cached standardized features, {cfg.linear_epochs} ep, lr {cfg.linear_lr}, "
                       f"batch {cfg.linear_batch}, cosine, wd 0, no augmentation") if cfg.linear == "sgd" else "none"}
