"""What a run directory says about a run's progress (no torch)."""
from __future__ import annotations

import json
from pathlib import Path

from core.rundir import read_jsonl


def last_epoch(run_dir: Path) -> float | None:
    """The latest logged epoch in metrics.jsonl (torn lines skipped), or None if nothing was logged."""
    epochs = []
    for row in read_jsonl(Path(run_dir) / "metrics.jsonl"):
        try:
            epochs.append(float(row["epoch"]))
        except (KeyError, TypeError, ValueError):
            continue
    return max(epochs, default=None)


def run_state(run_dir: Path) -> str:
    """'new', 'partial (epoch E)' or 'done: STATUS'."""
    run_dir = Path(run_dir)
    result = run_dir / "result.json"
    if result.exists():
        try:
            return f"done: {json.loads(result.read_text())['status']}"
        except (json.JSONDecodeError, KeyError):
            return "partial (unreadable result.json)"
    if (run_dir / "metrics.jsonl").exists():
        return f"partial (epoch {last_epoch(run_dir) or 0.0:g})"
    return "new"


def is_done(run_dir: Path) -> bool:
    return run_state(run_dir).startswith("done")
