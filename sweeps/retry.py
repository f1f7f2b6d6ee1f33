"""`sweeps.run --retry-failed`: a failed run (result.json with status failed) is finished and never trained again,
unless asked. Retrying makes it unfinished again, keeping what it had: its checkpoint (the next attempt resumes
from last.pt, or starts over without one) and the record of the failure, appended to failures.jsonl (the failed
result.json and the traceback of error.txt). SLURM's attempts.jsonl starts afresh, so the retry bound counts the
new attempts only."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from core.schema.record import FAILED, METRICS, RESULT, read_result
from sweeps.words import one_line

FAILURES = "failures.jsonl"


def checkpoint_step(run_dir: Path) -> int | None:
    """How far a retry resumes from: the last logged step when a checkpoint exists (None: it starts over)."""
    run_dir = Path(run_dir)
    if not any((run_dir / f).exists() for f in ("last.pt", "prev.pt")):
        return None
    from core.schema.record import read_jsonl
    return max((int(r.get("step") or 0) for r in read_jsonl(run_dir / METRICS)), default=0)


def reset_failed(run_dir: Path) -> dict:
    """Make a failed run unfinished again (module docstring); the failed result it had."""
    run_dir = Path(run_dir)
    result = read_result(run_dir)
    assert result is not None and result["status"] == FAILED, run_dir
    error = run_dir / "error.txt"
    entry = {"retried_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "result": result,
             "error": error.read_text(errors="replace") if error.exists() else None}
    with open(run_dir / FAILURES, "a") as fh:
        fh.write(json.dumps(entry) + "\n")
    (run_dir / RESULT).unlink()
    error.unlink(missing_ok=True)
    (run_dir / "attempts.jsonl").unlink(missing_ok=True)
    return result


def retry(run_dirs: list[Path], dry_run: bool) -> list[str]:
    """Reset each failed run of `run_dirs` (unless dry_run); lines saying what was (or would be) retried and from
    where."""
    lines = []
    for run_dir in run_dirs:
        result = read_result(run_dir) or {}
        step = checkpoint_step(run_dir)
        start = "starts over (no checkpoint)" if step is None else f"resumes from its checkpoint (step {step})"
        what = "would retry" if dry_run else "retry"
        lines.append(f"  {what} {Path(run_dir).name}: it failed ({one_line(result.get('reason'), 120)}); {start}")
        if not dry_run:
            reset_failed(run_dir)
    return lines
