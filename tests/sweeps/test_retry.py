"""Retry on request: a failed run stays failed until `sweeps.run --retry-failed`, which trains it again from its
checkpoint (or from scratch without one), keeping the failure in failures.jsonl; the sweep's summary and
sweeps.status name the flag and each failure's reason."""
import json

import pytest
import yaml

import core.train.loop
from sweeps.retry import FAILURES, reset_failed
from sweeps.run import cli
from sweeps.status import main as status
from tests.conftest import TINY

SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]
TIMING = ("wall_s", "train_s", "device")


def _args(tmp_path, runs="runs"):
    sweep = tmp_path / "retry.yaml"
    sweep.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0],
                                     "cases": {"a": {}}}))
    return [str(sweep), "--runs-dir", str(tmp_path / runs), "--executor", "inline", "--no-report", *SETS,
            "--set", "optim.epochs=3"]


def _fail_after_the_first_epoch(monkeypatch):
    original = core.train.loop._Training.end_of_epoch

    def end_of_epoch(self, epoch, *args):
        stop = original(self, epoch, *args)                  # logs and checkpoints the epoch
        if epoch == 0:
            raise RuntimeError("injected: the node went away")
        return stop
    monkeypatch.setattr(core.train.loop._Training, "end_of_epoch", end_of_epoch)


def _result(runs):
    [path] = list(runs.glob("retry/*/result.json"))
    return {k: v for k, v in json.loads(path.read_text()).items() if k not in TIMING}


@pytest.mark.slow
def test_a_failed_run_is_retried_from_its_checkpoint_on_request_only(tmp_path, monkeypatch, capsys):
    assert cli(_args(tmp_path, "ref")) == 0                   # the uninterrupted run
    reference = _result(tmp_path / "ref")
    with monkeypatch.context() as m:
        _fail_after_the_first_epoch(m)
        assert cli(_args(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "1 run did not finish cleanly" in err and "RuntimeError: injected: the node went away" in err
    assert "re-run it (from its checkpoint) with " in err and err.rstrip().endswith("--retry-failed")

    assert cli(_args(tmp_path)) == 1                          # not retried unless asked
    out = capsys.readouterr().out
    assert "all runs are finished (1 failed: --retry-failed trains them again); nothing to start" in out
    assert status(["retry", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "RuntimeError: injected: the node went away" in capsys.readouterr().out.splitlines()[-1]

    assert cli([*_args(tmp_path), "--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert "it failed (RuntimeError: injected: the node went away); resumes from its checkpoint (step 4)" in out
    assert "resumed at step 4" in out
    assert _result(tmp_path / "runs") == reference            # the same numbers as a run that never failed
    [run] = list((tmp_path / "runs" / "retry").iterdir())
    [failure] = [json.loads(line) for line in (run / FAILURES).read_text().splitlines()]
    assert failure["result"]["status"] == "failed" and "Traceback" in failure["error"]
    assert not (run / "error.txt").exists()


def test_a_failed_run_without_a_checkpoint_starts_over(tmp_path, capsys):
    run = tmp_path / "runs" / "retry" / "a-s0-x"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"status": "failed", "reason": "DataError: gone"}))
    (run / "attempts.jsonl").write_text('{"job_id": "7", "step": 0}\n')
    from sweeps.retry import retry
    assert retry([run], dry_run=True) == [
        "  would retry a-s0-x: it failed (DataError: gone); starts over (no checkpoint)"]
    assert (run / "result.json").exists()                     # a dry run changes nothing
    assert reset_failed(run)["reason"] == "DataError: gone"
    assert not (run / "result.json").exists() and not (run / "attempts.jsonl").exists()
    assert json.loads((run / FAILURES).read_text())["error"] is None
