"""run.logger wandb (core/runtime/live_log.py), in W&B's offline mode (no network): the W&B run, read back from its own
files, holds every metrics.jsonl row at its step, is named by the run id and grouped by the sweep; a resumed run,
also after a real kill, writes no step twice; both loggers together; a failing live view never fails the run.
Skipped without the wandb package (the `wandb` extra)."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from core.runtime import live_log
from core.runtime.run_directory import RunDir
from core.train.loop import train
from tests.conftest import REPO, tiny_config

QUIET = dict(log=lambda s: None)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
           "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"), "WANDB_DATA_DIR": str(tmp_path / "wandb-data")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def _expected(rows: list[dict]) -> dict[int, dict]:
    return {r["step"]: live_log.scalars(r) for r in rows}


def _held(run_dir) -> dict[int, dict]:
    """W&B's history rows by step, with W&B's own keys left out; every step must be there once."""
    history = live_log.wandb_history(run_dir)
    steps = [h["_step"] for h in history]
    assert len(steps) == len(set(steps)), sorted(steps)                   # no step written twice
    return {h["_step"]: {k: v for k, v in h.items() if not k.startswith("_")} for h in history}


def _same(held: dict, expected: dict) -> None:
    assert sorted(held) == sorted(expected)
    for step, values in expected.items():
        assert held[step] == pytest.approx(values, rel=1e-6), step


@pytest.mark.slow
def test_a_run_with_both_loggers_mirrors_every_row_to_wandb_and_tensorboard(tmp_path, offline):
    pytest.importorskip("tensorboard")
    run = tmp_path / "w-stop-grad-s0-1234abcd"
    train(tiny_config(run__logger="tensorboard+wandb"), run, {"sweep": "stopgrad", "case": "w/ stop-grad"}, **QUIET)
    rows = RunDir(run).read_metrics()
    _same(_held(run), _expected(rows))
    [info] = live_log.wandb_run_info(run)
    assert (info["name"], info["group"], info["project"]) == (run.name, "stopgrad", "simsiam-harness")
    assert info["id"].startswith(run.name + "-") and (run / "wandb" / "id").read_text().strip() == info["id"]
    assert {"loss", "z_std", "knn_acc"} <= set(live_log.written_steps(run / "tb"))     # TensorBoard's too


@pytest.mark.slow
def test_a_resumed_run_continues_the_same_wandb_run_and_writes_no_step_twice(tmp_path, offline):
    cfg = tiny_config(optim__epochs=3, run__logger="wandb")
    train(cfg, tmp_path / "ref", {"sweep": "s"}, **QUIET)
    # killed after it had logged rows past its checkpoint: W&B holds all three epochs, the checkpoint is the end
    # of epoch 2 (prev.pt), metrics.jsonl will be cut back to it and the rows after it logged again
    run = tmp_path / "killed"
    shutil.copytree(tmp_path / "ref", run)
    (run / "result.json").unlink()
    (run / "last.pt").unlink()
    train(cfg, run, {}, **QUIET)
    _same(_held(run), _expected(RunDir(run).read_metrics()))
    sessions = live_log.wandb_run_info(run)
    assert len(sessions) == 2 and len({s["id"] for s in sessions}) == 1          # one W&B run, resumed


def _child(run_dir, cfg, env) -> subprocess.Popen:
    RunDir(run_dir).write_config(cfg)
    code = ("import sys; sys.path.insert(0, %r); "
            "from core.runtime.run_directory import RunDir; from core.train.loop import train; "
            "rd = RunDir(%r); train(rd.read_config(), rd.path, {'sweep': 's'}, log=lambda s: None)") % (
        str(REPO), str(run_dir))
    own = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_SERVICE")}    # its own W&B service
    return subprocess.Popen([sys.executable, "-c", code], env={**own, **env, "OMP_NUM_THREADS": "1"},
                            start_new_session=True)


@pytest.mark.slow
def test_after_a_real_kill_and_resume_wandb_holds_each_step_once(tmp_path, offline):
    cfg = tiny_config(optim__epochs=4, data__train_subset=512, run__logger="wandb")    # 16 steps an epoch
    run = tmp_path / "r"
    proc = _child(run, cfg, offline)
    deadline = time.time() + 300
    while not any(r.get("step", 0) >= 24 for r in RunDir(run).read_metrics()):       # mid-epoch 2, logged
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)                       # the run and W&B's service, mid-anything
    proc.wait()
    time.sleep(1)
    assert not (run / "result.json").exists()
    result = train(cfg, run, {}, **QUIET)
    assert result["status"] in ("ok", "collapsed")
    _same(_held(run), _expected(RunDir(run).read_metrics()))


class FakeRun:
    def __init__(self):
        self.logged = []

    def log(self, values, step):
        self.logged.append((step, values))


def test_linear_evaluation_rows_follow_pretraining_on_wandbs_step_axis():
    mirror = live_log.WandbMirror.__new__(live_log.WandbMirror)
    mirror.run, mirror.last, mirror.pretrain_last = FakeRun(), 4, -1
    for row in ({"step": 4, "loss": -0.5}, {"step": 8, "loss": -0.6, "flag": True},
                {"step": 1, "linear_eval/top1": 30.0}, {"step": 2, "linear_eval/top1": 35.0}):
        mirror.write(row)
    assert mirror.run.logged == [(8, {"loss": -0.6}), (9, {"linear_eval/top1": 30.0, "linear_eval/epoch": 1.0}),
                                 (10, {"linear_eval/top1": 35.0, "linear_eval/epoch": 2.0})]   # step 4 was held


@pytest.mark.slow
def test_a_failing_live_view_is_dropped_with_a_warning_and_the_run_trains_on(tmp_path, monkeypatch):
    class Broken:
        def __init__(self, run_dir):
            pass

        def write(self, row):
            raise ConnectionError("api.wandb.ai unreachable")

    monkeypatch.setitem(live_log.MIRRORS, "wandb", Broken)
    monkeypatch.setattr(live_log, "check_available", lambda logger: None)
    with pytest.warns(UserWarning, match=r"run.logger wandb") as caught:
        result = train(tiny_config(run__logger="wandb"), tmp_path / "r", {}, **QUIET)
    assert result["status"] in ("ok", "collapsed")
    assert [str(w.message) for w in caught if "run.logger wandb" in str(w.message)] == [
        "run.logger wandb: ConnectionError: api.wandb.ai unreachable; this live view is off from here "
        "(metrics.jsonl keeps the record)"]


def test_wandb_needs_its_package_and_a_way_to_log(tmp_path, monkeypatch):
    import importlib.machinery
    import importlib.util
    real = importlib.util.find_spec
    # wandb absent, tensorboard there (whether or not the `live` extra is installed here)
    fake = {"wandb": None, "tensorboard": importlib.machinery.ModuleSpec("tensorboard", None)}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: fake[name] if name in fake else real(name, *a))
    with pytest.raises(live_log.LoggerUnavailable, match=r"needs the wandb package: pip install wandb"):
        live_log.check_available("tensorboard+wandb")
    monkeypatch.undo()
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert not live_log.wandb_can_log()
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password x\n")
    assert live_log.wandb_can_log()
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert live_log.wandb_can_log()
