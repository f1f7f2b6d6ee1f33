import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.runtime.run_directory import RunDir
from core.train.loop import train
from tests.conftest import REPO, tiny_config

QUIET = dict(log=lambda s: None)


@pytest.mark.slow
def test_short_run_writes_the_whole_run_directory(tmp_path):
    cfg = tiny_config()
    result = train(cfg, tmp_path / "r", {"sweep": "t", "case": "c", "seed": 0, "preset": "tiny"}, **QUIET)
    rd = RunDir(tmp_path / "r")
    assert rd.read_config() == cfg
    meta = rd.read_meta()
    assert {"sweep", "case", "seed", "preset", "commit", "start_time", "torch"} <= set(meta)
    rows = rd.read_metrics()
    assert rows[0]["step"] == 0 and rows[0]["knn_acc"] == result["knn_acc_init"]
    assert [r["epoch"] for r in rows if "knn_acc" in r] == [0.0, 1.0, 2.0]
    steps = [r["step"] for r in rows]
    assert steps == sorted(steps) and steps[-1] == result["step"] == 2 * (128 // 32)
    assert all({"epoch", "step", "loss", "z_std"} <= set(r) for r in rows)
    saved = json.loads((tmp_path / "r" / "result.json").read_text())
    assert saved["status"] in ("ok", "collapsed") and saved == json.loads(json.dumps(result))
    for key in ("loss", "z_std", "knn_acc", "knn_acc_init", "linear_acc", "wall_s"):
        assert isinstance(saved[key], float), key
    assert saved["eval"]["knn_k"] == 20 and (tmp_path / "r" / "last.pt").exists()


@pytest.mark.slow
def test_training_with_stop_grad_beats_random_init_on_synthetic_data(tmp_path):
    # lr 0.1: on the width-8 net it gains at one and two threads alike (59.4% against 50.0% at init, measured)
    cfg = tiny_config(optim__epochs=6, data__train_subset=512, optim__base_lr=0.1)
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    assert result["status"] == "ok"
    assert result["knn_acc"] > result["knn_acc_init"]


def test_nan_loss_ends_as_diverged(tmp_path):
    result = train(tiny_config(optim__base_lr=1e30), tmp_path / "r", {}, **QUIET)
    assert result["status"] == "diverged"
    assert result["step"] >= 1 and result["loss"] is None
    assert json.loads((tmp_path / "r" / "result.json").read_text())["status"] == "diverged"


def test_exception_ends_as_failed_with_traceback(tmp_path):
    cfg = tiny_config(optim__batch_size=4096)  # more than the 128 training images
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    assert result["status"] == "failed" and "batch size 4096" in result["reason"]
    assert "Traceback" in (tmp_path / "r" / "error.txt").read_text()


def _comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("wall_s", "train_s")}


def _child(run_dir: Path, cfg) -> subprocess.Popen:
    RunDir(run_dir).write_config(cfg)
    code = ("import sys; sys.path.insert(0, %r); from core.runtime.run_directory import RunDir; "
            "from core.train.loop import train; rd = RunDir(%r); "
            "train(rd.read_config(), rd.path, {}, log=lambda s: None)") % (str(REPO), str(run_dir))
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for(pred, proc, timeout=120):
    t0 = time.time()
    while not pred():
        assert proc.poll() is None, "child ended early"
        assert time.time() - t0 < timeout
        time.sleep(0.02)


def _ckpt_step(run_dir: Path) -> int:
    try:
        return torch.load(run_dir / "last.pt", weights_only=True)["state"]["step"]
    except Exception:
        return -1


@pytest.mark.slow
def test_run_killed_after_first_epoch_resumes_to_the_same_result(tmp_path):
    torch.set_num_threads(1)
    cfg = tiny_config(optim__epochs=3)
    reference = train(cfg, tmp_path / "ref", {}, **QUIET)

    run = tmp_path / "killed"
    proc = _child(run, cfg)
    _wait_for(lambda: _ckpt_step(run) >= 4, proc)    # first epoch (4 steps) checkpointed
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "result.json").exists()
    resumed = train(cfg, run, {}, **QUIET)
    assert _comparable(resumed) == _comparable(reference)
    steps = [r["step"] for r in RunDir(run).read_metrics()]
    assert steps == [r["step"] for r in RunDir(tmp_path / "ref").read_metrics()]  # no duplicated rows


@pytest.mark.slow
def test_sigterm_checkpoints_mid_epoch_and_resume_is_exact(tmp_path):
    torch.set_num_threads(1)
    cfg = tiny_config(optim__epochs=2, data__train_subset=1000)  # 31 steps per epoch
    reference = train(cfg, tmp_path / "ref", {}, **QUIET)
    run = tmp_path / "term"
    proc = _child(run, cfg)
    _wait_for(lambda: any(r.get("step", 0) >= 4 for r in RunDir(run).read_metrics()), proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0                 # Preempted propagates
    step = _ckpt_step(run)
    assert 0 < step < 2 * 31 and not (run / "result.json").exists()
    resumed = train(cfg, run, {}, **QUIET)
    assert _comparable(resumed) == _comparable(reference)


@pytest.mark.slow
def test_corrupt_last_checkpoint_falls_back_to_previous(tmp_path):
    cfg = tiny_config(optim__epochs=2)
    reference = train(cfg, tmp_path / "ref", {}, **QUIET)
    run = tmp_path / "r"
    train(cfg, run, {}, **QUIET)
    (run / "result.json").unlink()
    (run / "last.pt").write_bytes(b"torn")          # the prev.pt (end of epoch 1) is still good
    said = []                                        # the fallback is said in one line of the run's log
    resumed = train(cfg, run, {}, log=said.append)
    assert any("last.pt: unreadable" in line and "resuming from prev.pt" in line for line in said), said
    assert _comparable(resumed) == _comparable(reference)


def test_collapse_early_stop_fires_when_z_std_stays_low(tmp_path):
    # collapse_frac 10 puts the floor (10/sqrt(d)) above any z_std, so every logging point counts as collapsed
    cfg = tiny_config(optim__epochs=3, eval__collapse_frac=10.0, eval__near_collapse_frac=10.0,
                      eval__collapse_patience=3)
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    rows = RunDir(tmp_path / "r").read_metrics()
    assert result["status"] == "collapsed" and result["stopped_early"] is True
    assert result["step"] == 6 and result["epoch"] == 1.5          # log_every 2: rows at steps 2, 4, 6
    assert result["collapsed_at_epoch"] == rows[1]["epoch"] == 0.5
    assert result["knn_acc"] is not None and result["linear_acc"] is not None


@pytest.mark.slow
def test_collapse_early_stop_does_not_fire_on_a_healthy_run(tmp_path):
    cfg = tiny_config(optim__epochs=2, eval__collapse_patience=1)
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    assert result["status"] == "ok" and result["stopped_early"] is False and result["step"] == 8
    assert result["collapsed_at_epoch"] is None


def test_effective_rank_is_logged_with_z_std(tmp_path):
    cfg = tiny_config()
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    rows = [r for r in RunDir(tmp_path / "r").read_metrics() if r["step"] > 0]
    assert all(1.0 <= r["z_erank"] <= cfg.model.dim for r in rows)
    assert result["z_erank"] == rows[-1]["z_erank"]


def test_a_run_stopped_at_another_batch_sizes_step_count(tmp_path):
    """Batch 32 on 128 images is 4 steps an epoch; 3 epochs at batch 64's 2 steps an epoch are 6 steps: the run
    stops after step 6 (epoch 1.5), its last kNN point and result there, and the cosine lr is read against the
    1.5 epochs those steps make, not optim.epochs' 3."""
    from core.optim.schedule import cosine_lr
    cfg = tiny_config(optim__epochs=3, optim__steps_as_batch=64, run__log_every=1)    # 3 x 2 = 6 steps = 1.5 epochs
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    assert result["step"] == 6 and result["epoch"] == 1.5
    rows = RunDir(tmp_path / "r").read_metrics()
    assert [r["epoch"] for r in rows if "knn_acc" in r] == [0.0, 1.0, 1.5]
    lrs = {r["step"]: r["lr"] for r in rows if r.get("lr") is not None}
    peak = cfg.optim.base_lr * cfg.optim.batch_size / 256
    assert lrs[5] == pytest.approx(cosine_lr(peak, 1 + 0 / 4, 1.5))      # step 5 is epoch 1's first step
    assert lrs[6] == pytest.approx(cosine_lr(peak, 1 + 1 / 4, 1.5))
    assert max(r["step"] for r in rows) == 6
    ends = [r for r in rows if r["step"] == 6]                      # one row for the last step, with its loss
    assert len(ends) == 1 and -1 <= ends[0]["loss"] <= 1 and ends[0]["z_std"] > 0   # a negative cosine, logged


@pytest.mark.slow
def test_a_finished_run_keeps_one_checkpoint_unless_asked_for_two(tmp_path):
    train(tiny_config(run__keep_checkpoints=1), tmp_path / "one", {}, **QUIET)
    assert (tmp_path / "one" / "last.pt").exists() and not (tmp_path / "one" / "prev.pt").exists()
    train(tiny_config(run__keep_checkpoints=2), tmp_path / "two", {}, **QUIET)
    assert (tmp_path / "two" / "last.pt").exists() and (tmp_path / "two" / "prev.pt").exists()
    failed = train(tiny_config(run__keep_checkpoints=1, optim__batch_size=4096), tmp_path / "failed", {}, **QUIET)
    assert failed["status"] == "failed"                            # a failed run keeps what it has, for a retry
    from core.config.hyperparameters import Config
    assert Config().run.keep_checkpoints == 1
