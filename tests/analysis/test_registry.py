"""Registered claims (core.schema.claim_forms, analysis.registry, analysis.registered): a claim's deciding form is
recorded by its first run, a later change is an amendment kept as data, and the reports judge both. Fixture runs
are made by the real expansion (sweeps.expand, sweeps.prepare), as sweeps.run writes them; no torch."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from analysis import registry
from analysis.writer import write_report
from core.config.hyperparameters import dump_yaml
from core.schema.claim_forms import (REGISTERED_AT_KEY, REGISTERED_KEY, canonical_form, check_against, history,
                                     registered_forms)
from core.schema.claims import ClaimError, parse_claim
from core.schema.sweep_format import SweepFileError, known_sweeps, load_sweep, read_yaml
from sweeps.expand import expand
from sweeps.prepare import prepare

CASES = ["a", "b"]
GAP = {"id": "gap", "paper": "a is far above b (Sec. 0)", "reading": "far: more than 5 points",
       "test": "exceeds", "case": "a", "other": "b", "metric": "knn_acc", "margin": 5}
SWEEP = {"figure": "Figure 0", "title": "toy", "metrics": ["knn_acc", "linear_acc"], "seeds": [0, 1, 2],
         "cases": {"a": {}, "b": {"model.stop_grad": False}}}
AMENDMENT = {"date": "2026-12-05", "reason": "the margin read the sentence too strictly", "data_seen": True,
             "previous": {"test": "exceeds", "case": "a", "other": "b", "metric": "knn_acc", "margin": 5}}


def _claim(**raw):
    return parse_claim({**GAP, **raw}, 1, CASES)


# ---- the canonical form --------------------------------------------------------------------------------------------

def test_the_form_is_what_decides_the_verdict_and_nothing_else():
    form = canonical_form(_claim())
    assert form == {"test": "exceeds", "cases": ["a"], "metric": "knn_acc", "other": "b", "margin": 5}
    # the wording and the id are not part of it; a default written out changes nothing
    assert canonical_form(_claim(paper="other words", reading="other reasons", id="x")) == form
    assert canonical_form(_claim(factor=1, other_metric="knn_acc", at_most=float("inf"))) == form
    # anything that decides the verdict is
    for change in ({"margin": 6}, {"metric": "linear_acc"}, {"other": "a"}, {"testable_at": ["imagenet"],
                                                                              "reason": "why"}):
        assert canonical_form(_claim(**change)) != form, change


def test_a_status_claims_form_names_its_rule():
    share = parse_claim({"paper": "x", "reading": "y", "test": "status", "case": "a", "equals": "ok"}, 1, CASES)
    spread = parse_claim({"paper": "x", "reading": "y", "test": "status", "case": "a", "equals": "ok",
                          "rule": "spread"}, 1, CASES)
    assert canonical_form(share)["rule"] == "share" and canonical_form(spread)["rule"] == "spread"


# ---- amendments as data --------------------------------------------------------------------------------------------

def test_an_amendment_holds_date_reason_whether_data_was_seen_and_the_form_before():
    claim = _claim(margin=3, amendments=[AMENDMENT])
    first, after = history(claim)
    assert first.amendment is None and canonical_form(first.claim)["margin"] == 5
    assert after.amendment.date == "2026-12-05" and after.amendment.data_seen
    assert canonical_form(after.claim)["margin"] == 3 and after.label == "amended 2026-12-05"


@pytest.mark.parametrize("bad,message", [
    ({"date": "last week"}, "'date' must be a date"),
    ({"reason": " "}, "'reason' must be text"),
    ({"data_seen": "yes"}, "'data_seen' must be true or false"),
    ({"previous": {"test": "exceeds", "case": "zz", "metric": "knn_acc"}}, "case 'zz' is not in 'cases'"),
    ({"previous": {**AMENDMENT["previous"], "paper": "x"}}, "the deciding fields only"),
    ({"when": "2026-12-05"}, "unknown field 'when'"),
])
def test_a_malformed_amendment_is_refused_with_its_field_named(bad, message):
    with pytest.raises(ClaimError, match=message):
        _claim(margin=3, amendments=[{**AMENDMENT, **bad}])


def test_amendments_are_oldest_first():
    later = {**AMENDMENT, "date": "2026-12-06", "previous": {**AMENDMENT["previous"], "margin": 4}}
    with pytest.raises(ClaimError, match="oldest first"):
        _claim(margin=3, amendments=[later, AMENDMENT])


def test_the_chain_must_start_at_the_registered_form():
    registered = canonical_form(_claim())
    assert check_against(_claim(), registered, "toy.yaml") == ""
    moved = check_against(_claim(margin=3), registered, "toy.yaml")
    assert "differs from its registered form (margin: 5 -> 3) and lists no amendment" in moved
    assert check_against(_claim(margin=3, amendments=[AMENDMENT]), registered, "toy.yaml") == ""
    wrong_start = {**AMENDMENT, "previous": {**AMENDMENT["previous"], "margin": 4}}
    assert "first amendment's 'previous' is not the registered form" in check_against(
        _claim(margin=3, amendments=[wrong_start]), registered, "toy.yaml")
    idle = {**AMENDMENT, "previous": {**AMENDMENT["previous"], "margin": 3}}
    assert "changes nothing" in check_against(_claim(margin=3, amendments=[idle]), canonical_form(_claim(margin=3)),
                                              "toy.yaml")


# ---- registration in the records -----------------------------------------------------------------------------------

def _write(tmp_path: Path, claims: list) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "claims": claims}, sort_keys=False))
    return path


def test_a_new_run_records_its_sweeps_claims_when_it_starts(tmp_path):
    sweep = load_sweep(_write(tmp_path, [GAP]))
    spec = expand(sweep, "cpu", tmp_path / "runs", [0])[0]
    prepare(spec)
    meta = json.loads((spec.run_dir / "meta.json").read_text())
    assert meta[REGISTERED_KEY] == registered_forms(sweep.claims) == {"gap": canonical_form(sweep.claims[0])}
    assert meta[REGISTERED_AT_KEY][:4] == meta["start_time"][:4]


def _runs(sweep_path: Path, root: Path) -> None:
    """Finished runs of the toy sweep under root/toy/, prepared by the real expansion (their meta.json records the
    claims as the file stood then); 'a' beats 'b' by 4.8 to 5.2 kNN points, so margin 5 is inconclusive, 3 passes
    (at 98.3%, the level of every look of a sweep file with three seeds)."""
    for i, spec in enumerate(expand(load_sweep(sweep_path), "cpu", root, [0, 1, 2])):
        spec.run_dir.mkdir(parents=True)
        (spec.run_dir / "config.yaml").write_text(dump_yaml(spec.config))
        meta = {**spec.meta(), "commit": "f1x7ure", "start_time": f"2026-12-0{spec.seed + 1}T10:0{i}:00+00:00"}
        (spec.run_dir / "meta.json").write_text(json.dumps(meta))
        (spec.run_dir / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "step": 1, "loss": -0.5}) + "\n")
        knn = 70.0 + 2 * spec.seed if spec.case == "a" else 70.0 + 2 * spec.seed - (4.8, 5.0, 5.2)[spec.seed]
        (spec.run_dir / "result.json").write_text(json.dumps({"status": "ok", "loss": -0.8, "z_std": 0.04,
                                                              "knn_acc": knn, "linear_acc": 60.0}))


def test_a_margin_moved_after_the_records_fails_without_an_amendment_and_reports_both_with_one(tmp_path):
    path = _write(tmp_path, [GAP])
    _runs(path, tmp_path / "runs")
    runs = registry.sweep_runs("toy", [tmp_path / "runs"])

    def check(claims):
        sweep = load_sweep(_write(tmp_path, claims))
        return registry.problems(sweep, runs, registry.registrations(sweep, runs))

    assert check([GAP]) == []
    [moved] = check([{**GAP, "margin": 3}])
    assert "claim 'gap' differs from its registered form (margin: 5 -> 3) and lists no amendment" in moved
    assert check([{**GAP, "margin": 3, "amendments": [AMENDMENT]}]) == []

    page = Path(write_report(path, tmp_path / "runs", tmp_path / "out")[-1]).read_text()
    assert "registered: **inconclusive**; amended 2026-12-05: **reproduced**" in page
    assert "### Amended claims" in page and "the margin read the sentence too strictly" in page
    # the same moved margin without an amendment is judged under both forms too, the change marked as unrecorded
    _write(tmp_path, [{**GAP, "margin": 3}])
    page = Path(write_report(path, tmp_path / "runs", tmp_path / "out")[-1]).read_text()
    assert "registered: **inconclusive**; changed, no amendment recorded: **reproduced**" in page


def test_a_claim_added_before_its_first_run_needs_no_amendment(tmp_path):
    path = _write(tmp_path, [GAP, {**GAP, "id": "gap-2", "margin": 2}])
    _runs(path, tmp_path / "runs")
    sweep = load_sweep(path)
    runs = registry.sweep_runs("toy", [tmp_path / "runs"])
    regs = registry.registrations(sweep, runs)
    assert set(regs) == {"gap", "gap-2"} and registry.problems(sweep, runs, regs) == []
    assert regs["gap"].registered == "2026-12-01T10:00:00+00:00" or regs["gap"].source == "record"


# ---- the committed sweep files and records -------------------------------------------------------------------------

def test_every_committed_claim_is_as_registered_or_amended():
    """The check of `python -m analysis.registry` on records/ and ablations/: a registered claim changed without
    an amendment fails here (and so `make test-fast` and CI)."""
    trees, reg = registry.record_trees(), registry.load_registry()
    found = []
    for name in known_sweeps():
        sweep = load_sweep(name)
        runs = registry.sweep_runs(name, trees)
        found += registry.problems(sweep, runs, registry.registrations(sweep, runs, reg))
    assert found == []


def test_every_committed_claim_has_an_id_of_its_own():
    for name in known_sweeps():
        raw = read_yaml(load_sweep(name).path).get("claims") or []
        assert all("id" in c for c in raw), name


def test_a_duplicate_id_is_refused(tmp_path):
    with pytest.raises(SweepFileError, match="id 'gap' is claim 1's too"):
        load_sweep(_write(tmp_path, [GAP, GAP]))


def test_the_registry_names_where_each_reconstructed_form_comes_from():
    entries = registry.load_registry()
    assert entries, "records/registry.yaml is committed"
    for sweep, claims in entries.items():
        for cid, r in claims.items():
            assert r.source.startswith("git ") and r.registered[:4] == "2026", (sweep, cid)
    # Fig. 2's gap was registered in ImageNet points by the first run of the reproduction
    gap = entries["stopgrad"]["knn-gap"]
    assert gap.form["margin"] == 30 and gap.source == "git d0199d5373"
