"""The run lock (sweeps.runlock): one owner at a time, stale claims detected, two sweeps never train a run twice."""
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from sweeps import runlock
from tests.conftest import REPO
from tests.sweeps.test_sweeps import _tiny_args


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def fake_squeue(tmp_path, monkeypatch, listing: dict | None):
    """Put a `squeue` on PATH that knows the jobs in `listing` ({job id: state}); None: no squeue at all."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir(exist_ok=True)
    (bindir / "squeue").unlink(missing_ok=True)
    if listing is not None:
        rows = "\\n".join(f"{j}|{s}" for j, s in listing.items())
        (bindir / "squeue").write_text(
            "#!/bin/bash\n"
            f"out=$(printf '{rows}' | grep -E \"^($(echo \"${{@: -1}}\" | tr , '|'))\\|\")\n"
            '[ -n "$out" ] && { echo "$out"; exit 0; }; '
            'echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1\n')
        (bindir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin" if listing is not None else f"{bindir}")


def test_one_owner_at_a_time_and_release_only_by_the_owner(tmp_path):
    a, b = runlock.new_claim(), runlock.new_claim()
    assert runlock.acquire(tmp_path, a) is None
    assert runlock.acquire(tmp_path, a) is None                 # the owner asking again
    held = runlock.acquire(tmp_path, b)
    assert held["token"] == a["token"] and held["pids"][0][0] == os.getpid()
    runlock.release(tmp_path, b)                                # not b's: stays
    assert runlock.read(tmp_path)["token"] == a["token"]
    assert runlock.update(tmp_path, {**a, "job_id": "12_3"}) and runlock.read(tmp_path)["job_id"] == "12_3"
    assert not runlock.update(tmp_path, {**b, "job_id": "99"})
    runlock.release(tmp_path, a)
    assert runlock.read(tmp_path) is None
    assert runlock.acquire(tmp_path, b) is None


def test_dead_process_reused_pid_and_other_host(tmp_path):
    stale = {**runlock.new_claim(), "pids": [[dead_pid(), None]]}
    (tmp_path / "claim.json").write_text(json.dumps(stale))
    mine = runlock.new_claim()
    assert runlock.acquire(tmp_path, mine) is None              # dead owner: broken, and logged
    assert "is not running" in (tmp_path / "claim.log").read_text()
    # a live pid whose start time differs is a reused pid: the claim's process is gone
    reused = {**runlock.new_claim(), "pids": [[os.getpid(), runlock.process_start(os.getpid()) + 1]]}
    assert runlock.stale_reason(reused) is not None
    assert runlock.stale_reason(runlock.new_claim()) is None
    # another host's processes cannot be checked from here: treated as live
    assert runlock.stale_reason({**stale, "host": socket.gethostname() + "-elsewhere"}) is None


def test_slurm_claims_follow_the_queue(tmp_path, monkeypatch):
    queued = {**runlock.new_claim("slurm"), "job_id": "500_1"}
    fake_squeue(tmp_path, monkeypatch, {"500_1": "PENDING", "501": "RUNNING"})
    assert runlock.stale_reason(queued) is None
    assert runlock.stale_reason({**queued, "job_id": "501"}) is None
    assert "no longer queued" in runlock.stale_reason({**queued, "job_id": "500_2"})
    q = runlock.Queue()
    q.prefetch(["500_1", "500_2", "501"])
    assert (q.state("500_1"), q.state("500_2"), q.state("501")) == ("PENDING", "", "RUNNING")
    fake_squeue(tmp_path, monkeypatch, None)                   # no squeue here: cannot tell, so it holds
    assert runlock.squeue_states(["500_2"]) is None
    assert runlock.stale_reason({**queued, "job_id": "500_2"}) is None


def test_a_zombie_is_gone_and_a_damaged_claim_is_broken(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])     # exits, not yet reaped: a zombie
    start = runlock.process_start(proc.pid)
    deadline = time.time() + 30
    while runlock._proc_stat(proc.pid)[0] != "Z" and time.time() < deadline:
        time.sleep(0.05)
    assert not runlock.process_alive(proc.pid, start)
    proc.wait()
    (tmp_path / "claim.json").write_text('{"token": "ab')       # claims appear whole: only damage does this
    assert runlock.acquire(tmp_path, runlock.new_claim()) is None
    assert "damaged" in (tmp_path / "claim.log").read_text()
    assert not list(tmp_path.glob(".claim.json.*"))            # no temporary file left behind


def _race(run_dir, barrier, wins):
    barrier.wait()
    if runlock.acquire(run_dir, runlock.new_claim()) is None:
        wins.put(os.getpid())
    time.sleep(1)                                              # hold it (alive) while the others look


@pytest.mark.parametrize("preexisting", ["none", "stale"])
def test_exactly_one_of_many_racing_processes_wins(tmp_path, preexisting):
    if preexisting == "stale":
        (tmp_path / "claim.json").write_text(json.dumps({**runlock.new_claim(), "pids": [[dead_pid(), None]]}))
    ctx = multiprocessing.get_context("fork")
    barrier, wins = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(tmp_path, barrier, wins)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    winners = [wins.get(timeout=5) for _ in range(wins.qsize())]
    assert len(winners) == 1


@pytest.mark.slow
def test_inline_sweep_skips_a_run_another_live_process_holds(tmp_path, capsys):
    from sweeps.run import cli
    assert cli(_tiny_args(tmp_path, "--dry-run")) == 0
    run_dirs = [tmp_path / "runs" / "tinysweep" / m for m in re.findall(r"(w\S*-s0-\w+)", capsys.readouterr().out)]
    held = runlock.new_claim()                                  # this (live) process, another token
    assert runlock.acquire(run_dirs[0], held) is None
    assert cli(_tiny_args(tmp_path, "--no-report")) == 0
    out = capsys.readouterr().out
    assert "skip" in out and "1 run held by another process or job" in out
    assert not (run_dirs[0] / "result.json").exists() and (run_dirs[1] / "result.json").exists()
    assert runlock.read(run_dirs[1]) is None                    # released after its run
    runlock.release(run_dirs[0], held)


@pytest.mark.slow
def test_two_local_sweeps_started_at_once_train_each_run_once(tmp_path):
    args = [a if a != "inline" else "local" for a in _tiny_args(tmp_path, "--no-report")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "sweeps.run", *args], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = sorted((tmp_path / "runs" / "tinysweep").iterdir())
    assert len(runs) == 2
    log = "".join(outs)
    for r in runs:
        assert (r / "result.json").exists() and runlock.read(r) is None
        # a run trained twice would log its start twice (or 'resumed' the second time)
        assert len(re.findall(rf"\[{re.escape(r.name)}\] (random-init|resumed)", log)) == 1, log
        assert len(re.findall(rf"\[{re.escape(r.name)}\] done:", log)) == 1, log
