"""run.logger tensorboard (core/runtime/live_log.py): the event files hold every metrics.jsonl row, read back as
TensorBoard reads them; a resumed run writes no step twice; with the logger off nothing of TensorBoard is
imported."""
import os
import shutil
import subprocess
import sys

import pytest

from core.config.hyperparameters import ConfigError
from core.runtime.run_directory import RunDir
from core.train.loop import train
from tests.conftest import REPO, tiny_config

QUIET = dict(log=lambda s: None)


def _events(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar event in the directory's event files, raw (no purging, no sampling): tag -> [(step, value)]."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    out = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for v in event.summary.value:               # the loader gives scalars as 0-d float tensors
                out.setdefault(v.tag, []).append((event.step, v.tensor.float_val[0]))
    return out


def _expected(rows: list[dict]) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for row in rows:
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, []).append((row["step"], pytest.approx(value, rel=1e-6)))
    return out


def test_a_run_with_the_logger_mirrors_every_metrics_row(tmp_path):
    pytest.importorskip("tensorboard")
    train(tiny_config(run__logger="tensorboard"), tmp_path / "r", {}, **QUIET)
    rows = RunDir(tmp_path / "r").read_metrics()
    got = _events(tmp_path / "r" / "tb")
    assert {"loss", "z_std", "knn_acc", "epoch", "lr"} <= set(got)
    assert got == _expected(rows)
    # TensorBoard's own reader sees the same
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(tmp_path / "r" / "tb"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss")] == [r["step"] for r in rows if r.get("loss") is not None]


@pytest.mark.slow
def test_a_resumed_run_writes_no_step_twice(tmp_path):
    pytest.importorskip("tensorboard")
    cfg = tiny_config(optim__epochs=3, run__logger="tensorboard")
    train(cfg, tmp_path / "ref", {}, **QUIET)
    # killed after it had logged rows past its checkpoint: the events of all three epochs are there, the
    # checkpoint is the one of epoch 2 (prev.pt), metrics.jsonl will be cut back to it and the rows logged again
    run = tmp_path / "killed"
    shutil.copytree(tmp_path / "ref", run)
    (run / "result.json").unlink()
    (run / "last.pt").unlink()
    train(cfg, run, {}, **QUIET)
    rows = RunDir(run).read_metrics()
    got = _events(run / "tb")
    assert got == _expected(rows)                      # each step once per tag, in order
    assert all(len({s for s, _ in pts}) == len(pts) for pts in got.values())


def test_a_mirror_turned_on_late_catches_up_from_metrics_jsonl(tmp_path):
    pytest.importorskip("tensorboard")
    quiet = RunDir(tmp_path / "r")
    quiet.path.mkdir()
    for step in (0, 2, 4):
        quiet.append_metrics({"step": step, "epoch": step / 4, "loss": -0.1 * step})
    assert not (tmp_path / "r" / "tb").exists()
    live = RunDir(tmp_path / "r", logger="tensorboard")
    live.append_metrics({"step": 6, "epoch": 1.5, "loss": -0.6, "collapsed": True})
    live.mirror_row({"step": 1, "linear_eval/top1": 12.5})
    live.close_mirror()
    got = _events(tmp_path / "r" / "tb")
    assert [s for s, _ in got["loss"]] == [0, 2, 4, 6] and got["linear_eval/top1"] == [(1, 12.5)]
    assert "collapsed" not in got                       # booleans are not curves


def test_with_the_logger_off_nothing_of_tensorboard_or_wandb_is_imported(tmp_path):
    code = ("import sys; sys.path.insert(0, %r); from tests.conftest import tiny_config; "
            "from core.train.loop import train; train(tiny_config(), %r, {}, log=lambda s: None); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorboard', 'wandb') "
            "or m == 'core.runtime.live_log' or m.startswith('torch.utils.tensorboard')]; assert not bad, bad") % (
        str(REPO), str(tmp_path / "r"))
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert (tmp_path / "r" / "result.json").exists() and not (tmp_path / "r" / "tb").exists()


def test_a_sweep_with_the_logger_but_no_tensorboard_stops_before_it_starts(monkeypatch):
    import importlib.util

    from sweeps.prepare import check_logger
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match=r"run.logger tensorboard needs the tensorboard package: pip install"):
        check_logger("tensorboard")
    check_logger("none")
