"""Groups recorded at birth (core.schema.group_record, core.config.run_groups.recorded_group, sweeps.backfill_groups):
a run's meta.json names the group it was made in, the report groups runs by that record and never by today's
preset files, two groups say in which keys they differ, and the records made before got the same field once,
marked as derived. Fixture run trees come from the real expansion (sweeps.expand); no torch but in prepare."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import core.config.presets as presets
from analysis.report import write_report
from analysis.selection import ReportError
from core.config import run_groups
from core.config.hyperparameters import config_hash, dump_yaml
from core.config.run_groups import recorded_group, run_group
from core.schema.group_record import GROUP_KEY, Group, differences, differing_keys, group_names, read_group
from core.schema.sweep_format import load_sweep
from sweeps.backfill_groups import backfill, main
from sweeps.expand import expand
from sweeps.twins import adopt
from tests.conftest import REPO
from tests.integration.test_run_groups import WITH, WITHOUT, make_runs

MOCO, SIMSIAM = "MoCo v2", "SimSiam"


def _meta(d: Path) -> dict:
    return json.loads((d / "meta.json").read_text())


def _spec(sweep="stopgrad", case=WITH, preset="cpu", sets=None):
    return expand(load_sweep(sweep), preset, Path("runs"), [0], sets, [case])[0]


def _group(sweep="stopgrad", case=WITH, preset="cpu", sets=None, numerics=2) -> Group:
    return read_group({**_spec(sweep, case, preset, sets).meta(), "numerics": numerics})


@pytest.fixture
def fresh_caches():
    """run_groups caches what the presets say; a test that edits a preset starts and ends with empty caches."""
    for cached in (run_groups._preset_base, run_groups._case_settings):
        cached.cache_clear()
    yield
    for cached in (run_groups._preset_base, run_groups._case_settings):
        cached.cache_clear()


def _edit_cpu_preset(monkeypatch, values=None, moco=None):
    """What the cpu preset says from now on: other `values`, or MoCo v2 with other values at this scale."""
    original = presets._data

    def edited(name):
        data = dict(original(name))
        if name == "cpu":
            data.update(values or {})
            data["methods"] = {**data["methods"], "moco_v2": {**data["methods"]["moco_v2"], **(moco or {})}}
        return data
    monkeypatch.setattr(presets, "_data", edited)
    for cached in (run_groups._preset_base, run_groups._case_settings):
        cached.cache_clear()


# ---- a new run names its group ---------------------------------------------------------------------------------

def test_a_new_runs_meta_json_names_its_group_and_its_id_is_unchanged(tmp_path):
    from sweeps.prepare import prepare
    specs = expand(load_sweep("stopgrad"), "cpu", tmp_path, [0], {"optim.base_lr": 0.05})
    for spec in specs:
        prepare(spec)
    metas = [_meta(s.run_dir) for s in specs]
    groups = [read_group(m) for m in metas]
    assert [g.name for g in groups] == ["cpu, optim.base_lr=0.05"] * 2 and groups[0] == groups[1]
    assert metas[0][GROUP_KEY]["settings"] == {"optim.base_lr": 0.05}
    assert metas[0][GROUP_KEY]["preset_values"]["optim.base_lr"] == 1.5 and "derived" not in metas[0][GROUP_KEY]
    for spec, meta in zip(specs, metas):                       # the id hashes the config, never meta.json
        assert meta["run_id"] == spec.run_id == spec.run_dir.name and spec.run_id.endswith(config_hash(spec.config))
    assert _group(sets={"optim.base_lr": 0.05}) == groups[0] and _group() != groups[0]


def test_a_copy_of_another_runs_record_names_the_group_of_its_own_case(tmp_path):
    make_runs(tmp_path / "a", "stopgrad", [WITH], seeds=[0])
    (twin,) = (tmp_path / "a" / "stopgrad").iterdir()
    forged = {**_meta(twin), GROUP_KEY: {**_meta(twin)[GROUP_KEY], "name": "elsewhere", "key": "0"}}
    (twin / "meta.json").write_text(json.dumps(forged))
    spec = expand(load_sweep("stopgrad"), "cpu", tmp_path / "b", [0], None, [WITH])[0]
    adopt(spec, twin)
    copy = _meta(spec.run_dir)
    assert copy["copied_from"] == f"stopgrad/{twin.name}"
    assert read_group(copy).name == "cpu" and copy[GROUP_KEY]["key"] == spec.meta()[GROUP_KEY]["key"] != "0"


def test_what_a_run_records_at_birth_is_what_its_files_give():
    """The group in meta.json at birth equals the one worked out from config.yaml as written (the backfill's)."""
    for sweep, sets in (("stopgrad", None), ("methods", {"optim.base_lr": 0.5}), ("batch_size", {"optim.epochs": 20}),
                        ("stopgrad", {"model.stop_grad": True})):
        for spec in expand(load_sweep(sweep), "cpu", Path("runs"), [0], sets):
            meta = spec.meta()
            assert recorded_group(yaml.safe_load(dump_yaml(spec.config)), meta, spec.overrides) == meta[GROUP_KEY]


# ---- two groups: in which keys they differ ---------------------------------------------------------------------

def test_two_groups_name_the_keys_they_differ_in():
    cpu, low = _group(), _group(sets={"optim.base_lr": 0.05})
    assert differing_keys(cpu, low) == ["optim.base_lr"] and differing_keys(cpu, _group(case=WITHOUT)) == []
    assert differences([cpu, low]) == [("optim.base_lr", ["1.5", "0.05"])]     # 0.05 is the config's default
    assert differing_keys(cpu, _group(numerics=1)) == ["numerics"]
    full, full_high = _group(preset="cpu_full"), _group(preset="cpu_full", sets={"optim.base_lr": 1.5})
    assert differing_keys(cpu, full)[0] == "preset" and "optim.base_lr" in differing_keys(cpu, full)
    assert "optim.base_lr" not in differing_keys(low, full)       # the cpu preset at 0.05 against cpu_full's 0.05
    assert differing_keys(full, full_high) == ["optim.base_lr"]
    over = _group(case=WITHOUT, sets={"model.stop_grad": True})
    assert differences([cpu, over]) == [("model.stop_grad", ["true", "true over the case's value"])]


def test_a_group_is_named_as_recorded_and_two_groups_never_share_a_name():
    a = Group("cpu", 2, "k1", "cpu")
    renamed = Group("cpu", 2, "k1", "cpu, optim.base_lr=1.5")     # the same runs, named after a preset edit
    b = Group("cpu", 2, "k2", "cpu")                               # other runs, named 'cpu' after the edit
    assert group_names([a, a, renamed]) == {a: "cpu"}
    assert group_names([a, b]) == {a: "cpu #k1", b: "cpu #k2"}
    assert group_names([Group("cpu", 1, "k1", "cpu")]) == {Group("cpu", 1, "k1", "x"): "cpu, numerics v1"}


# ---- the report groups by the record, not by today's preset files ------------------------------------------------

def test_a_preset_edited_after_the_runs_regroups_nothing(tmp_path, monkeypatch, fresh_caches):
    runs, out = tmp_path / "runs", tmp_path / "reports"
    make_runs(runs, "methods", [MOCO, SIMSIAM], seeds=(0, 1))
    _edit_cpu_preset(monkeypatch, moco={"loss.queue_size": 8192})
    sweep = load_sweep("methods")
    today = {run_group(yaml.safe_load((d / "config.yaml").read_text()), _meta(d), sweep.overrides[_meta(d)["case"]])
             for d in (runs / "methods").iterdir()}
    assert len(today) == 2            # re-derived from today's preset, MoCo's runs would be a group of their own
    page = write_report("methods", runs, out)[0]
    text = page.read_text()
    assert page.parent == out / "methods" / "cpu" and "other groups" not in text
    assert f"| {MOCO} | ok | 2 |" in text and f"| {SIMSIAM} | ok | 2 |" in text


def test_runs_made_after_a_preset_edit_are_another_group_even_of_the_same_name(tmp_path, monkeypatch,
                                                                               fresh_caches):
    runs, out = tmp_path / "runs", tmp_path / "reports"
    before = make_runs(runs, "stopgrad", seeds=(0,))
    _edit_cpu_preset(monkeypatch, values={"optim.base_lr": 0.05})
    after = make_runs(runs, "stopgrad", seeds=(0,), hour=12)
    assert not set(before) & set(after)
    names = {read_group(_meta(runs / "stopgrad" / r)).name for r in before + after}
    assert names == {"cpu"}           # each named when it was made; today's files would name the first 1.5's
    with pytest.raises(ReportError) as err:
        write_report("stopgrad", runs, out)
    assert "differ in optim.base_lr (1.5 / 0.05)" in str(err.value) and "'cpu #" in str(err.value)
    key = read_group(_meta(runs / "stopgrad" / before[0])).key
    page = write_report("stopgrad", runs, out, run_ids=before)[0]
    assert page.parent.name == f"cpu-{key}" and f"| {WITH} | ok | 1 |" in page.read_text()


def test_a_run_that_records_no_group_is_left_out_and_the_report_says_how_to_record_it(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "reports"
    make_runs(runs, "stopgrad")
    old = sorted((runs / "stopgrad").iterdir())[0]
    meta = _meta(old)
    del meta[GROUP_KEY]
    (old / "meta.json").write_text(json.dumps(meta))
    text = write_report("stopgrad", runs, out)[0].read_text()
    assert f"{meta['case']} | " in text and "records no group" in text and old.name in text
    assert f"python -m sweeps.backfill_groups {runs}" in text
    for d in (runs / "stopgrad").iterdir():
        meta = _meta(d)
        meta.pop(GROUP_KEY, None)
        (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ReportError, match="that record their group.*sweeps.backfill_groups"):
        write_report("stopgrad", runs, out)


# ---- records made before: the backfill ---------------------------------------------------------------------------

def test_the_backfill_records_what_birth_records_once_and_marks_it_derived(tmp_path, capsys):
    root = tmp_path / "records"
    make_runs(root / "cpu", "stopgrad", seeds=(0,))
    make_runs(root / "cpu", "methods", [MOCO], seeds=(0,))
    make_runs(root / "cpu-lr0.05", "stopgrad", seeds=(0,), sets={"optim.base_lr": 0.05})
    born = {}
    for path in sorted(root.rglob("meta.json")):                 # as records made before groups were recorded
        meta = _meta(path.parent)
        born[path] = meta.pop(GROUP_KEY)
        path.write_text(json.dumps(meta, indent=1))
    gone = path.parent
    (gone / "meta.json").write_text(json.dumps({**_meta(gone), "case": "a case since removed"}, indent=1))
    before = {p: p.read_text() for p in root.rglob("meta.json")}
    written, recorded, skipped = backfill([root], on="2026-12-07")
    assert len(written) == len(born) - 1 and recorded == [] and skipped == [
        f"{gone}: its case 'a case since removed' is not a case of ablations/stopgrad.yaml"]
    for path in born:
        if path.parent == gone:
            assert path.read_text() == before[path]
            continue
        meta = _meta(path.parent)
        derived = meta[GROUP_KEY].pop("derived")
        assert meta[GROUP_KEY] == born[path]
        assert derived["on"] == "2026-12-07" and derived["from"][:2] == ["config.yaml", "ablations/" +
                                                                           f"{meta['sweep']}.yaml"]
        assert list(meta)[:-1] == list(json.loads(before[path])) and list(meta)[-1] == GROUP_KEY
    after = {p: p.read_text() for p in root.rglob("meta.json")}
    assert main([str(root)]) == 0                                 # a second run changes nothing
    assert "recorded the group of 0 run(s); 4 already recorded one; 1 left as they are" in capsys.readouterr().out
    assert {p: p.read_text() for p in root.rglob("meta.json")} == after


def test_every_committed_record_names_its_group():
    """Records made by code older than the group's recording get it from the backfill before they are committed."""
    missing = [str(p.parent.relative_to(REPO)) for p in sorted((REPO / "records").rglob("meta.json"))
               if read_group(json.loads(p.read_text())) is None]
    assert not missing, f"run python -m sweeps.backfill_groups records: no group recorded in {missing}"
