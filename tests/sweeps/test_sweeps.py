import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.config.hyperparameters import ConfigError
from core.config.overrides import parse_set
from sweeps.expand import expand
from sweeps.run import cli
from sweeps.sweepfile import known_sweeps, load_sweep
from tests.conftest import REPO, TINY


@pytest.mark.parametrize("name", known_sweeps())
@pytest.mark.parametrize("preset", ["cpu", "cifar10", "imagenet"])
def test_every_ablation_expands_and_validates(name, preset, tmp_path):
    sweep = load_sweep(name)
    specs = expand(sweep, preset, tmp_path)
    points = len(list(__import__("itertools").product(*sweep.grid.values())))
    assert len(specs) == len(sweep.cases) * len(sweep.seeds) * max(1, points)
    assert len({s.run_id for s in specs}) == len(specs)          # every run has its own directory
    for case in sweep.paper:
        assert case in sweep.cases


@pytest.mark.parametrize("name", known_sweeps())
def test_misspelt_key_in_any_sweep_file_fails_with_the_key_named(name, tmp_path):
    data = yaml.safe_load((REPO / "ablations" / f"{name}.yaml").read_text())
    case = next(iter(data["cases"]))
    data["cases"][case] = {**(data["cases"][case] or {}), "optim.batchsize": 64}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"unknown key 'optim.batchsize' \(did you mean 'optim.batch_size'\?\)"):
        load_sweep(str(path))


def test_misspelt_key_in_sweep_file_names_file_case_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "cases": {"a": {"model.stopgrad": False}}}))
    with pytest.raises(ConfigError,
                       match=r"bad.yaml: case 'a': unknown key 'model.stopgrad' \(did you mean 'model.stop_grad'\?\)"):
        load_sweep(str(path))


def test_unknown_top_level_key_and_yaml_syntax_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("figure: F\ntitle: t\ncases: {a: {}}\nseed: [0]\n")
    with pytest.raises(ConfigError, match=r"unknown key 'seed' \(did you mean 'seeds'\?\)"):
        load_sweep(str(path))
    path.write_text("figure: F\ntitle: t\ncases:\n  a: {model.dim: 8\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+"):
        load_sweep(str(path))


def test_override_order_case_then_set_then_seed(tmp_path):
    sweep = load_sweep("stopgrad")
    specs = expand(sweep, "cpu", tmp_path, seeds=[3, 4],
                   cli_overrides=parse_set(["model.stop_grad=true", "optim.epochs=2"]))
    assert [s.seed for s in specs] == [3, 4, 3, 4]
    assert all(s.config.model.stop_grad and s.config.optim.epochs == 2 and s.config.run.seed == s.seed for s in specs)
    assert specs[0].config.data.dataset == "fashion_mnist"      # from the preset


def _tiny_sweep(tmp_path: Path) -> Path:
    path = tmp_path / "tinysweep.yaml"
    path.write_text(yaml.safe_dump({
        "figure": "Figure 2", "title": "tiny", "metrics": ["knn_acc", "z_std"], "seeds": [0],
        "cases": {"w/ stop-grad": {}, "w/o stop-grad": {"model.stop_grad": False}},
        "paper": {"w/ stop-grad": "67.7 ± 0.1", "w/o stop-grad": 0.1}}))
    return path


def _tiny_args(tmp_path, *extra):
    sets = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]
    return [str(_tiny_sweep(tmp_path)), "--executor", "inline", "--runs-dir", str(tmp_path / "runs"),
            "--report-dir", str(tmp_path / "reports"), *sets, *extra]


@pytest.mark.slow
def test_inline_sweep_end_to_end_then_rerun_starts_nothing(tmp_path, capsys):
    assert cli(_tiny_args(tmp_path)) == 0
    runs = sorted((tmp_path / "runs" / "tinysweep").iterdir())
    assert len(runs) == 2
    for r in runs:
        assert json.loads((r / "result.json").read_text())["status"] in ("ok", "collapsed")
        meta = json.loads((r / "meta.json").read_text())
        assert meta["sweep"] == "tinysweep" and meta["case"] in ("w/ stop-grad", "w/o stop-grad")
    groups = list((tmp_path / "reports" / "tinysweep").iterdir())          # <report-dir>/<sweep>/<group>/
    assert len(groups) == 1 and groups[0].name.startswith("cpu_data.dataset=synthetic_")
    table = (groups[0] / "table.md").read_text()
    assert "w/ stop-grad" in table and "67.7" in table and "w/o stop-grad | missing" not in table
    assert (groups[0] / "curves.png").stat().st_size > 1000
    mtimes = {r: (r / "result.json").stat().st_mtime for r in runs}
    capsys.readouterr()
    assert cli(_tiny_args(tmp_path)) == 0
    assert "nothing to start" in capsys.readouterr().out
    assert {r: (r / "result.json").stat().st_mtime for r in runs} == mtimes


def test_dry_run_lists_runs_and_creates_nothing(tmp_path, capsys):
    assert cli(_tiny_args(tmp_path, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert out.count(" new") == 2 and "dry run" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args,message", [
    (["stopgrd"], "unknown sweep 'stopgrd' (did you mean 'stopgrad'?)"),
    (["stopgrad", "--set", "model.stopgrad=false"],
     "--set: unknown key 'model.stopgrad' (did you mean 'model.stop_grad'?)"),
    (["stopgrad", "--set", "optim.batch_size=0"], "'optim.batch_size' must be positive"),
    (["stopgrad", "--preset", "gpu"], "unknown preset 'gpu'"),
    (["stopgrad", "--set", "data.root=/nonexistent", "--runs-dir", "RUNS"], "Fashion-MNIST not found"),
])
def test_bad_input_is_one_line_without_traceback(args, message, tmp_path):
    args = [a.replace("RUNS", str(tmp_path / "runs")) for a in args]
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_parse_set_reads_yaml_values():
    assert parse_set(["a.b=2", "a.c=false", "a.d=0.5", "a.e=cosine"]) == {"a.b": 2, "a.c": False, "a.d": 0.5,
                                                                           "a.e": "cosine"}
    assert parse_set(["a.f=x=y", "a.g="]) == {"a.f": "x=y", "a.g": ""}
    with pytest.raises(ConfigError, match="expected key=value, got 'optim.epochs'"):
        parse_set(["optim.epochs"])


@pytest.mark.parametrize("text,message", [
    ("figure: F\ntitle: t\ncases:\n  a: {model.dim: 8\n", "line 5, column 1: YAML syntax error"),
    ("figure: F\ntitle: t\nseeds: [0, one]\ncases: {a: {}}\n",
     "'seeds' must be a non-empty list of non-negative integers"),
    ("figure: F\ntitle: t\ncases: {a: {optim.base_lr: -0.5}}\n", "'optim.base_lr' must be >= 0, got -0.5"),
    ("figure: F\ntitle: t\ncases: {a: {model.predictor: identity}}\n",
     "'model.predictor' must be one of ['mlp', 'none', 'frozen']"),
    # parsable, but YAML would keep only the last of a key written twice: refused, at any depth
    ("figure: F\ntitle: t\ncases:\n  a: {}\n  a: {model.dim: 8}\n",
     "line 5, column 3: key 'a' is written twice (first at line 4, column 3)"),
    ("figure: F\ntitle: t\ncases:\n  a:\n    model.dim: 8\n    model.dim: 16\n",
     "line 6, column 5: key 'model.dim' is written twice (first at line 5, column 5)"),
    ("figure: F\ntitle: t\ncases: {a: {}}\ntitle: u\n", "key 'title' is written twice"),
    ("", "empty sweep file"),
    ("# a comment\n\n   # and another\n", "empty sweep file"),
])
def test_bad_sweep_file_is_one_line_naming_file_and_key(text, message, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(path), "--runs-dir", str(tmp_path / "runs")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
