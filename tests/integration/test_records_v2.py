"""What a run records since numerics version 2: graded collapse, the backbone's spread at every kNN point, the
moving-average eta's start, schedule lengths scaled with the preset, and the guard against stale records."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core.config.hyperparameters import ConfigError
from core.runtime.run_directory import RunDir
from core.schema.numerics import NUMERICS_VERSION
from core.schema.record import COLLAPSED, NEAR_COLLAPSE, OK, collapse_status, numerics_version
from core.train.loop import train
from sweeps.expand import expand
from sweeps.run import cli
from sweeps.sweepfile import load_sweep
from tests.conftest import tiny_config
from tests.sweeps.test_twins import dirs, run, sweep_file

QUIET = dict(log=lambda s: None)


@pytest.mark.parametrize("frac,status", [(0.05, COLLAPSED), (0.099, COLLAPSED), (0.1, NEAR_COLLAPSE),
                                         (0.49, NEAR_COLLAPSE), (0.5, OK), (1.0, OK)])
def test_collapse_is_graded_by_the_final_z_std(frac, status):
    assert collapse_status(frac / math.sqrt(512), 512, 0.1, 0.5) == status


def test_a_run_between_the_two_lines_ends_near_collapse(tmp_path):
    # the near-collapse line far above any z_std, the collapse line far below: every run lands between
    result = train(tiny_config(eval__collapse_frac=1e-6, eval__near_collapse_frac=10.0), tmp_path / "r", {}, **QUIET)
    assert result["status"] == NEAR_COLLAPSE and result["collapsed_at_epoch"] is None


def test_the_backbone_spread_is_logged_at_every_knn_point_and_in_the_result(tmp_path):
    cfg = tiny_config()
    features = cfg.model.small_width * 8                     # the small ResNet's pool5: 8 x its width
    result = train(cfg, tmp_path / "r", {}, **QUIET)
    rows = [r for r in RunDir(tmp_path / "r").read_metrics() if "knn_acc" in r]
    assert [r["epoch"] for r in rows] == [0.0, 1.0, 2.0]
    for r in rows:
        assert 0.0 < r["backbone_std"] < 1.0 and 1.0 <= r["backbone_erank"] <= features
    assert result["backbone_std"] == rows[-1]["backbone_std"] and result["backbone_erank"] == rows[-1]["backbone_erank"]
    assert result["backbone_std_init"] == rows[0]["backbone_std"]
    assert result["knn_acc"] == rows[-1]["knn_acc"]           # the final evaluation reuses the last point's features
    assert result["backbone_std_ref"] == pytest.approx(1 / math.sqrt(features))
    assert result["num_classes"] == 10                       # chance for the analysis, from the record itself
    assert numerics_version(RunDir(tmp_path / "r").read_meta()) == NUMERICS_VERSION


def test_backbone_spread_is_z_std_and_effective_rank_of_the_normalized_test_features():
    from core.eval.frozen_backbone import Features, backbone_spread
    from core.eval.monitors import effective_rank
    q = torch.randn(50, 8).abs()
    out = backbone_spread(Features(torch.zeros(1, 8), torch.zeros(1), q, torch.zeros(50)))
    qn = F.normalize(q, dim=1)
    assert out["backbone_std"] == pytest.approx(qn.std(dim=0).mean().item())
    assert out["backbone_erank"] == pytest.approx(effective_rank(q).item())


def test_the_moving_average_eta_starts_from_the_random_networks_outputs():
    from core.data.batches import make_source
    from core.model.simsiam import SimSiam
    from core.objective.targets import MovingAverageTargets
    cfg = tiny_config(target__eta="moving_average", model__predictor="none")
    torch.manual_seed(0)
    source = make_source(cfg, torch.device("cpu"))
    model = SimSiam(cfg.model, source.channels).train()
    bn_before = [b.clone() for b in model.buffers()]
    ema = MovingAverageTargets(source.n_train, cfg.model.dim, cfg.target.eta_momentum, torch.device("cpu"))
    ema.start_from(model, source.eval_batches("train"))
    assert all(torch.equal(a, b) for a, b in zip(bn_before, model.buffers()))    # BN running stats untouched
    with torch.no_grad():
        expected = torch.cat([F.normalize(model.f(xb), dim=1) for xb, _ in source.eval_batches("train")])
    assert ema.seen.all() and len(expected) == source.n_train and torch.equal(ema.eta, expected)


def test_the_two_eta_starts_are_different_runs(tmp_path):
    base = dict(target__eta="moving_average", model__predictor="none", optim__epochs=1)
    a = train(tiny_config(**base), tmp_path / "a", {}, **QUIET)
    b = train(tiny_config(**base, target__eta_init="first_seen"), tmp_path / "b", {}, **QUIET)
    assert a["loss"] != b["loss"]


def test_a_warm_up_as_long_as_training_is_refused_naming_both_keys():
    with pytest.raises(ConfigError, match=r"'optim.warmup_epochs' \(2\) must be shorter than 'optim.epochs' \(2\)"):
        tiny_config(optim__warmup_epochs=2)


@pytest.mark.parametrize("preset,sets,warmup", [("cpu", {}, 1.0), ("imagenet", {}, 10.0),
                                                 ("cpu", {"optim.epochs": 20}, 2.0), ("cifar10", {}, 80.0)])
def test_the_papers_warm_up_stays_a_tenth_of_training(preset, sets, warmup):
    """Table 3(a) says 10 warm-up epochs of a 100-epoch run: a sweep file's schedule lengths are paper epochs."""
    specs = [s for s in expand(load_sweep("batchnorm"), preset, Path("runs"), [0], sets or None)
             if s.case == "(a) none"]
    assert specs[0].config.optim.warmup_epochs == warmup
    assert specs[0].meta()["epoch_scale"] == specs[0].config.optim.epochs / 100
    literal = expand(load_sweep("batchnorm"), "cpu", Path("runs"), [0], {"optim.warmup_epochs": 3})
    assert {s.config.optim.warmup_epochs for s in literal} == {3.0}                  # --set is taken as it is


def test_cases_select_rows_and_a_typo_is_named(tmp_path, capsys):
    specs = expand(load_sweep("batchnorm"), "cpu", Path("runs"), [0], None, ["(c) default", "(a) none"])
    assert [s.case for s in specs] == ["(a) none", "(c) default"]                     # the file's order
    by_slug = expand(load_sweep("batchnorm"), "cpu", Path("runs"), [0], None, ["c-default", "A-None"])
    assert [s.case for s in by_slug] == ["(a) none", "(c) default"]                   # as in the run ids
    assert cli(["batchnorm", "--dry-run", "--runs-dir", str(tmp_path), "--cases", "(a) nnoe"]) == 2
    assert "'(a) nnoe' is not a case of batchnorm (did you mean '(a) none'?)" in capsys.readouterr().err


def _age(run_dir: Path, version: int) -> None:
    """Make a run directory look as if older training numerics had made it."""
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "numerics": version}))


def test_a_run_made_under_other_numerics_is_not_reused_without_the_flag(tmp_path, capsys):
    path = sweep_file(tmp_path, "fig2", {"w/": {}})
    assert run(tmp_path, path) == 0
    (done,) = dirs(tmp_path, "fig2").values()
    before = (done / "result.json").read_text()
    _age(done, NUMERICS_VERSION - 1)
    capsys.readouterr()
    assert run(tmp_path, path) == 2                                   # refused: nothing starts, nothing changes
    err = capsys.readouterr().err
    assert f"made under other training numerics than this code's (v{NUMERICS_VERSION})" in err
    assert "--stale rerun" in err and (done / "result.json").read_text() == before
    assert run(tmp_path, path, "--stale", "reuse") == 0               # kept as it is
    assert "all runs are finished" in capsys.readouterr().out and (done / "result.json").read_text() == before
    assert run(tmp_path, path, "--stale", "rerun") == 0               # moved aside, trained again
    moved = list((tmp_path / "runs" / "fig2" / ".stale").iterdir())
    assert [m.name for m in moved] == [f"{done.name}.numerics-v{NUMERICS_VERSION - 1}"]
    assert numerics_version(json.loads((done / "meta.json").read_text())) == NUMERICS_VERSION
    assert json.loads((done / "result.json").read_text())["status"] in (OK, NEAR_COLLAPSE, COLLAPSED)


def test_a_partial_run_of_other_numerics_is_never_finished_by_this_code(tmp_path, capsys):
    path = sweep_file(tmp_path, "fig2", {"w/": {}})
    assert run(tmp_path, path) == 0
    (done,) = dirs(tmp_path, "fig2").values()
    (done / "result.json").unlink()                                    # as if killed before its end
    _age(done, NUMERICS_VERSION - 1)
    assert run(tmp_path, path, "--stale", "reuse") == 2
    assert "a partial run cannot be finished under other numerics" in capsys.readouterr().err


def test_a_twin_of_other_numerics_is_not_copied(tmp_path, capsys):
    assert run(tmp_path, sweep_file(tmp_path, "fig2", {"w/": {}})) == 0
    (origin,) = dirs(tmp_path, "fig2").values()
    _age(origin, NUMERICS_VERSION - 1)
    capsys.readouterr()
    assert run(tmp_path, sweep_file(tmp_path, "table1", {"baseline": {}})) == 0
    out = capsys.readouterr().out
    assert "copied its record" not in out and "1 of 1 run ended in " in out
    (copy,) = dirs(tmp_path, "table1").values()
    assert "copied_from" not in json.loads((copy / "meta.json").read_text())
