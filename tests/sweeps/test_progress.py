"""Progress you can plan by (sweeps.progress): the rate, ETA and duration formulas; a run's line; bars on a
pseudo-terminal and plain periodic lines without one; progress reported only where the loss is read anyway."""
import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
import yaml

from core.runtime.progress_hooks import PRETRAIN, Progress
from core.train.loop import train
from sweeps.eta import rate, run_eta, sweep_eta
from sweeps.progress import EVENT, Display, EventProgress, RunLine, parse_event, resolve_mode
from sweeps.words import duration, plural
from tests.conftest import REPO, TINY, tiny_config

SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]


def test_rate_and_run_eta():
    assert rate(10, 4.0) == 2.5 and rate(0, 4.0) is None and rate(5, 0.0) is None
    assert run_eta(30, 2.5) == 12.0 and run_eta(0, None) == 0.0 and run_eta(5, None) is None


def test_sweep_eta_from_finished_runs_then_from_running_ones():
    # two finished runs of 100 s and 200 s: a run takes 150 s; one running 50 s in with no ETA yet needs 100 s,
    # one with its own ETA of 30 s needs 30 s, two queued need 300 s; over 2 jobs
    assert sweep_eta([100.0, 200.0], [(50.0, None), (10.0, 30.0)], 2, 2) == pytest.approx((100 + 30 + 300) / 2)
    # nothing finished: the running runs' elapsed + ETA say how long a run takes
    assert sweep_eta([], [(20.0, 80.0)], 1, 1) == pytest.approx(80 + 100)
    assert sweep_eta([], [(20.0, None)], 3, 1) is None
    assert sweep_eta([], [], 0, 1) == 0.0


@pytest.mark.parametrize("seconds, text", [(None, "?"), (-1, "?"), (0, "0s"), (44.2, "45s"), (185, "3m05s"),
                                           (3600, "1h00m"), (7801, "2h11m"), (3 * 86400 + 4 * 3600, "3d04h")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_plural():
    assert [plural(n, "run") for n in (0, 1, 2)] == ["0 runs", "1 run", "2 runs"]
    assert plural(1, "epoch") == "1 epoch" and plural(3, "analysis", "analyses") == "3 analyses"


def test_a_run_line_measures_the_rate_from_its_first_step_on():
    line = RunLine("r")
    line.start(PRETRAIN, 0, 390, 39, now=100.0)
    assert line.text(100.0).startswith("pretrain step 0/390, epoch 0.00/10")
    line.advance(5, -0.5, now=110.0)                 # 10 s of set-up and random-init kNN before the first step
    line.advance(25, -0.8, now=114.0)                # then 20 steps in 4 s
    assert line.rate() == pytest.approx(5.0) and line.eta(114.0) == pytest.approx(365 / 5.0)
    assert line.eta(124.0) == pytest.approx(365 / 5.0 - 10)     # time passes without a report
    text = line.text(114.0)
    assert "pretrain step 25/390, epoch 0.64/10, loss -0.8000, 5.00 steps/s, ETA 1m13s" == text
    line.stage = "kNN monitor"
    assert line.text(114.0).endswith("kNN monitor...")


def test_plain_mode_prints_a_run_line_at_its_first_step_then_every_so_often():
    out = io.StringIO()
    display = Display("plain", every=3600, out=out, sweep="s", total_runs=2, jobs=1)
    display.run_started("r1")
    p = display.progress_for("r1")
    p.start(PRETRAIN, 0, 8, 4)
    p.stage("kNN monitor")
    p.stage_done("kNN monitor", 0.1)
    for step in (2, 4, 6):
        p.advance(step, -0.1 * step)
    p.advance(8, -0.9)                              # the phase's last step is always shown
    display.run_ended("r1")
    lines = out.getvalue().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["[r1] pretrain step 2/8", "[r1] pretrain step 8/8",
                                                   "[sweep s] 1 of 2 runs ended"]
    assert "ETA" in lines[0] and "queued" in lines[2] and "ETA" in lines[2]


def test_events_carry_the_same_reports_to_the_sweeps_display():
    out, drawn = io.StringIO(), io.StringIO()
    events = EventProgress(out, min_interval=3600)
    events.start(PRETRAIN, 4, 8, 4)
    events.advance(5, -0.3)
    events.advance(6, -0.4)                          # within min_interval of the last: not sent
    events.advance(8, -0.5)                          # the last step: sent
    lines = out.getvalue().splitlines()
    assert all(ln.startswith(EVENT) for ln in lines) and len(lines) == 3
    assert parse_event("[run] a log line") is None and parse_event(EVENT + "{not json") is None
    display = Display("plain", every=0, out=drawn)
    for ln in lines:
        display.feed("r", parse_event(ln))
    assert drawn.getvalue().splitlines()[-1].startswith("[r] pretrain step 8/8, epoch 2.00/2, loss -0.5000")


def test_auto_mode_is_plain_without_a_terminal(monkeypatch):
    monkeypatch.delenv("SIMSIAM_PROGRESS", raising=False)
    assert resolve_mode(None, io.StringIO()) == "plain" and resolve_mode("off", io.StringIO()) == "off"
    monkeypatch.setenv("SIMSIAM_PROGRESS", "bar")
    assert resolve_mode(None, io.StringIO()) == "bar"


class Recorder(Progress):
    def __init__(self):
        self.calls = []

    def start(self, phase, step, total, spe):
        self.calls.append(("start", phase, step, total))

    def advance(self, step, loss=None):
        self.calls.append(("advance", step, loss))

    def stage(self, what):
        self.calls.append(("stage", what))


def test_training_reports_each_logged_row_and_its_evaluation_stages(tmp_path):
    from core.runtime.run_directory import RunDir
    rec = Recorder()
    train(tiny_config(), tmp_path / "r", {}, log=lambda s: None, progress=rec)
    rows = [r for r in RunDir(tmp_path / "r").read_metrics() if r["step"] > 0]
    assert rec.calls[0] == ("start", PRETRAIN, 0, 8)
    assert [c[1:] for c in rec.calls if c[0] == "advance"] == [(r["step"], r["loss"]) for r in rows]
    stages = [c[1] for c in rec.calls if c[0] == "stage"]
    assert stages[0] == "kNN monitor of the random network" and stages.count("kNN monitor") == 2
    assert stages[-1].startswith("final evaluation: kNN monitor, linear probe")


def _sweep(tmp_path, cases=None):
    path = tmp_path / "prog.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0],
                                    "cases": cases or {"a": {}}}))
    return path


@pytest.mark.slow
def test_without_a_terminal_a_sweep_prints_plain_progress_lines(tmp_path):
    cmd = [sys.executable, "-m", "sweeps.run", str(_sweep(tmp_path)), "--runs-dir", str(tmp_path / "runs"),
           "--no-report", *SETS, "--set", "optim.epochs=3", "--progress-every", "0"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    progress = [ln for ln in lines if re.match(r"\[a-s0-\w+\] pretrain step \d+/12, epoch [\d.]+/3, loss ", ln)]
    assert progress and all(re.search(r"(steps/s|- steps/s), ETA (\?|\d)", ln) for ln in progress)
    assert progress[0].startswith(f"[{progress[0][1:].split(']')[0]}] pretrain step 2/12")   # the first logged step
    assert any(ln.startswith("[sweep prog] 1 of 1 run ended") for ln in lines)
    assert "\r" not in proc.stdout and "\x1b[" not in proc.stdout and EVENT not in proc.stdout


def _run_on_a_terminal(cmd, timeout=300) -> tuple[int, str]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:                          # the terminal closed: every process of it has ended
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), out.decode(errors="replace")


@pytest.mark.slow
def test_on_a_terminal_a_sweep_draws_a_bar_per_run_and_one_for_the_sweep(tmp_path):
    cmd = [sys.executable, "-m", "sweeps.run", str(_sweep(tmp_path, {"a": {}, "b": {"model.stop_grad": False}})),
           "--runs-dir", str(tmp_path / "runs"), "--no-report", *SETS, "--set", "optim.epochs=3", "--jobs", "2"]
    rc, out = _run_on_a_terminal(cmd)
    assert rc == 0, out[-2000:]
    assert re.search(r"a-s0-\w+ +\d+% \|[^|]*\| pretrain step \d+/12, epoch [\d.]+/3, loss [-\d.]+, [\d.]+ steps/s, "
                     r"ETA \d", out)
    assert re.search(r"sweep prog +\d+% \|[^|]*\| \d of 2 runs ended, \d running, \d queued, ETA", out)
    assert "\r" in out and EVENT not in out
    assert re.search(r"\[b-s0-\w+\] epoch 3/3 loss", out)              # log lines print above the bars


def test_the_sweep_line_counts_only_the_runs_that_ended():
    """A run stopped before its end (Ctrl-C, a killed process) is partial, not ended: the bar does not jump to
    '2 of 2 runs ended'; a run another process holds is counted as such."""
    from sweeps.status import RunState
    out = io.StringIO()
    display = Display("plain", every=3600, out=out, sweep="s", total_runs=3, jobs=3)
    for name in ("r1", "r2", "r3"):
        display.run_started(name)
    display.run_ended("r1", RunState.DONE)
    display.run_ended("r2", RunState.PARTIAL)
    display.run_ended("r3", RunState.RUNNING)
    assert display.ended == 1
    assert display.sweep_text().startswith("1 of 3 runs ended, 1 partial, 1 running elsewhere, 0 running, 0 queued")
    assert out.getvalue().splitlines()[-1].startswith("[sweep s] 1 of 3 runs ended, 1 partial")
