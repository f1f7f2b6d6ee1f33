"""The optimizer of f and h (Sec. 3: SGD, wd on all parameters; LARS as Sec. 4.3's remark) and the lr of its
parameter groups at a fractional epoch (cosine with warm-up; h's lr constant as Table 1c)."""
from __future__ import annotations

import torch

from core.config import hyperparameters as C
from core.optim.lars import LARS
from core.optim.schedule import lr_at, warmup_factor


def build_optimizer(cfg: C.Config, model, lr: float) -> torch.optim.Optimizer:
    """Param groups 'encoder' (f) and, when h has trainable parameters, 'predictor'; wd on all (Sec. 3)."""
    groups = [{"params": model.encoder_parameters(), "name": "encoder"}]
    if model.predictor_parameters():
        groups.append({"params": model.predictor_parameters(), "name": "predictor"})
    o = cfg.optim
    if o.optimizer == "lars":
        return LARS(groups, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay, trust=o.lars_trust)
    return torch.optim.SGD(groups, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, cfg: C.Config, peak_lr: float, epoch: float,
           epochs: float | None = None) -> float:
    """Cosine (with warm-up) for f; h the same, or held at the peak after warm-up (Table 1c). `epoch` is the
    step's fractional epoch; optim.lr_every (read here only) says whether the lr changes every step or once per
    epoch, as main_simsiam.py (core/optim/schedule.py)."""
    o = cfg.optim
    lr = lr_at(peak_lr, epoch, o.epochs if epochs is None else epochs, o.warmup_epochs, o.lr_every)
    ramp = warmup_factor(epoch, o.warmup_epochs, o.lr_every)
    for group in optimizer.param_groups:
        constant = group["name"] == "predictor" and o.pred_lr == "constant"
        value = peak_lr * ramp if constant else lr
        if isinstance(group["lr"], torch.Tensor):       # run.compile_step: filled in place (see lr_as_tensor)
            group["lr"].fill_(value)
        else:
            group["lr"] = value
    return lr
