"""The statistics behind a verdict (analysis.stats), a comparison's summary (analysis.comparisons) and where a
collapse sits (analysis.collapse_site), each against numbers worked out by hand."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import stats
from core.schema.claims import parse_claim
from analysis.collapse_site import diagnose, with_site
from analysis.comparisons import summarize, summary_kind, summary_words
from analysis.verdicts import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, Verdict

HOLDS, FAILS, DEPENDS, UNSURE, NOT_TRIED = summary_words("lr")


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
    # a row with more seeds (a baseline given seeds for another claim) pairs on the seeds both have
    more = stats.difference({**a, 3: 90.0, 4: 60.0}, b)
    assert more.paired and more.n == 3 and more.value == pytest.approx(1.0)


def test_the_t_quantile_and_welch_df_match_the_formulas():
    # the 95% two-sided quantiles of Student's t at df 2 and 5 (standard tables: 4.303, 2.571)
    assert stats.t_quantile(0.95, 2) == pytest.approx(4.3027, abs=1e-4)
    assert stats.t_quantile(0.95, 5) == pytest.approx(2.5706, abs=1e-4)
    assert stats.t_quantile(0.95, 1e9) == pytest.approx(1.95996, abs=1e-4)
    # Welch-Satterthwaite: equal SEs and counts give 2(n-1); one side without spread gives that side's n-1
    assert stats.welch_df(1.0, 3, 1.0, 3) == pytest.approx(4.0)
    assert stats.welch_df(1.0, 4, 0.0, 3) == pytest.approx(3.0)
    e = stats.difference({0: 1.0, 1: 2.0, 2: 3.0}, {5: 1.0, 6: 3.0, 7: 5.0, 8: 7.0})
    sa, sb = 1 / math.sqrt(3), math.sqrt(20 / 3) / 2
    df = (sa ** 2 + sb ** 2) ** 2 / (sa ** 4 / 2 + sb ** 4 / 3)
    assert not e.paired and e.df == pytest.approx(df) and e.n == 3
    assert e.half_width == pytest.approx(stats.t_quantile(0.95, df) * math.sqrt(sa ** 2 + sb ** 2))


@pytest.mark.parametrize("value,se,n,low,high,place", [
    (5.0, 1.0, 3, 0.0, math.inf, stats.INSIDE),       # 5 ± 4.30: [0.70, 9.30] above 0
    (4.0, 1.0, 3, 0.0, math.inf, stats.ACROSS),       # [-0.30, 8.30]: ± 2 SE would have called it
    (-5.0, 1.0, 3, 0.0, math.inf, stats.OUTSIDE),     # [-9.30, -0.70]
    (0.0, 0.0, 3, 0.0, math.inf, stats.OUTSIDE),      # an exact tie is not above 0
    (2.0, 0.2, 3, 0.0, 4.0, stats.INSIDE),            # two-sided [1.14, 2.86] in (0, 4)
    (3.5, 0.5, 3, 0.0, 4.0, stats.ACROSS),
    (9.0, 0.5, 3, 0.0, 4.0, stats.OUTSIDE),           # beyond at_most
    (9.0, 0.1, 2, 0.0, math.inf, stats.TOO_FEW),      # two seeds decide nothing
])
def test_where_a_95_interval_lies(value, se, n, low, high, place):
    assert stats.decide(stats.Estimate(value, se, n, df=n - 1), low, high) == place


@pytest.mark.parametrize("n", [3, 6, 10])
def test_what_two_standard_errors_call_a_95_interval_leaves_open(n):
    """A difference 2.5 SE above 0: inside a ± 2 SE interval, across 0 for the t interval at n <= 6."""
    est = stats.Estimate(2.5, 1.0, n, df=n - 1)
    assert est.value - 2 * est.se > 0
    expected = stats.INSIDE if stats.t_quantile(0.95, n - 1) < 2.5 else stats.ACROSS
    assert stats.decide(est, 0.0) == expected
    assert (expected == stats.ACROSS) == (n <= 6)


def test_a_gain_ratio_reads_each_seed_between_its_floor_and_its_baseline():
    floor, base = {0: 60.0, 1: 62.0, 2: 61.0}, {0: 80.0, 1: 82.0, 2: 71.0}
    row = {0: 65.0, 1: 72.0, 2: 66.0}
    e = stats.gain_ratio(row, None, base, floor)                   # 5/20, 10/20, 5/10
    assert e.paired and e.n == 3 and e.value == pytest.approx((0.25 + 0.5 + 0.5) / 3)
    gap = stats.gain_ratio(base, row, base, floor)                 # (base - row) / span: 1 - the above
    assert gap.value == pytest.approx(1 - e.value)
    assert stats.gain_ratio(row, None, {**base, 2: 61.0}, floor).n == 2    # a seed with no span is left out


@pytest.mark.parametrize("k,n,place", [
    (3, 3, stats.ACROSS),      # lower bound 0.05^(1/3) = 0.37: three of three cannot say "as a rule"
    (5, 5, stats.INSIDE),      # 0.05^(1/5) = 0.55
    (0, 5, stats.OUTSIDE),
    (4, 6, stats.ACROSS),
    (1, 2, stats.TOO_FEW),
])
def test_a_status_claim_needs_the_share_above_one_half(k, n, place):
    assert stats.decide_rate(k, n, 0.95) == place


def test_the_share_bounds_are_clopper_pearsons():
    low, high = stats.rate_bounds(3, 3, 0.95)
    assert low == pytest.approx(0.05 ** (1 / 3)) and high == 1.0
    low, high = stats.rate_bounds(0, 4, 0.95)
    assert low == 0.0 and high == pytest.approx(1 - 0.05 ** (1 / 4))


def test_the_seeds_a_decision_needs_clear_the_bound_at_that_count():
    est = stats.Estimate(1.0, 1.0 / math.sqrt(3), 3, df=2)       # sd 1, mean 1: needs t_{n-1} / sqrt(n) < 1
    n = stats.seeds_needed(est, 0.0, lambda k: 0.95)
    assert stats.t_quantile(0.95, n - 1) / math.sqrt(n) < 1 <= stats.t_quantile(0.95, n - 2) / math.sqrt(n - 1)
    assert stats.seeds_needed(stats.Estimate(0.0, 1.0, 3, df=2), 0.0, lambda k: 0.95) is None
    assert stats.rate_seeds_needed(3, 3, 0.95) == 5


def test_the_seeds_a_decision_needs_are_judged_at_the_level_of_that_count():
    """The level comes per candidate count (the design's), and a count below MIN_SEEDS is never the answer."""
    est = stats.Estimate(1.0, 1.0 / math.sqrt(3), 3, df=2)
    at_95 = stats.seeds_needed(est, 0.0, lambda k: 0.95)
    stricter = stats.seeds_needed(est, 0.0, lambda k: 1 - 1e-9 if k < at_95 + 5 else 0.95)
    assert stricter == at_95 + 5                                  # nothing clears until the level drops
    two = stats.Estimate(5.0, 0.1, 2, df=1)                       # clear of 0 already at two seeds
    assert stats.seeds_needed(two, 0.0, lambda k: 0.95) == stats.MIN_SEEDS
    assert stats.seeds_needed(stats.Estimate(5.0, math.nan, 1), 0.0, lambda k: 0.95) is None    # no spread
    far = stats.Estimate(1e-4, 1.0, 3, df=2)
    assert stats.seeds_needed(far, 0.0, lambda k: 0.95) is None                                  # past MOST_SEEDS


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
def test_a_comparison_summarizes_the_verdicts_at_each_value(main, others, summary):
    cell = summarize(("1.5", _v(main)), [(str(0.5 / (i + 1)), _v(o)) for i, o in enumerate(others)], "lr")
    assert summary_kind(cell, "lr") == summary
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
