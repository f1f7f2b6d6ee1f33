"""sweeps.twins: a run whose config equals a finished run's in another sweep copies that record."""
import json
from pathlib import Path

import pytest
import yaml

from core.runtime.run_directory import RunDir
from sweeps.expand import expand
from sweeps.run import cli
from sweeps.sweepfile import load_sweep
from sweeps.twins import find_twin
from tests.conftest import TINY

SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]


def sweep_file(tmp: Path, name: str, cases: dict) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"figure": "Table 1", "title": name, "metrics": ["knn_acc"], "seeds": [0],
                                    "cases": cases}))
    return path


def run(tmp: Path, path: Path, *extra) -> int:
    return cli([str(path), "--executor", "inline", "--runs-dir", str(tmp / "runs"), "--no-report", *SETS, *extra])


def dirs(tmp: Path, name: str) -> dict[str, Path]:
    return {json.loads((d / "meta.json").read_text())["case"]: d for d in (tmp / "runs" / name).iterdir()}


@pytest.mark.slow
def test_a_run_equal_to_a_finished_one_elsewhere_copies_its_record(tmp_path, capsys):
    assert run(tmp_path, sweep_file(tmp_path, "fig2", {"w/ stop-grad": {}, "w/o": {"model.stop_grad": False}})) == 0
    capsys.readouterr()
    assert run(tmp_path, sweep_file(tmp_path, "table1", {"baseline": {}, "no h": {"model.predictor": "none"}})) == 0
    out = capsys.readouterr().out
    origin, (base, no_h) = dirs(tmp_path, "fig2")["w/ stop-grad"], dirs(tmp_path, "table1").values()
    if json.loads((base / "meta.json").read_text())["case"] != "baseline":
        base, no_h = no_h, base
    assert f"same config as fig2/{origin.name} (finished): copied its record" in out
    assert "1 of 1 run ended in " in out                                    # only "no h" trained
    meta = json.loads((base / "meta.json").read_text())
    assert meta["copied_from"] == f"fig2/{origin.name}" and meta["sweep"] == "table1" and meta["case"] == "baseline"
    assert meta["commit"] == json.loads((origin / "meta.json").read_text())["commit"]
    assert RunDir(base).read_result() == RunDir(origin).read_result()
    assert RunDir(base).read_metrics() == RunDir(origin).read_metrics()
    assert not (base / "last.pt").exists()                                   # nothing trained here
    assert "copied_from" not in json.loads((no_h / "meta.json").read_text())
    assert RunDir(no_h).read_result()["status"] in ("ok", "collapsed")


@pytest.mark.slow
def test_a_prepared_but_never_started_run_is_copied_too(tmp_path, capsys):
    assert run(tmp_path, sweep_file(tmp_path, "fig2", {"w/ stop-grad": {}})) == 0
    table1 = sweep_file(tmp_path, "table1", {"baseline": {}})
    (spec,) = expand(load_sweep(str(table1)), "cpu", tmp_path / "runs", None,
                     {k: v for k, v in TINY.items() if k != "run.device"})
    from sweeps.prepare import prepare
    prepare(spec)                                      # as a sweep killed before this run began leaves it
    capsys.readouterr()
    assert run(tmp_path, table1) == 0
    assert "copied its record" in capsys.readouterr().out
    assert "copied_from" in json.loads((spec.run_dir / "meta.json").read_text())


@pytest.mark.slow
def test_no_reuse_trains_and_a_failed_twin_is_never_copied(tmp_path, capsys):
    assert run(tmp_path, sweep_file(tmp_path, "fig2", {"w/ stop-grad": {}})) == 0
    origin = dirs(tmp_path, "fig2")["w/ stop-grad"]
    table1 = sweep_file(tmp_path, "table1", {"baseline": {}})
    assert run(tmp_path, table1, "--no-reuse") == 0
    base = dirs(tmp_path, "table1")["baseline"]
    assert "copied_from" not in json.loads((base / "meta.json").read_text()) and (base / "last.pt").exists()
    (spec,) = expand(load_sweep(str(sweep_file(tmp_path, "table3", {"default": {}}))), "cpu", tmp_path / "runs",
                     None, {k: v for k, v in TINY.items() if k != "run.device"})
    assert find_twin(spec, tmp_path / "runs") in (origin, base)
    for d in (origin, base):
        RunDir(d).write_result({"status": "failed", "reason": "test"})
    assert find_twin(spec, tmp_path / "runs") is None
