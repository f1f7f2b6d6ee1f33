"""Where each run of a sweep stands, from its run directory alone (and squeue, when there is one):

    python -m sweeps.status NAME [--runs-dir runs]       (also: python -m sweeps.run NAME --status)

Per run: case, seed, state, SLURM job id, last logged epoch. The state is one of
    new | partial (epoch E)          nobody is working on it (a re-run or re-submission resumes it)
    pending                          its SLURM job is queued (or requeued)
    running                          its SLURM job, or a local process, is training it
    done: STATUS | failed: REASON    result.json exists
It needs no torch and no submitit, and works after the submitting shell is gone: the claim file
(sweeps.runlock) names the job, attempts.jsonl the jobs that ran it, metrics.jsonl the progress.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sweeps import runlock
from core.rundir import read_jsonl
from sweeps.state import last_epoch, run_state

RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING"}


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def last_job(run_dir: Path) -> str | None:
    """The job id of the latest attempt (attempts.jsonl), else the one meta.json records."""
    job = _json(run_dir / "meta.json").get("slurm_job_id")
    for row in read_jsonl(run_dir / "attempts.jsonl"):
        job = row.get("job_id") or job
    return job


def run_status(run_dir: Path, queue: runlock.Queue) -> dict:
    run_dir = Path(run_dir)
    meta = _json(run_dir / "meta.json")
    state, job = run_state(run_dir), None
    if state == "done: failed":
        state = f"failed: {_json(run_dir / 'result.json').get('reason') or 'no reason recorded'}"
    claim = runlock.read(run_dir)
    if claim is not None and not state.startswith(("done", "failed")) and runlock.stale_reason(claim, queue) is None:
        job = claim.get("job_id")
        if job is None:
            state = "running" if claim.get("kind") == "local" else "pending"
        else:
            sstate = queue.state(job)
            state = "running" if sstate in RUNNING else "pending" if sstate else "pending or running (no squeue)"
    return {"run_id": run_dir.name, "case": meta.get("case", "?"), "seed": meta.get("seed", "?"), "state": state,
            "job_id": job or last_job(run_dir) or "-", "epoch": last_epoch(run_dir)}


def sweep_status(run_dirs: list[Path]) -> list[dict]:
    queue = runlock.Queue()
    queue.prefetch((runlock.read(d) or {}).get("job_id") for d in run_dirs)
    return [run_status(d, queue) for d in run_dirs]


def run_dirs_of(sweep: str, runs_dir: Path) -> list[Path]:
    """The run directories under runs_dir/SWEEP (a sweep file's path names its sweep by its stem)."""
    root = Path(runs_dir) / Path(sweep).stem if sweep.endswith((".yaml", ".yml")) else Path(runs_dir) / sweep
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if (d / "meta.json").exists() or (d / "config.yaml").exists())


def format_table(rows: list[dict]) -> str:
    head = ("run", "case", "seed", "state", "job", "epoch")
    body = [(r["run_id"], str(r["case"]), str(r["seed"]), r["state"], str(r["job_id"]),
             "-" if r["epoch"] is None else f"{r['epoch']:g}") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *body])


def summary(rows: list[dict]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        key = r["state"].split(":")[0].split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in counts.items()) or "no runs"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sweeps.status", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep", help="sweep name (or its file)")
    ap.add_argument("--runs-dir", default="runs", help="root of run directories (default: runs/)")
    args = ap.parse_args(argv)
    dirs = run_dirs_of(args.sweep, Path(args.runs_dir))
    if not dirs:
        print(f"error: no run directories under {Path(args.runs_dir) / Path(args.sweep).stem}", file=sys.stderr)
        return 2
    rows = sweep_status(dirs)
    print(format_table(rows))
    print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
