"""Executors on this machine: `inline` (this process; tests and debugging) and `local` (one subprocess per run,
`--jobs` at a time). The third, `slurm` (a submitit job array), is sweeps.slurm.submit, which sweeps.run
calls itself; it imports `take` from here, and nothing here imports sweeps.slurm.

All take prepared run directories (config.yaml and meta.json written). Each run is claimed first
(sweeps.runlock), so two sweeps started at once on the same runs directory never train the same run twice:
a run another live process or job holds is skipped, and one that finished meanwhile is not run again.
inline and local leave each run they ran with a result.json, unless a stop signal interrupted it (the sweep ends
with Interrupted: sweeps.interrupts) or its process was killed (local: the run is partial, and the executor
returns how its process ended); slurm submits and returns. What they say about a run's state they read as
sweeps.status does.
"""
from __future__ import annotations

import functools
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from core.runtime.checkpoint_policy import SAFE, CheckpointPolicy
from core.runtime.host_tuning import thread_env
from sweeps import runlock
from sweeps.expand import RunSpec
from core.schema.signals import exit_cause
from sweeps.interrupts import INTERRUPTED_OUTSIDE, Interrupted, SweepSignals, killed_at_once
from sweeps.progress import Display, parse_event
from sweeps.status import RunState, is_finished, run_status

REPO = Path(__file__).resolve().parent.parent


def take(spec: RunSpec, claim: dict, queue: runlock.Queue | None = None, say=None) -> bool:
    """Claim `spec` for `claim`; False (with a line saying why) if someone else has it or it is done."""
    say = say or functools.partial(print, flush=True)
    held = runlock.acquire(spec.run_dir, claim, queue)
    if held is not None:
        say(f"  skip {spec.run_id}: {runlock.describe(held)} has it")
        return False
    if is_finished(spec.run_dir):               # finished by another process since the sweep looked
        runlock.release(spec.run_dir, claim)
        say(f"  skip {spec.run_id}: finished meanwhile")
        return False
    return True


def run_inline(specs: list[RunSpec], jobs: int = 1, display: Display | None = None,
               checkpoints: CheckpointPolicy = SAFE, **_) -> dict[str, str]:
    """Each run in this process, one after the other. A stop signal (core.schema.signals) stops the run at its next
    step boundary (core.train.loop), or at once outside training, and ends the sweep with Interrupted. Checkpoints
    are read under `checkpoints` (core.runtime.checkpoint_policy). Returns {} (a run here ends with its result, or
    the sweep ends)."""
    from core.runtime.stopping import InterruptOutside, Preempted, StopFlag
    from sweeps.worker import run_one
    display = display or Display(sweep=specs[0].sweep if specs else None, total_runs=len(specs))
    try:
        with InterruptOutside():
            for n, spec in enumerate(specs, 1):
                claim = runlock.new_claim("local")
                if not take(spec, claim, say=display.write):
                    display.run_ended(spec.run_id, state_of(spec.run_dir))
                    continue
                display.write(f"[{n}/{len(specs)}] {spec.case} seed {spec.seed}: {spec.run_dir}")
                display.run_started(spec.run_id)
                try:
                    run_one(str(spec.run_dir), display.progress_for(spec.run_id), display.write, checkpoints)
                except Preempted as stopped:
                    raise Interrupted(StopFlag.last_signal or signal.SIGTERM, {spec.run_id: str(stopped)}) from None
                except KeyboardInterrupt as stopped:
                    why = INTERRUPTED_OUTSIDE + (f" ({stopped})" if str(stopped) else "")
                    raise Interrupted(StopFlag.last_signal or signal.SIGINT, {spec.run_id: why},
                                      at_once=StopFlag.twice) from None
                finally:
                    runlock.release(spec.run_dir, claim)
                display.run_ended(spec.run_id, state_of(spec.run_dir))
    finally:
        display.close()
    return {}


def state_of(run_dir: Path) -> RunState:
    """The run's state as sweeps.status reads it (its files, and who holds it)."""
    return run_status(run_dir, runlock.Queue()).state


@dataclass
class _Worker:
    """A run's process under the local executor, and the thread that reads its stdout into the sweep's queue."""
    proc: subprocess.Popen
    spec: RunSpec
    claim: dict
    reader: threading.Thread


def run_local(specs: list[RunSpec], jobs: int = 1, display: Display | None = None,
              checkpoints: CheckpointPolicy = SAFE, **_) -> dict[str, str]:
    """Each run in its own Python process, so one crash cannot take the sweep down; `jobs` at a time,
    each with cores/jobs torch threads. The claim names this process and the run's process. The runs report
    progress as events on their stdout, drawn here (sweeps.progress); a stop signal stops them at a checkpoint
    (sweeps.interrupts) and ends the sweep with Interrupted. Each worker gets `checkpoints` as its flags.
    Returns {run id: how its process ended} for each run whose process ended before the run did (killed, say)."""
    display = display or Display(sweep=specs[0].sweep if specs else None, total_runs=len(specs), jobs=jobs)
    lines: queue.Queue = queue.Queue()                  # (run id, line) from every worker's stdout
    todo, running, stopped, notes, asked = list(specs), [], {}, {}, False
    with SweepSignals() as signals:
        try:
            while running or (todo and signals.signum is None):
                while todo and len(running) < jobs and signals.signum is None:
                    spec = todo.pop(0)
                    worker = _launch(spec, len(specs) - len(todo), len(specs), jobs, lines, display, checkpoints)
                    if worker is None:
                        display.run_ended(spec.run_id, state_of(spec.run_dir))
                    else:
                        running.append(worker)
                _relay(lines, display, stopped, wait=0.2)
                if signals.signum is not None and not asked:   # ask every run to checkpoint and stop, once
                    _stop(running, signal.SIGTERM)
                    asked = True
                for worker in [w for w in running if w.proc.poll() is not None]:
                    running.remove(worker)
                    _ended(worker, lines, display, stopped if signals.signum is not None else notes, stopped)
        except Interrupted as second:                    # a second Ctrl-C: leave now
            _stop(running, signal.SIGKILL)
            for worker in running:
                worker.proc.wait()
                stopped.setdefault(worker.spec.run_id, killed_at_once(worker.spec.run_dir))
            raise Interrupted(second.signum, stopped, at_once=True) from None
        finally:   # the runs still here (an error, or the second Ctrl-C) stop; their claims are given back
            if not asked:
                _stop(running, signal.SIGTERM)
            for worker in running:
                worker.proc.wait()
                runlock.release(worker.spec.run_dir, worker.claim)
            display.close()
    if signals.signum is not None:
        raise Interrupted(signals.signum, stopped)
    return notes


def _ended(worker: _Worker, lines: queue.Queue, display: Display, notes: dict, stopped: dict) -> None:
    """A worker's process is over: its last lines relayed, its claim given back, and its state (sweeps.status) to
    the display. A run that has no result and did not say where it stopped gets a line saying how its process
    ended, kept in `notes`."""
    worker.reader.join(timeout=5)                       # its last lines
    _relay(lines, display, stopped)
    runlock.release(worker.spec.run_dir, worker.claim)
    run_id, row = worker.spec.run_id, run_status(worker.spec.run_dir, runlock.Queue())
    if not row.state.finished and run_id not in stopped:
        how = f"its process ended ({exit_cause(worker.proc.returncode)}) before the run did; {row.text}"
        notes[run_id] = how
        display.write(f"[{run_id}] {how}: its last checkpoint is kept, and the sweep's command resumes it")
    display.run_ended(run_id, row.state)


def _launch(spec: RunSpec, n: int, total: int, jobs: int, lines: queue.Queue, display: Display,
            checkpoints: CheckpointPolicy = SAFE) -> _Worker | None:
    claim = runlock.new_claim("local")
    if not take(spec, claim, say=display.write):
        return None
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "SIMSIAM_PROGRESS": "events", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **thread_env(spec.config.run.threads or threads)}     # before its OpenMP starts (issue 34)
    display.write(f"[{n}/{total}] start {spec.case} seed {spec.seed}: {spec.run_dir}")
    cmd = [sys.executable, "-m", "sweeps.worker", str(spec.run_dir), *checkpoints.flags()]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True, bufsize=1)
    claim = {**claim, "pids": claim["pids"] + [[proc.pid, runlock.process_start(proc.pid)]]}
    runlock.update(spec.run_dir, claim)
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, spec.run_id, lines), daemon=True)
    reader.start()
    display.run_started(spec.run_id)
    return _Worker(proc, spec, claim, reader)


def _read_lines(stream, run_id: str, lines: queue.Queue) -> None:
    for line in stream:
        lines.put((run_id, line.rstrip("\n")))


def _relay(lines: queue.Queue, display: Display, stopped: dict, wait: float = 0.0) -> None:
    """Hand the workers' lines to the display (events as events, the rest as log lines); note where runs stopped."""
    try:
        item = lines.get(timeout=wait) if wait else lines.get_nowait()
        while True:
            run_id, line = item
            event = parse_event(line)
            if event is None:
                display.write(line)
            elif event.get("kind") == "stopped":
                stopped[run_id] = event.get("where", "stopped")
            else:
                display.feed(run_id, event)
            item = lines.get_nowait()
    except queue.Empty:
        pass


def _stop(running: list[_Worker], sig: int) -> None:
    """Send `sig` to every worker still running (SIGTERM: checkpoint and stop; SIGKILL: at once)."""
    for worker in running:
        if worker.proc.poll() is None:
            try:
                worker.proc.send_signal(sig)
            except ProcessLookupError:
                pass


EXECUTORS = {"inline": run_inline, "local": run_local}     # the third, slurm, submits and returns: sweeps.slurm
