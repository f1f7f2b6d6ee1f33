"""Does a checkpoint fit what it is loaded into? Checks that read and never write, so a checkpoint found not to
fit leaves the model, optimizer and targets as they were: an older checkpoint, or a fresh start, can follow.

Each `*_fit(...)` returns a function of the loaded checkpoint dict that raises core.runtime.checkpoint.Unusable, saying
what does not fit, or returns None. They check what loading would need: the same keys and tensor shapes as the
live objects' state dicts, the optimizer's parameter groups, the RNG state's size, the typed training state.
"""
from __future__ import annotations

import torch

from core.runtime.checkpoint import Unusable


def same_layout(saved, live, where: str) -> None:
    """`saved` has `live`'s structure: the same dict keys, tensors of the same shapes, numbers for numbers."""
    if isinstance(live, torch.Tensor):
        if not isinstance(saved, torch.Tensor):
            raise Unusable(f"does not fit: {where} is a {type(saved).__name__}, not a tensor")
        if saved.shape != live.shape:
            raise Unusable(f"does not fit: {where} has shape {tuple(saved.shape)}, the model's {tuple(live.shape)}")
    elif isinstance(live, dict):
        if not isinstance(saved, dict):
            raise Unusable(f"does not fit: {where} is a {type(saved).__name__}, not a dict")
        missing, extra = sorted(live.keys() - saved.keys(), key=str), sorted(saved.keys() - live.keys(), key=str)
        if missing or extra:
            raise Unusable(f"does not fit: {where} lacks {len(missing)} keys {missing[:2]} and has {len(extra)} "
                           f"others {extra[:2]}")
        for key, value in live.items():
            same_layout(saved[key], value, f"{where}.{key}")
    elif live is None:
        if saved is not None:
            raise Unusable(f"does not fit: {where} holds a {type(saved).__name__}; this run keeps none")
    elif isinstance(live, (int, float)) and not isinstance(saved, (int, float)):
        raise Unusable(f"does not fit: {where} is a {type(saved).__name__}, not a number")


def optimizer_fits(saved, optimizer: torch.optim.Optimizer, where: str = "optimizer") -> None:
    """The same parameter groups with as many parameters each, and per-parameter tensors of their shapes."""
    if not (isinstance(saved, dict) and isinstance(saved.get("param_groups"), list)
            and isinstance(saved.get("state"), dict)):
        raise Unusable(f"does not fit: {where} is not an optimizer's state")
    groups, live = saved["param_groups"], optimizer.param_groups
    if len(groups) != len(live):
        raise Unusable(f"does not fit: {where} has {len(groups)} parameter groups, this run's {len(live)}")
    shapes = {}
    for i, (group, mine) in enumerate(zip(groups, live)):
        if len(group["params"]) != len(mine["params"]):
            raise Unusable(f"does not fit: {where} group {i} has {len(group['params'])} parameters, this run's "
                           f"{len(mine['params'])}")
        shapes.update({pid: p.shape for pid, p in zip(group["params"], mine["params"])})
    for pid, entry in saved["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != shapes.get(pid):
                raise Unusable(f"does not fit: {where} state {key} of parameter {pid} has shape "
                               f"{tuple(value.shape)}, the parameter {tuple(shapes[pid]) if pid in shapes else None}")


def weights_fit(model_state: dict, prefix: str = ""):
    """A finished run's checkpoint read for its weights: "model" holds `model_state`'s keys under `prefix`
    (shapes as there), and "state" its step."""
    def check(ckpt: dict) -> None:
        saved = ckpt["model"]
        if not isinstance(saved, dict):
            raise Unusable(f"does not fit: model is a {type(saved).__name__}, not a state dict")
        same_layout({k: v for k, v in saved.items() if k.startswith(prefix)},
                    {k: v for k, v in model_state.items() if k.startswith(prefix)}, "model")
        step_of(ckpt)
    return check


def linear_fit(classifier, optimizer):
    """linear.pt / linear.prev.pt for core.eval.linear_eval's stage."""
    def check(ckpt: dict) -> None:
        same_layout(ckpt["classifier"], classifier.state_dict(), "classifier")
        optimizer_fits(ckpt["optimizer"], optimizer)
        step_of(ckpt)
        state = ckpt["state"]
        if not (isinstance(ckpt["protocol"], dict) and isinstance(state["pretrain_step"], int)
                and isinstance(state["top1"], list) and isinstance(state["lr"], list)):
            raise Unusable("does not fit: not a linear evaluation's state (protocol, pretrain_step, top1, lr)")
    return check


def step_of(ckpt: dict) -> int:
    step = ckpt["state"]["step"]
    if type(step) is not int or step < 0:
        raise Unusable(f"does not fit: state.step is {step!r}, not a step count")
    return step
