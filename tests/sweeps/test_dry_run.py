"""--dry-run means dry, whatever flag comes with it: nothing is written (no run directory, file or report), each plan
is printed once, and the exit code is 0."""
import json
import os
from pathlib import Path

import pytest
import yaml

from core.schema.numerics import NUMERICS_VERSION
from sweeps.expand import expand
from sweeps.prepare import prepare
from sweeps.run import cli
from sweeps.sweepfile import load_sweep
from tests.conftest import TINY

SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]


def _tree(root: Path) -> dict:
    """Every file and directory under `root`, with its size and modification time."""
    return {str(p): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def runs(tmp_path):
    """A sweep's runs in every state a flag acts on: failed (--retry-failed), made under older numerics
    (--stale), partial, and new."""
    path = tmp_path / "dry.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0],
                                    "cases": {"failed": {}, "stale": {"model.dim": 8}, "partial": {"model.dim": 12},
                                              "new": {"model.dim": 20}}}))
    sets = {k: v for k, v in TINY.items() if k != "run.device"}
    specs = {s.case: s for s in expand(load_sweep(path), "cpu", tmp_path / "runs", None, sets)}
    for spec in specs.values():
        prepare(spec)
    row = json.dumps({"epoch": 1.0, "step": 4, "loss": -0.5, "z_std": 0.2}) + "\n"
    for case in ("failed", "stale", "partial"):
        (specs[case].run_dir / "metrics.jsonl").write_text(row)
    (specs["failed"].run_dir / "result.json").write_text(json.dumps({"status": "failed", "reason": "boom"}))
    meta = specs["stale"].run_dir / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "numerics": NUMERICS_VERSION - 1}))
    return path, tmp_path / "runs"


@pytest.mark.parametrize("flags", [["--retry-failed"], ["--stale", "rerun"], ["--stale", "reuse"], ["--no-reuse"],
                                   ["--executor", "slurm"], ["--retry-failed", "--stale", "rerun", "--jobs", "2"]],
                         ids=lambda f: " ".join(f))
def test_dry_run_with_any_flag_writes_nothing_and_exits_0(runs, tmp_path, capsys, flags):
    sweep, root = runs
    before = _tree(tmp_path)
    assert cli([str(sweep), "--runs-dir", str(root), *SETS, "--dry-run", *flags]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert _tree(tmp_path) == before
    assert out.count("would start or resume (dry run: nothing started)") == 1


def test_until_decided_dry_run_prints_its_first_look_once_writes_nothing_and_exits_0(tmp_path, capsys):
    root = tmp_path / "runs"
    root.mkdir()
    before = _tree(tmp_path)
    assert cli(["stopgrad", "--until-decided", "--dry-run", "--runs-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert _tree(tmp_path) == before                               # no report, no run directory
    plans = [line for line in out.splitlines() if line.startswith("until decided: ")]
    assert plans and len(plans) == len(set(plans))                 # each plan once
    assert out.count("would start or resume (dry run: nothing started)") == len(plans)
    assert "did not finish cleanly" not in out and not os.listdir(root)
    assert out.strip().splitlines()[-1].startswith("until decided (dry run): the first look would train the runs")
