"""Whether a pre-training checkpoint fits the run it would resume (core.train.loop): the checks of
core.runtime.checkpoint_fit applied to everything the loop saves."""
from __future__ import annotations

import torch

from core.runtime.checkpoint import Unusable
from core.runtime.checkpoint_fit import optimizer_fits, same_layout, step_of
from core.train.state import TrainState


def pretraining_fit(model, optimizer, targets, objective):
    """last.pt / prev.pt for core.train.loop's resume (the keys core.train.loop saves; "eta" is the pre-Sec. 6
    "targets")."""
    def check(ckpt: dict) -> None:
        same_layout(ckpt["model"], model.state_dict(), "model")
        optimizer_fits(ckpt["optimizer"], optimizer)
        same_layout(ckpt["torch_rng"], torch.get_rng_state(), "torch_rng")
        if ckpt["torch_rng"].dtype != torch.uint8:
            raise Unusable(f"does not fit: torch_rng is {ckpt['torch_rng'].dtype}, not an RNG state (uint8)")
        same_layout(ckpt.get("targets", ckpt.get("eta")), targets.state_dict(), "targets")
        same_layout(ckpt.get("objective"), objective.state_dict(), "objective")
        step_of(ckpt)
        TrainState.from_dict(ckpt["state"])
    return check
