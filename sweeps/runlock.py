"""A run's lock: who is training a run, or has it queued, right now (no torch, no submitit).

The lock is called a claim (a process claims a run before it trains or submits it). Not to be confused with
core.schema.claims, the paper's claims that a report tests. The files keep the names they have always had
(claim.json, claim.lock, claim.log), so a run locked by an older checkout stays locked for this one.

`RUN_DIR/claim.json` holds a random token (the owner's proof), the kind, the host, and either the owning
processes (`pids`: local runs, and a SLURM submission in progress) or the SLURM `job_id` (a queued or running
job):

    {"token": "9f2c...", "kind": "local", "host": "node1", "pids": [[4242, 881234]], "job_id": null, "since": "..."}

Creation is atomic and exclusive: the claim is written in full to a file of its own, created with O_EXCL,
and then hard-linked to `claim.json`, which fails if one exists. Of two processes claiming at once exactly one
wins, and no reader ever sees a claim half written (an O_EXCL `claim.json` written after its creation would
leave an empty claim behind a SIGKILL in between, which nobody could attribute).

A claim is stale, and may be broken, when its processes are all gone on this host (pid plus start time, so a
reused pid does not count; a zombie is gone), or when its SLURM job is no longer queued or running. A claim
whose owner cannot be checked from here (another host's processes, or no squeue) is treated as live. Breaking
happens under an flock on `claim.lock` and re-reads the claim first, so a fresh claim is never broken; each
break is logged in `claim.log`. The owner removes the claim once the run has its result.json (a requeued
SLURM job keeps it: its job id does not change).
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

CLAIM, LOCK = "claim.json", "claim.lock"


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None (gone, or no /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22); None if unknown or gone."""
    fields = _proc_stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (ValueError, IndexError):
        return None


def process_alive(pid: int, start: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                                   # exists, owned by someone else
    fields = _proc_stat(pid)
    if fields is None:                         # no /proc here: the signal test is all there is
        return True
    return fields[0] != "Z" and (start is None or process_start(pid) == start)


def new_claim(kind: str = "local", pids=(), job_id: str | None = None) -> dict:
    """A claim for this host; `pids` default to this process."""
    pids = list(pids) or [os.getpid()]
    return {"token": uuid.uuid4().hex, "kind": kind, "host": socket.gethostname(),
            "pids": [[p, process_start(p)] for p in pids], "job_id": job_id, "since": _now()}


def read(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / CLAIM).read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):    # claims appear whole (see above): this one is damaged
        return {"token": None, "kind": "unreadable", "host": None, "pids": [], "job_id": None}


def describe(claim: dict) -> str:
    if claim.get("job_id"):
        return f"SLURM job {claim['job_id']}"
    pids = ",".join(str(p) for p, _ in claim.get("pids") or [])
    return f"{claim.get('kind')} pid {pids or '?'} on {claim.get('host')}"


# ---- SLURM queue ---------------------------------------------------------------------------------------
def squeue_states(job_ids) -> dict[str, str] | None:
    """{job id: state} for the given ids that SLURM still has queued, running or requeueing (ids of array tasks
    as ID_TASK); a finished or unknown id is absent. None when squeue cannot answer (not installed, no
    controller): callers then cannot tell a dead job from a live one."""
    ids = sorted({str(j) for j in job_ids if j})
    if not ids:
        return {}
    if shutil.which("squeue") is None:
        return None
    try:
        proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(ids)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        # squeue exits 1 when every id asked for is unknown to the controller: those jobs are gone
        return {} if "Invalid job id" in proc.stderr else None
    states = dict(line.split("|", 1) for line in proc.stdout.splitlines() if "|" in line)
    # a single (non-array) job is listed under its own id; an array task under ID_TASK
    return {j: states[j] for j in ids if j in states}


class Queue:
    """squeue asked once for all the job ids a caller needs (see `prefetch`), then answered from memory."""

    def __init__(self):
        self._states: dict[str, str] = {}
        self._asked: set[str] = set()
        self.unavailable = False

    def prefetch(self, job_ids) -> None:
        todo = {str(j) for j in job_ids if j} - self._asked
        if not todo:
            return
        states = squeue_states(todo)
        self._asked |= todo
        if states is None:
            self.unavailable = True
        else:
            self._states.update(states)

    def state(self, job_id: str) -> str | None:
        """SLURM state of a live job, '' for a job SLURM no longer has, None when unknown."""
        self.prefetch([job_id])
        if self.unavailable:
            return None
        return self._states.get(str(job_id), "")


def stale_reason(claim: dict, queue: Queue | None = None) -> str | None:
    """Why `claim` no longer holds (its owner is gone), or None while it may still hold."""
    if claim.get("kind") == "unreadable":
        return "the claim file is damaged"
    if claim.get("job_id"):
        state = (queue or Queue()).state(claim["job_id"])
        return f"SLURM job {claim['job_id']} is no longer queued or running" if state == "" else None
    if claim.get("host") != socket.gethostname():
        return None                            # another machine's processes: cannot check from here
    pids = claim.get("pids") or []
    if not any(process_alive(p, start) for p, start in pids):
        return f"{describe(claim)} is not running"
    return None


# ---- acquire, update, release --------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(run_dir: Path):
    with open(Path(run_dir) / LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _create(run_dir: Path, claim: dict) -> bool:
    """Write the whole claim to its own O_EXCL file, then link it into place: False if a claim exists."""
    tmp = Path(run_dir) / f".{CLAIM}.{claim['token']}"
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(claim) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, Path(run_dir) / CLAIM)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def acquire(run_dir: Path, claim: dict, queue: Queue | None = None) -> dict | None:
    """Take the run for `claim`: None when it is ours now, else the live claim that holds it.
    A stale claim is broken (and the reason logged in claim.log) and the run taken."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if _create(run_dir, claim):
        return None
    with _locked(run_dir):
        held = read(run_dir)
        if held is not None:
            if held.get("token") == claim["token"]:
                return None                    # already ours (a requeued job re-checking)
            reason = stale_reason(held, queue)
            if reason is None:
                return held
            with open(run_dir / "claim.log", "a") as log:
                log.write(f"{_now()} broke the claim of {describe(held)}: {reason}\n")
            (run_dir / CLAIM).unlink(missing_ok=True)
        return None if _create(run_dir, claim) else read(run_dir)


def update(run_dir: Path, claim: dict) -> bool:
    """Rewrite our claim (e.g. with the SLURM job id once known); False if it is no longer ours."""
    run_dir = Path(run_dir)
    with _locked(run_dir):
        held = read(run_dir)
        if held is None or held.get("token") != claim["token"]:
            return False
        tmp = run_dir / f".{CLAIM}.tmp{os.getpid()}"
        tmp.write_text(json.dumps(claim) + "\n")
        os.replace(tmp, run_dir / CLAIM)
    return True


def release(run_dir: Path, claim: dict) -> None:
    """Remove the claim if it is still ours."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return
    with _locked(run_dir):
        held = read(run_dir)
        if held is not None and held.get("token") == claim["token"]:
            (run_dir / CLAIM).unlink(missing_ok=True)
