"""How the training step runs on its device: numeric precision, memory format, compilation, backend flags.

Three `RunConfig` fields choose it; the defaults (fp32, NCHW, eager) change nothing, so CPU runs stay bit for
bit what they were:
- `run.precision: bf16` runs the forward pass under bf16 autocast (CUDA: convolutions and matrix products in
  bf16, reductions and the loss in fp32). The outputs p, z are cast back to fp32, so the loss, the z_std
  monitor and the moving-average targets are computed in fp32. Backward follows autocast; no loss scaling is
  needed for bf16. On CPUs without AVX-512/AMX bf16 is about 11x slower than fp32 (paper notes, Sec. 8).
- `run.channels_last: true` stores the model's 4-D weights and the input views as NHWC, which tensor-core
  convolutions want (CUDA); it changes which kernels run, so results differ in the last bits.
- `run.compile: true` wraps the model's forward in torch.compile (`nn.Module.compile`, in place, so the
  state_dict keys and checkpoints are unchanged). The first steps pay the compile time. `run.compile_step`
  compiles the whole training step instead (core/train/step.py).
On CUDA `configure_backends` also turns on cudnn.benchmark (the input shape is fixed for a whole run).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from core.config.hyperparameters import RunConfig


def configure_backends(device: torch.device) -> None:
    """Process-wide backend flags for training on `device` (cudnn autotuning on CUDA; nothing on CPU)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def prepare_model(model: nn.Module, run: RunConfig) -> nn.Module:
    """Apply `run.channels_last` and `run.compile` to `model` in place; returns it. No-op at the defaults."""
    if run.channels_last:
        model.to(memory_format=torch.channels_last)
    if run.compile:
        model.compile()
    return model


def autocast(device: torch.device, precision: str):
    """The autocast context for the forward pass: bf16 autocast, or nothing at all for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def encode(f, x: torch.Tensor, run: RunConfig) -> torch.Tensor:
    """f(x) at `run`'s precision and memory format, as fp32 (the target encoder's pass; core.objective.targets)."""
    if run.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(x.device, run.precision):
        out = f(x)
    return out.float()


def forward(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor, run: RunConfig):
    """(p1, p2, z1, z2) = model(x1, x2) at `run`'s precision and memory format, each returned as fp32.

    At the defaults this is exactly `model(x1, x2)` (`.float()` of an fp32 tensor is the tensor itself).
    """
    if run.channels_last:
        x1, x2 = (x.contiguous(memory_format=torch.channels_last) for x in (x1, x2))
    with autocast(x1.device, run.precision):
        out = model(x1, x2)
    return tuple(t.float() for t in out)
