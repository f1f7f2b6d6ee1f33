"""Executors on this machine: `inline` (this process; tests and debugging) and `local` (one subprocess per run,
`--jobs` at a time). The third, `slurm` (a submitit job array), is sweeps.slurm.submit, which sweeps.run
calls itself; it imports `take` from here, and nothing here imports sweeps.slurm.

All take prepared run directories (config.yaml and meta.json written). Each run is claimed first
(sweeps.runlock), so two sweeps started at once on the same runs directory never train the same run twice:
a run another live process or job holds is skipped, and one that finished meanwhile is not run again.
inline and local leave each run they ran with a result.json; slurm submits and returns.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.checkpoint_policy import SAFE, CheckpointPolicy
from sweeps import runlock
from sweeps.expand import RunSpec
from sweeps.status import is_finished

REPO = Path(__file__).resolve().parent.parent


def take(spec: RunSpec, claim: dict, queue: runlock.Queue | None = None) -> bool:
    """Claim `spec` for `claim`; False (with a line saying why) if someone else has it or it is done."""
    held = runlock.acquire(spec.run_dir, claim, queue)
    if held is not None:
        print(f"  skip {spec.run_id}: {runlock.describe(held)} has it", flush=True)
        return False
    if is_finished(spec.run_dir):               # finished by another process since the sweep looked
        runlock.release(spec.run_dir, claim)
        print(f"  skip {spec.run_id}: finished meanwhile", flush=True)
        return False
    return True


def run_inline(specs: list[RunSpec], jobs: int = 1, checkpoints: CheckpointPolicy = SAFE, **_) -> None:
    from sweeps.worker import run_one
    for n, spec in enumerate(specs, 1):
        claim = runlock.new_claim("local")
        if not take(spec, claim):
            continue
        print(f"[{n}/{len(specs)}] {spec.case} seed {spec.seed}: {spec.run_dir}", flush=True)
        try:
            run_one(str(spec.run_dir), checkpoints)
        finally:
            runlock.release(spec.run_dir, claim)


def run_local(specs: list[RunSpec], jobs: int = 1, checkpoints: CheckpointPolicy = SAFE, **_) -> None:
    """Each run in its own Python process, so one crash cannot take the sweep down; `jobs` at a time,
    each with cores/jobs torch threads. The claim names this process and the run's process."""
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    queue, running, n = list(specs), [], 0     # running: (process, spec, claim)
    old_term = None
    if threading.current_thread() is threading.main_thread():   # `kill` of the sweep stops its runs too
        old_term = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                spec = queue.pop(0)
                n += 1
                claim = runlock.new_claim("local")
                if not take(spec, claim):
                    continue
                print(f"[{n}/{len(specs)}] start {spec.case} seed {spec.seed}: {spec.run_dir}", flush=True)
                cmd = [sys.executable, "-m", "sweeps.worker", str(spec.run_dir), *checkpoints.flags()]
                proc = subprocess.Popen(cmd, env=env, cwd=REPO)
                claim = {**claim, "pids": claim["pids"] + [[proc.pid, runlock.process_start(proc.pid)]]}
                runlock.update(spec.run_dir, claim)
                running.append((proc, spec, claim))
            time.sleep(0.2)
            for proc, spec, claim in [r for r in running if r[0].poll() is not None]:
                runlock.release(spec.run_dir, claim)
                running.remove((proc, spec, claim))
    finally:  # interrupted: ask the runs to checkpoint and stop (SIGTERM), so a re-run resumes them
        for proc, _, _ in running:
            proc.terminate()
        for proc, spec, claim in running:
            proc.wait()
            runlock.release(spec.run_dir, claim)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _exit_on_sigterm(signum, frame):
    """SIGTERM to the sweep: leave through run_local's `finally`, which stops each run at a checkpoint."""
    raise SystemExit(128 + signum)


EXECUTORS = {"inline": run_inline, "local": run_local}     # the third, slurm, submits and returns: sweeps.slurm
