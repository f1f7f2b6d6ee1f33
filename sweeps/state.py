"""What a run directory says about a run's progress (no torch)."""
from __future__ import annotations

import json
from pathlib import Path


def run_state(run_dir: Path) -> str:
    """'new', 'partial (epoch E)' or 'done: STATUS'."""
    run_dir = Path(run_dir)
    result = run_dir / "result.json"
    if result.exists():
        try:
            return f"done: {json.loads(result.read_text())['status']}"
        except (json.JSONDecodeError, KeyError):
            return "partial (unreadable result.json)"
    metrics = run_dir / "metrics.jsonl"
    if metrics.exists():
        epoch = 0.0
        for line in metrics.read_text().splitlines():
            try:
                epoch = max(epoch, float(json.loads(line).get("epoch", 0.0)))
            except (json.JSONDecodeError, TypeError, ValueError):
                continue
        return f"partial (epoch {epoch:g})"
    return "new"


def is_done(run_dir: Path) -> bool:
    return run_state(run_dir).startswith("done")
