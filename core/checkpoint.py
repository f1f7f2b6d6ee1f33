"""Rolling checkpoint `last.pt`, written atomically; the previous one is kept as `prev.pt`."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch


def save_checkpoint(run_dir: Path, state: dict) -> None:
    path, prev = Path(run_dir) / "last.pt", Path(run_dir) / "prev.pt"
    tmp = path.with_name(f".last.pt.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        os.replace(path, prev)
    os.replace(tmp, path)


def load_checkpoint(run_dir: Path, map_location="cpu") -> dict | None:
    """The newest readable checkpoint (last.pt, else prev.pt), or None. A corrupt file is skipped with a warning."""
    for name in ("last.pt", "prev.pt"):
        path = Path(run_dir) / name
        if not path.exists():
            continue
        try:
            return torch.load(path, map_location=map_location, weights_only=False)
        except Exception as err:  # truncated or corrupt file: fall back to the previous one
            warnings.warn(f"{path}: unreadable checkpoint ({type(err).__name__}: {err}); trying an older one")
    return None
