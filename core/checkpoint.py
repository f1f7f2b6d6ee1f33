"""Rolling checkpoints, written atomically; the previous one is kept. Pre-training's is `last.pt` (the previous:
`prev.pt`); the paper's linear evaluation (core/linear_eval.py) keeps its own pair under other names."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

PRETRAIN = ("last.pt", "prev.pt")          # (newest, previous)
LINEAR = ("linear.pt", "linear.prev.pt")   # the paper's linear evaluation, a stage after pre-training


def save_checkpoint(run_dir: Path, state: dict, names: tuple[str, str] = PRETRAIN) -> None:
    path, prev = Path(run_dir) / names[0], Path(run_dir) / names[1]
    tmp = path.with_name(f".{names[0]}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        os.replace(path, prev)
    os.replace(tmp, path)


def load_checkpoint(run_dir: Path, map_location="cpu", names: tuple[str, str] = PRETRAIN) -> dict | None:
    """The newest readable checkpoint (names[0], else names[1]), or None. A corrupt file is skipped with a warning."""
    for name in names:
        path = Path(run_dir) / name
        if not path.exists():
            continue
        try:
            return torch.load(path, map_location=map_location, weights_only=False)
        except Exception as err:  # truncated or corrupt file: fall back to the previous one
            warnings.warn(f"{path}: unreadable checkpoint ({type(err).__name__}: {err}); trying an older one")
    return None


def drop_previous(run_dir: Path, names: tuple[str, str] = PRETRAIN) -> None:
    """Delete the previous checkpoint (names[1]) of a run that has ended: run.keep_checkpoints 1."""
    (Path(run_dir) / names[1]).unlink(missing_ok=True)
