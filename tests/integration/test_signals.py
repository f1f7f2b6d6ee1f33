"""Signals as a terminal, `timeout` and a cluster send them (core.schema.signals): SIGTERM, SIGINT, SIGUSR1 and SIGUSR2
delivered to every process of a sweep at once (the sweep, its runs and their DataLoader workers) stop each run that
was training as interrupted, never failed, with its checkpoint, and the printed command resumes it to the result of
an uninterrupted run, metrics bit for bit; a DataLoader worker that dies on its own (SIGKILL, as the out-of-memory
killer sends it) still fails its run, with the cause; a run whose process is killed says so and how to resume.
The same under SLURM: tests/sweeps/test_slurm.py (test_cluster_*workers*)."""
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from core.data.loader_workers import batches, loader, stop_signal_of
from core.runtime.run_directory import RunDir
from core.runtime.stopping import InterruptOutside, StopFlag
from core.schema.signals import STOP_SIGNALS
from tests.conftest import REPO, TINY, image_folder

TIMING = ("wall_s", "train_s", "device")
CASES = {"a": {}, "b": {"model.stop_grad": False}}


# ---- DataLoader workers, in this process -------------------------------------------------------------------------
class Pids(torch.utils.data.Dataset):
    """Item i is the pid of the worker that made it (slowly, so the workers are still at it when signalled)."""

    def __len__(self):
        return 24

    def __getitem__(self, i):
        time.sleep(0.02)
        return os.getpid()


def _worker_pids(first_batch) -> set[int]:
    return {int(p) for p in first_batch} - {os.getpid()}


def test_dataloader_workers_leave_every_stop_signal_to_the_main_process():
    it = batches(loader(Pids(), 2, batch_size=2))
    first = next(it)
    workers = _worker_pids(first)
    assert len(workers) >= 1
    for pid in workers:
        for sig in STOP_SIGNALS:                   # what a group signal brings each worker; none of them dies
            os.kill(pid, sig)
    rest = [p for b in it for p in b.tolist()]
    assert len(rest) + len(first) == 24


def test_a_worker_that_dies_on_its_own_fails_with_its_cause():
    it = batches(loader(Pids(), 2, batch_size=2))
    workers = _worker_pids(next(it))
    with pytest.raises(RuntimeError, match=r"(SIGKILL|Killed)"):
        os.kill(next(iter(workers)), signal.SIGKILL)             # as the out-of-memory killer does
        for _ in it:
            pass
        time.sleep(2)                                            # torch's SIGCHLD handler may raise here


def test_torchs_message_of_a_worker_killed_by_a_stop_signal_is_read_as_a_stop():
    assert stop_signal_of("DataLoader worker (pid 8177) is killed by signal: Terminated. ") == signal.SIGTERM
    assert stop_signal_of("DataLoader worker (pid 1) is killed by signal: User defined signal 2. ") == signal.SIGUSR2
    assert stop_signal_of("DataLoader worker (pid 8177) is killed by signal: Killed. ") is None
    assert stop_signal_of("DataLoader worker (pid(s) 8177) exited unexpectedly") is None


def test_every_stop_signal_sets_the_training_loops_flag_unless_another_handler_takes_it(monkeypatch):
    for sig in STOP_SIGNALS:
        with StopFlag() as flag:
            os.kill(os.getpid(), sig)
            time.sleep(0.05)
            assert flag.set and StopFlag.last_signal == sig
    monkeypatch.setattr(StopFlag, "others", frozenset({signal.SIGUSR2}))
    taken = []
    previous = signal.signal(signal.SIGUSR2, lambda s, f: taken.append(s))
    try:
        with StopFlag() as flag:
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(0.05)
            assert not flag.set and taken == [signal.SIGUSR2]    # left to the other handler (sweeps.slurm_job's)
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_outside_training_the_first_stop_signal_interrupts_and_a_later_one_changes_nothing():
    with InterruptOutside():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(1)
        assert StopFlag.last_signal == signal.SIGUSR1
        os.kill(os.getpid(), signal.SIGTERM)      # relayed by the sweep after its own: no second interrupt
        time.sleep(0.05)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL                    # restored


# ---- a sweep on an image folder, its whole process group signalled ---------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny ImageNet-style folder: 3 classes, 24 training and 6 validation images each (PNG, varied sizes)."""
    return image_folder(tmp_path_factory.mktemp("images"))


def _sets(root: Path, epochs: int) -> list[str]:
    """The tiny config on the image folder, read by two DataLoader workers; one thread, so that the inline and the
    local executor compute the same bits."""
    values = {**{k: v for k, v in TINY.items() if k != "run.device"}, "data.dataset": "folder", "data.root": root,
              "data.workers": 2, "data.train_subset": 0, "data.test_subset": 0, "optim.batch_size": 6,
              "optim.epochs": epochs, "run.threads": 1}
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]


def _sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sig.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0],
                                    "cases": CASES}))
    return path


def _record(runs: Path) -> dict:
    """Each run's result (timing left out) and its metrics rows."""
    return {p.parent.name: ({k: v for k, v in json.loads(p.read_text()).items() if k not in TIMING},
                            RunDir(p.parent).read_metrics())
            for p in sorted(runs.glob("*/*/result.json"))}


def _logged_step(run: Path) -> int:
    return max((r.get("step", 0) for r in RunDir(run).read_metrics()), default=0)


def _sweep(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sweeps.run", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _started(args: list[str]) -> subprocess.Popen:
    """The sweep in a process group of its own, as a terminal's job or `timeout`'s child is."""
    return subprocess.Popen([sys.executable, "-m", "sweeps.run", *args], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until(proc: subprocess.Popen, ready, what: str, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while not ready():
        if proc.poll() is not None or time.time() > deadline:
            _end(proc)
            out, err = proc.communicate()
            pytest.fail(f"the sweep {'ended' if proc.returncode is not None else 'took too long'} before {what}:\n"
                        f"{out[-2000:]}\n{err[-2000:]}")
        time.sleep(0.1)


def _end(proc: subprocess.Popen) -> None:
    """Kill what is left of the sweep's process group (a failing test leaves nothing running)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


EPOCHS = 4                                   # 12 steps an epoch (72 images, batch 6): 48 steps a run


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory):
    """The sweep uninterrupted: what every interrupted and resumed sweep must end with."""
    tmp = tmp_path_factory.mktemp("reference")
    done = _sweep([str(_sweep_file(tmp)), "--runs-dir", str(tmp / "runs"), *_sets(folder, EPOCHS), "--no-report",
                   "--jobs", "2"])
    assert done.returncode == 0, done.stderr[-3000:]
    return _record(tmp / "runs")


@pytest.mark.slow
@pytest.mark.parametrize("executor, sig", [("local", signal.SIGTERM), ("local", signal.SIGUSR1),
                                           ("inline", signal.SIGINT), ("inline", signal.SIGUSR2)],
                         ids=["local-SIGTERM", "local-SIGUSR1", "inline-SIGINT", "inline-SIGUSR2"])
def test_a_signal_to_the_whole_process_group_interrupts_runs_that_read_through_workers(folder, reference, tmp_path,
                                                                                       executor, sig):
    cases = ["a", "b"] if executor == "local" else ["a"]            # inline trains one after the other
    args = [str(_sweep_file(tmp_path)), "--runs-dir", str(tmp_path / "runs"), *_sets(folder, EPOCHS), "--no-report",
            "--executor", executor, "--jobs", "2", "--cases", *cases]
    runs = tmp_path / "runs" / "sig"
    proc = _started(args)
    try:
        _wait_until(proc, lambda: len(list(runs.glob("*/metrics.jsonl"))) == len(cases)
                    and all(_logged_step(r) >= 6 for r in runs.iterdir()), "every run trained 6 steps")
        os.killpg(proc.pid, sig)                 # every process of the sweep: runs and DataLoader workers alike
        out, err = proc.communicate(timeout=300)
    finally:
        _end(proc)
    assert proc.returncode == 128 + sig, err[-3000:]
    assert "Traceback" not in out + err and "failed" not in out + err and "killed by signal" not in out + err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"interrupted ({signal.Signals(sig).name}): "), last
    trained = sorted(runs.iterdir())
    assert len(trained) == len(cases)
    for run in trained:
        assert f"{run.name} stopped at step " in last and not (run / "result.json").exists()
        assert (run / "last.pt").exists() and not (run / "claim.json").exists()
    command = shlex.split(last.split("The same command resumes the sweep: ", 1)[1])
    assert command[1:] == ["-m", "sweeps.run", *args]
    resumed = _sweep(command[3:])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("resumed at step") == len(cases)
    assert _record(tmp_path / "runs") == {k: v for k, v in reference.items() if k.split("-")[0] in cases}


@pytest.mark.slow
def test_a_killed_process_or_worker_says_what_happened_and_how_to_go_on(folder, tmp_path):
    """kill -9 of run a's process leaves it partial, with that cause and the command that resumes it; kill -9 of
    one of run b's DataLoader workers fails run b with the worker's cause and the retry command; the sweep counts
    only the run that ended."""
    args = [str(_sweep_file(tmp_path)), "--runs-dir", str(tmp_path / "runs"), *_sets(folder, 20), "--no-report",
            "--jobs", "2", "--progress", "plain"]
    runs = tmp_path / "runs" / "sig"
    proc = _started(args)
    try:
        _wait_until(proc, lambda: len(list(runs.glob("*/metrics.jsonl"))) == 2
                    and all(_logged_step(r) >= 6 for r in runs.iterdir()), "both runs trained 6 steps")
        claims = {run.name[0]: json.loads((run / "claim.json").read_text()) for run in runs.iterdir()}
        run_pid = {case: claim["pids"][-1][0] for case, claim in claims.items()}
        loader_pid = int(subprocess.run(["pgrep", "-P", str(run_pid["b"])], capture_output=True,
                                        text=True).stdout.split()[0])
        os.kill(run_pid["a"], signal.SIGKILL)
        os.kill(loader_pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        _end(proc)
    # no traceback of ours (an orphaned worker of the killed run may print multiprocessing's own, as it goes)
    assert proc.returncode == 1 and f'File "{REPO}' not in err, err[-3000:]
    a, b = sorted(runs.iterdir())
    assert not (a / "result.json").exists()
    result = json.loads((b / "result.json").read_text())
    assert result["status"] == "failed" and ("SIGKILL" in result["reason"] or "Killed" in result["reason"])
    assert "1 of 2 runs ended in " in out and "runs finished" not in out
    assert "[sweep sig] 1 of 2 runs ended, 1 partial, 0 running, 0 queued" in out       # the bar: one ended
    assert f"[{a.name}] its process ended (killed by SIGKILL) before the run did; partial (epoch " in out
    lines = err.splitlines()

    def said(start):
        return next((line for line in lines if line.startswith(start)), f"no line starts with {start!r}")
    summary = said("2 runs did not finish cleanly: ")
    assert f"{a.name} (its process ended (killed by SIGKILL) before the run did; partial (epoch " in summary
    assert f"{b.name} (failed: RuntimeError: DataLoader worker (pid {loader_pid})" in summary
    assert said("a failed run is not trained again").endswith(shlex.join(["-m", "sweeps.run", *args, "--retry-failed"]))
    assert said("an unfinished run trains on from its last checkpoint when the same command runs again: ").endswith(
        shlex.join(["-m", "sweeps.run", *args]))


def test_the_sweep_relays_one_stop_and_ignores_the_echo(monkeypatch):
    """SweepSignals takes every stop signal: the first is noted, not fatal (SIGUSR1 would otherwise end the
    sweep's process by default)."""
    from sweeps.interrupts import SweepSignals
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    with SweepSignals() as signals:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    assert signals.signum == signal.SIGUSR1
