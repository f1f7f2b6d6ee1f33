"""Nothing lost, nothing confusing: failing runs, stale run directories, bad runs directories, kills."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from core.runtime.run_directory import RunDir
from core.train.loop import train
from sweeps.run import cli
from tests.conftest import REPO, TINY, tiny_config

QUIET = dict(log=lambda s: None)
SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]


def _sweep(tmp_path: Path, cases: dict, name="robust") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0], "cases": cases}))
    return path


def _args(tmp_path, sweep: Path, *extra):
    return [str(sweep), "--runs-dir", str(tmp_path / "runs"), "--report-dir", str(tmp_path / "reports"), *SETS, *extra]


def _results(runs: Path) -> dict:
    timing = ("wall_s", "train_s", "device")
    return {p.parent.name: {k: v for k, v in json.loads(p.read_text()).items() if k not in timing}
            for p in sorted(runs.glob("*/*/result.json"))}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.slow
def test_failing_run_does_not_stop_the_sweep_and_exit_is_nonzero(tmp_path, capsys):
    sweep = _sweep(tmp_path, {"too big": {"run.device": "cuda"}, "fine": {}})   # asks for a GPU that is not there
    assert cli(_args(tmp_path, sweep, "--executor", "inline")) == 1
    err = capsys.readouterr().err
    assert "1 run did not finish cleanly" in err and "too-big" in err and "failed" in err
    states = {p.parent.name.split("-s0")[0]: json.loads(p.read_text())["status"]
              for p in (tmp_path / "runs").glob("*/*/result.json")}
    assert states["fine"] in ("ok", "collapsed") and states["too-big"] == "failed"


@pytest.mark.slow
def test_hand_edited_run_directory_is_detected_and_nothing_is_created(tmp_path, capsys):
    sweep = _sweep(tmp_path, {"a": {}, "b": {"model.stop_grad": False}})
    assert cli(_args(tmp_path, sweep, "--executor", "inline", "--no-report")) == 0
    run_a = next((tmp_path / "runs" / "robust").glob("a-*"))
    cfg = yaml.safe_load((run_a / "config.yaml").read_text())
    cfg["optim"]["epochs"] = 7
    (run_a / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run_a / "result.json").unlink()
    before = sorted(p.name for p in (tmp_path / "runs" / "robust").iterdir())
    capsys.readouterr()
    assert cli(_args(tmp_path, sweep, "--executor", "inline", "--no-report", "--seeds", "0", "1")) == 2
    assert "config.yaml differs" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "runs" / "robust").iterdir()) == before   # no seed-1 dirs


def test_runs_dir_under_a_file_is_one_line_error(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(_sweep(tmp_path, {"a": {}})), "--runs-dir",
                           str(blocker / "runs"), *SETS], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "is not a directory" in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_runs_dir_and_full_disk(tmp_path, monkeypatch, capsys):
    import shutil
    sweep = _sweep(tmp_path, {"a": {}})
    monkeypatch.setattr(os, "access", lambda *a, **k: False)      # root ignores permissions: simulate them
    assert cli(_args(tmp_path, sweep)) == 2
    assert "is not writable" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    assert cli(_args(tmp_path, sweep)) == 2
    assert "not enough disk" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_torn_metrics_line_is_tolerated_on_resume(tmp_path):
    cfg = tiny_config(optim__epochs=2)
    reference = train(cfg, tmp_path / "ref", {}, **QUIET)
    run = tmp_path / "r"
    train(cfg, run, {}, **QUIET)
    (run / "result.json").unlink()
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 2.5, "st')                              # a write cut by a kill
    assert RunDir(run).read_metrics()[-1]["epoch"] == 2.0
    resumed = train(cfg, run, {}, **QUIET)
    drop = ("wall_s", "train_s")
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in reference.items() if k not in drop}
    assert all(line.endswith("}") for line in (run / "metrics.jsonl").read_text().splitlines())


@pytest.mark.slow
def test_sweep_killed_at_random_moments_completes_each_run_once_with_identical_results(tmp_path):
    sweep = _sweep(tmp_path, {"a": {}, "b": {"model.stop_grad": False}, "c": {"optim.pred_lr": "cosine"},
                              "d": {"loss.symmetry": "asym"}})
    epochs = ["--set", "optim.epochs=3", "--no-report", "--executor", "local"]
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    cmd = [sys.executable, "-m", "sweeps.run", *_args(ref_dir, sweep), *epochs]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, timeout=300)
    reference = _results(ref_dir / "runs")
    assert len(reference) == 4

    rng = random.Random(1234)
    cmd = [sys.executable, "-m", "sweeps.run", *_args(tmp_path, sweep), *epochs]
    for _ in range(4):
        proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 6.0))
        os.killpg(proc.pid, signal.SIGKILL)                         # the sweep and its workers, mid-anything
        proc.wait()
    final = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    assert _results(tmp_path / "runs") == reference
    for run in (tmp_path / "runs" / "robust").iterdir():
        steps = [r["step"] for r in RunDir(run).read_metrics()]
        assert steps == sorted(set(steps))                          # every logging point exactly once


@pytest.mark.slow
def test_sigterm_to_a_local_sweep_stops_its_runs_at_a_checkpoint_and_a_rerun_finishes_them(tmp_path):
    sweep = _sweep(tmp_path, {"a": {}, "b": {"model.stop_grad": False}})
    cmd = [sys.executable, "-m", "sweeps.run", *_args(tmp_path, sweep), "--set", "optim.epochs=40", "--no-report",
           "--executor", "local", "--jobs", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tmp_path / "runs" / "robust"
    deadline = time.time() + 120
    while len(list(runs.glob("*/last.pt"))) < 2 and time.time() < deadline:   # both runs training
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGTERM)                               # the sweep only, as `kill PID` does
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    for run in runs.iterdir():
        assert (run / "last.pt").exists() and not (run / "result.json").exists()
        assert not (run / "claim.json").exists()                    # its workers are gone, claims released
    final = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "resumed at step" in final.stdout
    assert all(json.loads((r / "result.json").read_text())["epoch"] == 40 for r in runs.iterdir())
