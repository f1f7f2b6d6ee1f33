"""A table never puts linear accuracies of two protocols in one column without saying so (analysis/tables.py,
analysis/table_files.py); the paper's protocol has its own metric, linear_acc_paper; the recipe block compares
the hyper-parameters of the protocol each run used. No torch."""
from __future__ import annotations

import json

import pytest
import yaml

from analysis.recipe import DIFFERS, SAME, differences
from analysis.writer import write_report
from analysis.runs import load_runs
from analysis.selection import ReportError
from core.schema.sweep_format import load_sweep
from tests.conftest import record_group
from tests.analysis.test_analysis import SWEEP, A, _result, write_run

PAPER_TEXT = "paper (App. A, main_lincls.py): fc on frozen pool5 features"


def _tree(tmp_path, protocols: list[str | None], metrics=None):
    """Case A with one run per entry: the protocol its result.json names (None: a record made before the key)."""
    runs = tmp_path / "runs"
    for seed, protocol in enumerate(protocols):
        result = _result("ok", 60.0 + seed, 70.0 + seed, 0.11, -0.9)
        if protocol is not None:
            result["linear_protocol"] = protocol
        if protocol == "paper":
            result.update(linear_acc_paper=70.0 + seed, eval={**result["eval"], "linear": PAPER_TEXT,
                                                                "linear_paper": PAPER_TEXT})
        d = write_run(runs, "toy", f"a-s{seed}", A, seed, "cpu", 10 + seed, result)
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        cfg["eval"].update(linear=protocol or "sgd", linear_epochs=30, linear_batch=256, linear_lr=0.1,
                           lincls_epochs=90, lincls_batch=4096, lincls_base_lr=0.1, lincls_weight_decay=0.0,
                           lincls_momentum=0.9)
        (d / "config.yaml").write_text(yaml.safe_dump(cfg))
        record_group(d, {})                                 # the run as made: with this protocol
    sweep = {**SWEEP, "cases": {A: {}}, "paper": {A: 68.1}, "metrics": metrics or ["knn_acc", "linear_acc"]}
    sweep_file = tmp_path / "toy.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep, sort_keys=False, allow_unicode=True))
    md = write_report(sweep_file, runs, tmp_path / "reports")[0].read_text()
    return md, runs, sweep_file


def _header(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| case")]


def test_records_made_before_protocols_were_named_report_as_before(tmp_path):
    md, _, _ = _tree(tmp_path, [None, None])
    assert "Linear protocol" not in md and "linear protocol" not in _header(md)[0]


def test_one_protocol_is_named_above_the_table(tmp_path):
    md, _, _ = _tree(tmp_path, ["paper", "paper"])
    line = next(x for x in md.splitlines() if x.startswith("- **Linear protocol"))
    assert line.startswith("- **Linear protocol:** paper: the paper's (App. A") and "differs" not in line
    assert "linear protocol" not in _header(md)[0]


def test_runs_of_one_case_under_two_protocols_are_never_judged_together(tmp_path):
    with pytest.raises(ReportError, match=r"differ in eval\.linear \(paper / sgd\); report one with --group"):
        _tree(tmp_path, ["paper", None, "sgd"])              # the unnamed record is the SGD probe's


def test_a_table_whose_cases_set_the_protocol_says_so_and_which_row_used_which(tmp_path):
    runs = tmp_path / "runs"
    cases = {A: {}, "paper's protocol": {"eval.linear": "paper"}}
    for seed, (case, protocol) in enumerate([(A, "sgd"), ("paper's protocol", "paper")]):
        result = {**_result("ok", 60.0 + seed, 70.0 + seed, 0.11, -0.9), "linear_protocol": protocol}
        d = write_run(runs, "toy", f"r-s{seed}", A, 0, "cpu", 10 + seed, result)
        meta = json.loads((d / "meta.json").read_text())
        (d / "meta.json").write_text(json.dumps({**meta, "case": case}))
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        cfg["eval"]["linear"] = protocol
        (d / "config.yaml").write_text(yaml.safe_dump(cfg))
        record_group(d, cases[case])
    sweep_file = tmp_path / "toy.yaml"
    sweep_file.write_text(yaml.safe_dump({**SWEEP, "cases": cases, "paper": {A: 68.1},
                                          "metrics": ["knn_acc", "linear_acc"]}, sort_keys=False, allow_unicode=True))
    md = write_report(sweep_file, runs, tmp_path / "reports")[0].read_text()
    line = next(x for x in md.splitlines() if x.startswith("- **Linear protocol"))
    assert line.startswith("- **Linear protocol (differs between runs!):** paper:") and "; sgd: SGD probe" in line
    assert "| n | linear protocol | kNN acc (%) | linear acc (%) |" in _header(md)[0]
    assert f"| {A} | ok | 1 | sgd |" in md and "| paper's protocol | ok | 1 | paper |" in md


def test_the_papers_protocol_has_a_column_of_its_own(tmp_path):
    md, runs, sweep_file = _tree(tmp_path, ["sgd", "sgd"], metrics=["linear_acc", "linear_acc_paper"])
    assert "| linear acc (%) | linear acc, paper protocol (%) |" in _header(md)[0]
    df = load_runs(runs, "toy")
    assert df["linear_acc_paper"].isna().all()              # not run: blank, never the probe's number


def test_the_recipe_block_compares_the_protocol_each_run_used(tmp_path):
    _, runs, sweep_file = _tree(tmp_path, ["paper", "paper"])
    settings = {s.label: s for s in differences(load_sweep(sweep_file), load_runs(runs, "toy"))}
    assert settings["linear-eval optimizer"].kind == SAME and settings["linear-eval batch"].kind == SAME
    assert settings["linear-eval base lr"].kind == DIFFERS and settings["linear-eval base lr"].ours == "0.1"
    assert [s.label for s in differences(load_sweep(sweep_file), load_runs(runs, "toy"))].count(
        "linear-eval epochs") == 1
    _, runs, sweep_file = _tree(tmp_path / "old", [None])
    settings = {s.label: s for s in differences(load_sweep(sweep_file), load_runs(runs, "toy"))}
    assert settings["linear-eval optimizer"].kind == DIFFERS and settings["linear-eval batch"].ours == "256"
    assert "linear-eval momentum" not in settings             # a paper-protocol row, and no run used it


def test_a_run_evaluated_afterwards_shows_both_protocols_in_the_recipe_block(tmp_path):
    runs = tmp_path / "runs"
    result = _result("ok", 60.0, 70.0, 0.11, -0.9)
    result.update(linear_protocol="sgd", linear_acc_paper=55.0,
                  eval={"knn_k": 200, "knn_t": 0.2, "linear": "SGD m0.9 on cached", "linear_paper": PAPER_TEXT})
    write_run(runs, "toy", "a-s0", A, 0, "cpu", 10, result)
    sweep_file = tmp_path / "toy.yaml"
    sweep_file.write_text(yaml.safe_dump({**SWEEP, "cases": {A: {}}, "paper": {A: 68.1}}, sort_keys=False,
                                         allow_unicode=True))
    page = (write_report(sweep_file, runs, tmp_path / "reports")[-1]).read_text()
    assert "also the paper's protocol (linear_acc_paper): paper (App. A" in page
    assert json.loads((runs / "toy" / "a-s0" / "result.json").read_text())["linear_acc"] == 70.0
