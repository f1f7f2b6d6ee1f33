"""Interrupts that explain themselves: Ctrl-C (SIGINT to the terminal's process group) and SIGTERM stop a sweep's
runs at a step boundary with their checkpoints saved, and the sweep ends with one line saying where each stopped
and the exact command that resumes it, without a traceback; that command finishes them with the results of an
uninterrupted sweep. A second Ctrl-C exits at once."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from core.runtime.run_directory import RunDir
from core.runtime.stopping import StopFlag
from sweeps.interrupts import Interrupted
from sweeps.interrupts import interrupted_line
from tests.conftest import REPO, TINY

SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]


def test_the_second_ctrl_c_leaves_at_once_the_first_only_asks():
    with StopFlag() as flag:
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.set and StopFlag.last_signal == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)                       # the handler runs here, on the main thread
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler      # restored


def test_the_line_names_each_run_where_it_stopped_and_the_command():
    stop = Interrupted(signal.SIGTERM, {"a-s0-1": "stopped at step 8 of 24 (epoch 2.00 of 6); last.pt saved"})
    line = interrupted_line(stop, "python -m sweeps.run x --seeds 0")
    assert line == ("interrupted (SIGTERM): a-s0-1 stopped at step 8 of 24 (epoch 2.00 of 6); last.pt saved. "
                    "The same command resumes the sweep: python -m sweeps.run x --seeds 0")
    assert "\n" not in line and stop.exit_code == 143


def _sweep(tmp_path: Path) -> Path:
    path = tmp_path / "intr.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0],
                                    "cases": {"a": {}, "b": {"model.stop_grad": False}}}))
    return path


def _results(runs: Path) -> dict:
    timing = ("wall_s", "train_s", "device")
    return {p.parent.name: {k: v for k, v in json.loads(p.read_text()).items() if k not in timing}
            for p in sorted(runs.glob("*/*/result.json"))}


def _logged_step(run: Path) -> int:
    return max((r.get("step", 0) for r in RunDir(run).read_metrics()), default=0)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signalled_sweep_says_where_its_runs_stopped_and_its_command_resumes_them_identically(tmp_path, sig):
    sweep, epochs = _sweep(tmp_path), ["--set", "optim.epochs=12", "--no-report", "--jobs", "2"]
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "sweeps.run", str(sweep), "--runs-dir", str(ref), *SETS, *epochs],
                   cwd=REPO, check=True, capture_output=True, timeout=600)
    args = [str(sweep), "--runs-dir", str(tmp_path / "runs"), *SETS, *epochs]
    proc = subprocess.Popen([sys.executable, "-m", "sweeps.run", *args], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "runs" / "intr"
    deadline = time.time() + 300
    while not (len(list(runs.glob("*/metrics.jsonl"))) == 2 and all(_logged_step(r) >= 6 for r in runs.iterdir())):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.1)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)                 # a terminal's Ctrl-C reaches the sweep and its runs
    else:
        proc.send_signal(sig)                    # `kill PID`: the sweep only
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig
    assert "Traceback" not in out + err
    last = err.strip().splitlines()[-1]
    name = signal.Signals(sig).name
    assert last.startswith(f"interrupted ({name}): ") and last.count("last.pt saved") == 2
    for run in runs.iterdir():
        assert f"{run.name} stopped at step " in last and not (run / "result.json").exists()
        assert (run / "last.pt").exists() and not (run / "claim.json").exists()
    command = last.split("The same command resumes the sweep: ", 1)[1]
    argv = shlex.split(command)
    assert argv[1:] == ["-m", "sweeps.run", *args]
    exe = Path(REPO, argv[0]) if "/" in argv[0] else shutil.which(argv[0])      # as a shell in REPO finds it
    assert os.path.realpath(exe) == os.path.realpath(sys.executable)
    resumed = subprocess.run([sys.executable, *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.count("resumed at step") == 2
    assert _results(tmp_path / "runs") == {k: v for k, v in _results(ref).items()}
    for run in runs.iterdir():                   # every logging point once
        steps = [r["step"] for r in RunDir(run).read_metrics()]
        assert steps == sorted(set(steps))


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once(tmp_path):
    # k-step alternation over a whole epoch (31 steps: the synthetic set's 1000 images, batch 32) may stop only at
    # an epoch's end: the first Ctrl-C waits
    args = [str(_sweep(tmp_path)), "--runs-dir", str(tmp_path / "runs"), *SETS, "--set", "optim.epochs=20",
            "--set", "data.train_subset=1000", "--set", "target.k_steps=0", "--no-report", "--jobs", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "sweeps.run", *args], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "runs" / "intr"
    deadline = time.time() + 300
    while not (len(list(runs.glob("*/last.pt"))) == 2 and all(_logged_step(r) >= 2 for r in runs.iterdir())):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.5)                              # a person's second Ctrl-C (two at once arrive as one)
    t0 = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.time() - t0 < 10 and proc.returncode == 128 + signal.SIGINT
    assert "Traceback" not in out + err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted (SIGINT twice): ") and "no run was training" not in last
    for run in runs.iterdir():                   # each run that was training, named with its state
        assert f"{run.name} partial (epoch " in last or f"{run.name} stopped at step " in last, last
    assert not list(runs.glob("*/claim.json"))
