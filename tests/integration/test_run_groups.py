"""Never a verdict across runs that differ (core.config.run_groups, analysis.selection): a report judges only runs whose
configs differ in their cases' own settings and the seed, of one preset and one numerics version; it refuses
where that is not clear, and writes each group's report to a place of its own. Fixture run trees are made by
the real expansion (sweeps.expand), as sweeps.run would prepare them; no torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.comparisons import Comparison, Declared
from analysis.writer import write_all, write_report
from analysis.runs import load_runs
from analysis.selection import ReportError, with_groups
from core.config.hyperparameters import config_hash, dump_yaml
from core.config.run_groups import OverCase, identity_config, name_groups, run_group
from core.schema.group_record import group_names, group_slug
from core.schema.numerics import NUMERICS_VERSION
from core.schema.sweep_format import known_sweeps, load_sweep
from sweeps.expand import expand
from tests.conftest import REPO

WITH, WITHOUT = "w/ stop-grad", "w/o stop-grad"


def make_runs(root: Path, sweep: str, cases=None, seeds=(0, 1, 2), preset="cpu", sets=None, hour=10,
              numerics=NUMERICS_VERSION) -> list[str]:
    """Finished runs of `sweep` under `root` as sweeps.run prepares them; returns their run ids."""
    ids = []
    for i, spec in enumerate(expand(load_sweep(sweep), preset, root, list(seeds), sets, cases)):
        d = spec.run_dir
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.yaml").write_text(dump_yaml(spec.config))
        meta = {**spec.meta(), "commit": "f1x7ure", "numerics": numerics,
                "start_time": f"2024-05-01T{hour:02d}:{i:02d}:00+00:00"}
        (d / "meta.json").write_text(json.dumps(meta))
        bad = not spec.config.model.stop_grad
        (d / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "step": 10, "loss": -0.5, "z_std": 0.04}) + "\n")
        (d / "result.json").write_text(json.dumps({
            "status": "collapsed" if bad else "ok", "loss": -1.0 if bad else -0.8, "z_std": 1e-4 if bad else 0.04,
            "knn_acc": 10.0 if bad else 70.0 + spec.seed, "knn_acc_init": 40.0, "linear_acc": 60.0}))
        ids.append(spec.run_id)
    return ids


def _group(sweep: str, case: str, preset="cpu", sets=None, seed=0, numerics=NUMERICS_VERSION):
    spec = expand(load_sweep(sweep), preset, Path("runs"), [seed], sets, [case])[0]
    meta = {**spec.meta(), "numerics": numerics}
    return run_group(yaml.safe_load(dump_yaml(spec.config)), meta, load_sweep(sweep).overrides[case]), spec


# ---- the comparable part and the group of one run -------------------------------------------------------------

def test_the_cases_of_a_sweep_at_one_config_form_one_group():
    for sweep in ("stopgrad", "batch_size", "methods", "batchnorm", "predictor"):
        cases = load_sweep(sweep).cases
        groups = {_group(sweep, c, seed=s)[0] for c in cases for s in (0, 1)}
        assert len(groups) == 1, sweep
        assert name_groups(groups) == {next(iter(groups)): "cpu"}


def test_a_set_override_is_its_own_group_named_by_it():
    base, _ = _group("stopgrad", WITH)
    low = {_group("stopgrad", c, sets={"optim.base_lr": 0.05})[0] for c in (WITH, WITHOUT)}
    assert len(low) == 1 and base not in low
    assert name_groups([base, *low]) == {base: "cpu", next(iter(low)): "cpu, optim.base_lr=0.05"}
    # the schedule is scaled alike in every case, so a sweep whose cases set a warm-up stays one group
    longer = {_group("batch_size", c, sets={"optim.epochs": 20})[0] for c in load_sweep("batch_size").cases}
    assert len(longer) == 1 and name_groups(longer)[next(iter(longer))] == "cpu, optim.epochs=20"
    # methods whose parts differ, run at another base lr: still one group
    methods = {_group("methods", c, sets={"optim.base_lr": 0.5})[0] for c in load_sweep("methods").cases}
    assert name_groups(methods) == {next(iter(methods)): "cpu, optim.base_lr=0.5"}


def test_a_set_of_a_key_a_case_owns_follows_what_the_run_computed():
    """--set wins over a case. Where that makes a run the same config as the plain sweep's (the same run id),
    it is in the plain group; where it overrides what the case says, the run is in a group of its own."""
    plain, w_plain = _group("stopgrad", WITH)
    w_false, w_spec = _group("stopgrad", WITH, sets={"model.stop_grad": False})
    wo_false, wo_spec = _group("stopgrad", WITHOUT, sets={"model.stop_grad": False})
    wo_plain, wo_plain_spec = _group("stopgrad", WITHOUT)
    assert config_hash(wo_spec.config) == config_hash(wo_plain_spec.config) and wo_false == plain
    assert w_false != plain and name_groups([plain, w_false])[w_false] == "cpu, model.stop_grad=false"
    wo_true, _ = _group("stopgrad", WITHOUT, sets={"model.stop_grad": True})   # the base's value, over the case
    assert config_hash(_group("stopgrad", WITH, sets={"model.stop_grad": True})[1].config) == config_hash(
        w_plain.config)
    assert wo_true != plain and wo_true.settings["model.stop_grad"] == OverCase(True)


def test_settings_that_compute_nothing_and_old_names_do_not_split_a_group():
    g, spec = _group("stopgrad", WITH)
    cfg = yaml.safe_load(dump_yaml(spec.config))
    cfg["data"].update(root="/elsewhere", workers=2)
    cfg["run"].update(threads=1, device="cpu", seed=7)
    assert run_group(cfg, {**spec.meta(), "numerics": NUMERICS_VERSION}, {"optim.pred_lr": "cosine"}) == g
    old = {k: v for k, v in cfg.items() if k != "loss"}                     # a record made before a section
    assert identity_config(old)["loss.similarity"] == "cosine"
    imagenet = yaml.safe_load(dump_yaml(spec.config))
    imagenet["data"]["dataset"] = "imagenet"
    assert identity_config(imagenet)["data.dataset"] == "folder"


def test_numerics_and_preset_split_groups_and_name_them():
    v2, _ = _group("stopgrad", WITH)
    v1, _ = _group("stopgrad", WITH, numerics=1)
    cifar, _ = _group("stopgrad", WITH, preset="cifar10")
    names = name_groups([v2, v1, cifar])
    assert len({v2, v1, cifar}) == 3
    assert names == {v2: "cpu", v1: "cpu, numerics v1", cifar: "cifar10"}
    assert group_slug("cpu, optim.base_lr=0.05") == "cpu_optim.base_lr=0.05"
    assert "/" not in group_slug("cpu, x=a/b c") and " " not in group_slug("cpu, x=a/b c")


# ---- reports on fixture run trees ---------------------------------------------------------------------------------

def test_stop_grad_at_one_lr_and_no_stop_grad_at_another_are_never_judged_together(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "reports"
    make_runs(runs, "stopgrad", [WITH])
    make_runs(runs, "stopgrad", [WITHOUT], sets={"optim.base_lr": 0.05}, hour=12)
    with pytest.raises(ReportError) as err:
        write_report("stopgrad", runs, out)
    msg = str(err.value)
    assert "\n" not in msg and "optim.base_lr (1.5 / 0.05)" in msg and "--group NAME" in msg
    assert "'cpu' (3 runs)" in msg and "'cpu, optim.base_lr=0.05' (3 runs)" in msg
    assert not out.exists()
    r = subprocess.run([sys.executable, "-m", "analysis.report", "stopgrad", "--runs-dir", str(runs), "--out",
                        str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "optim.base_lr" in r.stderr
    # each group on its own: the other case's row is missing, never filled from the other config
    md = write_report("stopgrad", runs, out, group="cpu")[0]
    assert md.parent == out / "stopgrad" / "cpu"
    text = md.read_text()
    assert f"| {WITH} | ok | 3 |" in text and f"| {WITHOUT} | missing | 0 |" in text
    assert "other groups in" in text and "'cpu, optim.base_lr=0.05' (3 runs)" in text
    low = write_report("stopgrad", runs, out, group="cpu_optim.base_lr=0.05")[0]     # the folder name works too
    assert low.parent == out / "stopgrad" / "cpu_optim.base_lr=0.05"
    assert f"| {WITH} | missing | 0 |" in low.read_text() and "base lr 0.05" in low.read_text()
    with pytest.raises(ReportError, match="no group 'gpu'.*'cpu' \\(3 runs\\)"):
        write_report("stopgrad", runs, out, group="gpu")


def test_a_small_run_beside_full_ones_is_its_own_group(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "reports"
    full = make_runs(runs, "stopgrad")
    small = make_runs(runs, "stopgrad", [WITH], seeds=[0], hour=20,
                      sets={"optim.epochs": 1, "data.train_subset": 1000})
    with pytest.raises(ReportError, match=r"differ in data\.train_subset \(10000 / 1000\), optim\.epochs \(10 / 1\)"):
        write_report("stopgrad", runs, out)
    # what sweeps.run does: the group of the runs it just ran
    page = write_report("stopgrad", runs, out, run_ids=full)[-1]
    assert page.parent == out / "stopgrad" / "cpu"
    assert f"| {WITH} | ok | 3 | 71.0 ± 1.0 |" in page.read_text() and "kept the newest" not in page.read_text()
    page = write_report("stopgrad", runs, out, run_ids=small)[-1]
    name = "cpu, data.train_subset=1000, optim.epochs=1"
    assert page.parent == out / "stopgrad" / group_slug(name)
    text = page.read_text()
    assert f"**Group:** {name}:" in text and "1000 training images; 28 px; 1 epoch; batch 256" in text
    assert f"| {WITH} | ok | 1 | 70.0 |" in text and f"| {WITHOUT} | missing | 0 |" in text


def test_two_presets_give_two_report_folders(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "reports"
    cpu = make_runs(runs, "stopgrad")
    make_runs(runs, "stopgrad", preset="cifar10", hour=12)
    assert write_report("stopgrad", runs, out)[0].parent == out / "stopgrad" / "cifar10"   # the most recent run's
    assert write_report("stopgrad", runs, out, preset="cpu")[0].parent == out / "stopgrad" / "cpu"
    assert write_report("stopgrad", runs, out, run_ids=cpu)[0].parent == out / "stopgrad" / "cpu"
    assert sorted(p.name for p in (out / "stopgrad").iterdir()) == ["cifar10", "cpu"]
    index = (write_all(runs, tmp_path / "all", preset="cpu")[0][-1]).read_text()
    assert "[stopgrad](stopgrad/cpu/README.md)" in index and "(stopgrad/cpu/curves.png)" in index


def test_the_lr_check_reads_the_group_that_differs_in_the_base_lr_alone(tmp_path):
    main, lr = tmp_path / "main", tmp_path / "lr0.5"
    make_runs(main, "stopgrad")
    make_runs(lr, "stopgrad", sets={"optim.base_lr": 0.5})
    make_runs(lr, "stopgrad", sets={"optim.base_lr": 0.5, "optim.epochs": 1}, hour=12)   # not comparable
    lr_check = Comparison("base lr", "optim.base_lr", "main", ("lr0.5",), "why", "lr", column=True)
    declared = Declared((lr_check,), {}, tmp_path)
    page = write_report("stopgrad", main, tmp_path / "out", declared=declared)[-1].read_text()
    assert "across base lr" in page and "1.5: reproduced; 0.5: reproduced" in page


# ---- the committed records ----------------------------------------------------------------------------------------

def _tree_groups(tree: Path) -> dict[str, list[str]]:
    out = {}
    for name in known_sweeps():
        runs = load_runs(tree, name)
        if len(runs):
            known = with_groups(runs, load_sweep(name))
            out[name] = sorted(group_names(known["group"]).values())
    return out


def test_the_committed_records_are_one_group_per_sweep():
    groups = _tree_groups(REPO / "records" / "cpu")
    assert len(groups) >= 13 and all(v == ["cpu"] for v in groups.values()), groups
    for tree, lr in (("cpu-lr0.5", "0.5"), ("cpu-lr0.05", "0.05")):
        groups = _tree_groups(REPO / "records" / tree)
        assert groups and all(v == [f"cpu, optim.base_lr={lr}"] for v in groups.values()), (tree, groups)
    rung = _tree_groups(REPO / "records" / "cpu_full")          # the second rung (issue 26) and its lr check
    assert "stopgrad" in rung and all(v == ["cpu_full"] for v in rung.values()), rung
    check = _tree_groups(REPO / "records" / "cpu_full-lr1.5")
    assert check and all(v == ["cpu_full, optim.base_lr=1.5"] for v in check.values()), check


@pytest.mark.slow
def test_the_committed_index_regenerates_into_per_group_folders(tmp_path):
    r = subprocess.run([sys.executable, "-m", "analysis.report", "--all", "--out", str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    index = (tmp_path / "README.md").read_text()
    assert "[stopgrad](stopgrad/cpu/README.md)" in index and "**Across base lr:**" in index
    page = (tmp_path / "stopgrad" / "cpu" / "README.md").read_text()
    assert "**Group:** cpu:" in page and "base lr 1.5; numerics v2" in page
    assert "holds at every lr tried (1.5: reproduced; 0.05: reproduced; 0.5: reproduced)" in page
    # the comparisons declared in records/comparisons.yaml, each a section of the index
    assert "## Across scale, at lr 0.05: cpu-lr0.05 against cpu_full" in index
    assert "## Across base lr at cpu_full: cpu_full against cpu_full-lr0.5" in index
