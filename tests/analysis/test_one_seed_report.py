"""One seed a row has no spread (issue 31): a report of `make figure2`'s one seed says how many seeds a first
estimate of the spread needs, and never extrapolates the seeds a decision would need; two seeds do have a spread."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from analysis import stats
from analysis.judge import judge_sweep
from analysis.writer import write_report
from analysis.report_page import undecided_text
from analysis.sequential import summary_lines
from analysis.facts import Facts
from analysis.verdicts import INCONCLUSIVE, judge
from core.schema.claims import parse_claim
from core.schema.sweep_format import load_sweep
from tests.integration.test_run_groups import make_runs

NO_SPREAD = "one seed a row has no spread: a first estimate of it needs 2 seeds a row, a verdict at least 3"
EXTRAPOLATED = re.compile(r"\d+ seeds a row at the observed spread|no decision in sight|over \d+ seeds")


def _one_seed_runs(root):
    """Fig. 2 with seed 0 only, and the untrained network (the floor) with seed 0 below the baseline."""
    make_runs(root, "stopgrad", seeds=(0,))
    make_runs(root, "random_network", seeds=(0,))
    for result in (root / "random_network").glob("*/result.json"):
        result.write_text(json.dumps({**json.loads(result.read_text()), "knn_acc": 50.0, "linear_acc": 50.0}))


def _claim_rows(page: str) -> list[str]:
    """The rows of the page's table of claims (an amended claim's row starts with its registered verdict)."""
    table = page.split("| verdict | the paper says |", 1)[1].split("\n\n", 1)[0]
    return table.splitlines()[2:]


def test_a_one_seed_report_never_prints_a_seeds_needed_figure(tmp_path):
    _one_seed_runs(tmp_path / "runs")
    paths = write_report("stopgrad", tmp_path / "runs", tmp_path / "out")
    page = next(p for p in paths if p.name == "README.md").read_text()
    claims = _claim_rows(page)
    assert len(claims) == len(load_sweep("stopgrad").claims)
    for line in claims:
        assert f"**{INCONCLUSIVE}**" in line.split(" | ")[0] and NO_SPREAD in line, line
        assert not EXTRAPOLATED.search(line), line
    assert not EXTRAPOLATED.search(page)
    verdicts, runs = judge_sweep(load_sweep("stopgrad"), tmp_path / "runs", "cpu")
    lines = summary_lines(verdicts, runs)
    assert all(f"undecided with 1 seed ({NO_SPREAD})" in line for line in lines), lines


ONE_SEED = pd.DataFrame([{"case": c, "seed": 0, "status": "ok", "dim": 64, "knn_acc": v, "z_std": 0.12}
                         for c, v in (("a", 80.0), ("b", 70.0))])


@pytest.mark.parametrize("raw", [
    {"test": "exceeds", "case": "a", "other": "b", "metric": "knn_acc", "margin": 0},
    {"test": "trend", "cases": ["b", "a"], "metric": "knn_acc", "direction": "increasing"},
    {"test": "flat", "cases": ["a", "b"], "metric": "knn_acc", "tolerance": 50},
    {"test": "below", "case": "a", "metric": "knn_acc", "value": 100},
    {"test": "status", "case": ["a", "b"], "equals": "ok"},
])
def test_one_seed_gives_no_seeds_needed_figure_for_any_test(raw):
    v = judge(parse_claim({"paper": "p (Sec. 0)", "reading": "r", **raw}, 1, ["a", "b"]),
              Facts(ONE_SEED, "cpu", 10.0))
    assert v.verdict == INCONCLUSIVE and v.without_spread and v.seeds_needed is None
    assert undecided_text(v) == NO_SPREAD


def test_two_seeds_have_a_spread_and_a_figure():
    """Two seeds a row: a spread (df 1), so the seeds a decision would need at it, at least MIN_SEEDS."""
    two = pd.DataFrame([{"case": c, "seed": s, "status": "ok", "dim": 64, "knn_acc": v + s * d}
                        for c, v, d in (("a", 80.0, 1.0), ("b", 70.0, 0.0)) for s in (0, 1)])
    claim = parse_claim({"paper": "p (Sec. 0)", "reading": "r", "test": "exceeds", "case": "a", "other": "b",
                         "metric": "knn_acc", "margin": 9.0}, 1, ["a", "b"])
    facts = Facts(two, "cpu", 10.0)
    v = judge(claim, facts)                  # differences 10 and 11: mean 10.5, sd 0.71, bound 9
    assert v.verdict == INCONCLUSIVE and not v.without_spread
    est = v.parts[0].est
    assert v.seeds_needed == stats.seeds_needed(est, 9.0, facts.level_for) >= stats.MIN_SEEDS
    assert undecided_text(v) == f"a decision would need about {v.seeds_needed} seeds a row at the observed spread"
