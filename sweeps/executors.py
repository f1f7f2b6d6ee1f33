"""Executors: `inline` (this process; tests and debugging) and `local` (one subprocess per run, `--jobs` at a time).

Both take prepared run directories (config.yaml and meta.json written) and leave each with a result.json.
The `slurm` executor plugs in here with the same signature.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sweeps.expand import RunSpec

REPO = Path(__file__).resolve().parent.parent


def run_inline(specs: list[RunSpec], jobs: int = 1) -> None:
    from sweeps.worker import run_one
    for n, spec in enumerate(specs, 1):
        print(f"[{n}/{len(specs)}] {spec.case} seed {spec.seed}: {spec.run_dir}", flush=True)
        run_one(str(spec.run_dir))


def run_local(specs: list[RunSpec], jobs: int = 1) -> None:
    """Each run in its own Python process, so one crash cannot take the sweep down; `jobs` at a time,
    each with cores/jobs torch threads."""
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    queue, running, n = list(specs), [], 0
    try:
        while queue or running:
            while queue and len(running) < jobs:
                spec = queue.pop(0)
                n += 1
                print(f"[{n}/{len(specs)}] start {spec.case} seed {spec.seed}: {spec.run_dir}", flush=True)
                running.append(subprocess.Popen([sys.executable, "-m", "sweeps.worker", str(spec.run_dir)], env=env, cwd=REPO))
            time.sleep(0.2)
            running = [p for p in running if p.poll() is None]
    finally:  # interrupted: ask the runs to checkpoint and stop (SIGTERM), so a re-run resumes them
        for p in running:
            p.terminate()
        for p in running:
            p.wait()


EXECUTORS = {"inline": run_inline, "local": run_local}
