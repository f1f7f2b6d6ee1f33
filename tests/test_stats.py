"""The statistics behind a verdict (analysis.stats), the lr check's summary (analysis.lr_check) and where a
collapse sits (analysis.collapse_site), each against numbers worked out by hand."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import stats
from core.claims import parse_claim
from analysis.collapse_site import diagnose, with_site
from analysis.lr_check import DEPENDS, FAILS, HOLDS, NOT_TRIED, UNSURE, Tried, summarize, summary_kind
from analysis.verdicts import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, Verdict


def test_mean_and_its_standard_error():
    e = stats.mean_se([1.0, 2.0, 6.0])
    assert e.value == 3.0 and e.n == 3
    assert e.se == pytest.approx(math.sqrt(7.0) / math.sqrt(3))       # sample variance (4+1+9)/2 = 7
    assert math.isnan(stats.mean_se([5.0]).se)


def test_a_difference_is_paired_by_seed_when_the_seeds_match():
    a, b = {0: 70.0, 1: 75.0, 2: 80.0}, {0: 69.0, 1: 73.0, 2: 80.0}     # per-seed differences 1, 2, 0
    e = stats.difference(a, b)
    assert e.paired and e.value == pytest.approx(1.0) and e.n == 3
    assert e.se == pytest.approx(1.0 / math.sqrt(3))                  # std of (1, 2, 0) is 1
    # unpaired (Welch) is far wider here: the seeds move both rows alike
    welch = stats.difference(a, {5: 69.0, 6: 73.0, 7: 80.0})
    assert not welch.paired and welch.se == pytest.approx(math.sqrt(25 / 3 + 31 / 3))
    assert stats.difference(a, b, factor=2).value == pytest.approx(75.0 - 2 * 74.0)


@pytest.mark.parametrize("value,se,n,low,high,place", [
    (5.0, 1.0, 3, 0.0, math.inf, stats.INSIDE),       # [3, 7] above 0
    (1.5, 1.0, 3, 0.0, math.inf, stats.ACROSS),       # [-0.5, 3.5]
    (-3.0, 1.0, 3, 0.0, math.inf, stats.OUTSIDE),     # [-5, -1]
    (2.0, 1.0, 3, 0.0, math.inf, stats.ACROSS),       # [0, 4]: touches the strict bound
    (0.0, 0.0, 3, 0.0, math.inf, stats.OUTSIDE),      # an exact tie is not above 0
    (2.0, 0.5, 3, 0.0, 4.0, stats.INSIDE),            # two-sided [1, 3] in (0, 4)
    (3.5, 0.5, 3, 0.0, 4.0, stats.ACROSS),            # [2.5, 4.5]
    (6.0, 0.5, 3, 0.0, 4.0, stats.OUTSIDE),           # [5, 7] beyond at_most
    (9.0, 0.1, 2, 0.0, math.inf, stats.TOO_FEW),      # two seeds decide nothing
])
def test_where_an_interval_lies(value, se, n, low, high, place):
    assert stats.decide(stats.Estimate(value, se, n), low, high) == place


def _v(verdict: str) -> Verdict:
    raw = {"paper": "p (Sec. 1)", "reading": "r", "test": "status", "case": "a", "equals": "ok"}
    claim = parse_claim(raw, 1, ["a"])
    return Verdict(claim, verdict, "")


@pytest.mark.parametrize("main,others,summary", [
    (REPRODUCED, [REPRODUCED, REPRODUCED], HOLDS),
    (NOT_REPRODUCED, [NOT_REPRODUCED], FAILS),
    (REPRODUCED, [NOT_REPRODUCED, REPRODUCED], DEPENDS),
    (NOT_REPRODUCED, [INCONCLUSIVE, REPRODUCED], DEPENDS),
    (REPRODUCED, [INCONCLUSIVE], UNSURE),
    (INCONCLUSIVE, [INCONCLUSIVE], UNSURE),
    (REPRODUCED, [], NOT_TRIED),
    (NOT_TESTABLE, [REPRODUCED], "-"),
])
def test_the_lr_check_summarizes_the_verdicts_at_each_lr(main, others, summary):
    cell = summarize(Tried("1.5", _v(main)), [Tried(str(0.5 / (i + 1)), _v(o)) for i, o in enumerate(others)])
    assert summary_kind(cell) == summary
    if others and summary != "-":
        assert f"1.5: {main}" in cell and f"0.5: {others[0]}" in cell


def _collapse_runs(w_backbone: float, wo_backbone: list[float]) -> pd.DataFrame:
    rows = []
    for seed in range(3):
        rows.append({"case": "w/", "seed": seed, "status": "ok", "dim": 64, "z_std": 0.124, "z_erank": 3.0,
                     "backbone_std": w_backbone, "backbone_erank": 4.0})
        rows.append({"case": "w/o", "seed": seed, "status": "collapsed", "dim": 64, "z_std": 0.0025, "z_erank": 1.2,
                     "backbone_std": wo_backbone[seed], "backbone_erank": 3.0})
    return pd.DataFrame(rows)


def test_a_collapse_of_z_alone_is_placed_in_the_head():
    lines = list(diagnose(_collapse_runs(0.04, [0.039] * 3), ["w/", "w/o"]).values())
    assert len(lines) == 1 and lines[0].startswith("'w/o' (3 of 3 collapsed): z std 0.00250 = 0.02 × 1/√d")
    assert "backbone std against 'w/' at the same seed: s0 0.97×, s1 0.97×, s2 0.97×" in lines[0]
    assert lines[0].endswith("in 3 of 3 the collapse sits in the projection head (the backbone keeps its spread).")


def test_seeds_whose_backbone_collapsed_too_are_counted_apart():
    (line,) = diagnose(_collapse_runs(0.04, [0.04, 0.03, 0.001]), ["w/", "w/o"]).values()
    assert "s0 1.00×, s1 0.75×, s2 0.03×" in line
    assert line.endswith("in 2 of 3 the collapse sits in the projection head (the backbone keeps its spread); "
                         "in 1 of 3 the backbone's features collapsed too.")


def test_no_diagnosis_without_the_backbone_monitors_or_a_collapse():
    assert diagnose(_collapse_runs(0.04, [0.039] * 3).drop(columns=["backbone_std"]), ["w/", "w/o"]) == {}
    healthy = _collapse_runs(0.04, [0.039] * 3).assign(status="ok")
    assert diagnose(healthy, ["w/", "w/o"]) == {}


def test_a_not_reproduced_claim_on_a_collapsed_row_carries_the_collapse_site():
    claim = parse_claim({"paper": "p (Sec. 1)", "reading": "r", "test": "exceeds", "case": "w/", "other": "w/o",
                         "metric": "knn_acc", "margin": 30}, 1, ["w/", "w/o"])
    sites = diagnose(_collapse_runs(0.04, [0.039] * 3), ["w/", "w/o"])
    failed = with_site(Verdict(claim, NOT_REPRODUCED, "gap 2"), sites)
    assert failed.evidence.startswith("gap 2; where the collapse sits: 'w/o' (3 of 3 collapsed)")
    assert with_site(Verdict(claim, REPRODUCED, "gap 40"), sites).evidence == "gap 40"


def test_chance_comes_from_the_records_and_is_never_guessed():
    from analysis.datasets import chance_of
    assert chance_of(pd.DataFrame({"dataset": ["folder", "folder"], "num_classes": [100, 100]})) == 1.0
    assert chance_of(pd.DataFrame({"dataset": ["fashion_mnist"]})) == 10.0          # records without the count
    assert chance_of(pd.DataFrame({"dataset": ["folder"]})) is None                 # a folder: unknown, not 10
    assert chance_of(pd.DataFrame({"dataset": ["cifar10", "cifar100"]})) is None     # mixed
