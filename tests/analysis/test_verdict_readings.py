"""What a verdict means (issue 21), on fixture numbers: a 95% t interval where ± 2 SE used to decide, claims
read in the scale's own units between the untrained network and the baseline, 'works' claims that an
untrained row cannot pass, the two kinds of 'not reproduced', and status claims with their sensitivity."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis import stats
from analysis.facts import Facts
from analysis.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, REVERSED, THRESHOLD_SENSITIVE, WEAKER, judge
from core.schema.claims import parse_claim

CASES = ["base", "row", "other"]
DIM = 64
# per-seed offsets with sample std 1 (mean 0): a row's values are mean + SPREAD[seed] x sd
SPREAD = {0: -1.0, 1: 0.0, 2: 1.0}


def _rows(means: dict, sd: float = 1.0, metric: str = "linear_acc", status: str = "ok", **extra) -> list[dict]:
    return [{"case": c, "seed": s, "status": status, "dim": DIM, metric: m + SPREAD[s] * sd, **extra}
            for c, m in means.items() for s in SPREAD]


def _claim(raw):
    return parse_claim({"paper": "p (Sec. 0)", "reading": "r", **raw}, 1, CASES)


# A sweep file that declares 10 seeds is a fixed design, every claim at 95% (stats.look_level): these fixtures
# test the 95% interval; the sequential design's levels are tests/analysis/test_sequential_error.py's.
FIXED = 10


def _facts(rows, floor=None, declared=FIXED):
    return Facts(pd.DataFrame(rows), "cpu", 10.0, pd.DataFrame(floor) if floor else None, 0.95, declared)


# A difference 2.5 SE from its bound: a ± 2 SE interval decides it, the 95% t interval at df 2 (± 4.30 SE) does
# not. 'row' minus 'other' is paired with per-seed differences (1.5, 2.5, 3.5) * k: SE = k / sqrt(3).
def _pair(mean_diff: float, se: float) -> list[dict]:
    k = se * 3 ** 0.5
    return [{"case": "row", "seed": s, "status": "ok", "dim": DIM, "linear_acc": 70.0 + mean_diff + SPREAD[s] * k}
            for s in SPREAD] + [{"case": "other", "seed": s, "status": "ok", "dim": DIM, "linear_acc": 70.0}
                                for s in SPREAD]


@pytest.mark.parametrize("raw,rows", [
    ({"test": "exceeds", "case": "row", "other": "other", "metric": "linear_acc", "margin": 1.0}, _pair(3.5, 1.0)),
    ({"test": "exceeds", "case": "row", "other": "other", "metric": "linear_acc", "margin": 6.0}, _pair(3.5, 1.0)),
    ({"test": "trend", "cases": ["other", "row"], "metric": "linear_acc", "direction": "increasing"},
     _pair(2.5, 1.0)),
    ({"test": "flat", "cases": ["other", "row"], "metric": "linear_acc", "tolerance": 5.0}, _pair(2.5, 1.0)),
    ({"test": "above", "case": "row", "metric": "linear_acc", "value": 70.0}, _rows({"row": 72.5}, sd=3 ** 0.5)),
    ({"test": "below", "case": "row", "metric": "linear_acc", "value": 75.0}, _rows({"row": 72.5}, sd=3 ** 0.5)),
    ({"test": "between", "case": "row", "metric": "linear_acc", "low": 70.0, "high": 90.0},
     _rows({"row": 72.5}, sd=3 ** 0.5)),
])
def test_what_two_standard_errors_would_call_is_inconclusive_at_95(raw, rows):
    v = judge(_claim(raw), _facts(rows))
    assert v.verdict == INCONCLUSIVE, v.evidence
    assert "95%" in v.evidence


def test_three_runs_of_three_no_longer_make_a_status_the_rule():
    """3 of 3 'ok' bounds the failure rate only below 63%: inconclusive; 5 of 5 (one-sided 95%) decides."""
    three = judge(_claim({"test": "status", "case": "row", "equals": "ok"}), _facts(_rows({"row": 70.0})))
    assert three.verdict == INCONCLUSIVE and "share between 0.37 and 1.00" in three.evidence
    five = [{"case": "row", "seed": s, "status": "ok", "dim": DIM, "z_std": 0.12} for s in range(5)]
    assert judge(_claim({"test": "status", "case": "row", "equals": "ok"}), _facts(five)).verdict \
        == REPRODUCED


FLOOR = [{"case": "random", "seed": s, "status": "ok", "linear_acc": 66.0 + SPREAD[s] * 0.1} for s in SPREAD]


def test_the_gap_is_read_in_the_scales_own_units():
    """Floor 66, baseline 80 (a 14-point scale): a row at 67 lost 13/14 of the gain; 30 ImageNet points could
    never be asked of it, 'more than 0.75 of the gain lost' can."""
    rows = _rows({"base": 80.0, "row": 67.0}, sd=0.3)
    raw = {"test": "exceeds", "case": "base", "other": "row", "metric": "linear_acc", "relative_to": "gain",
           "baseline": "base", "margin": 0.75}
    v = judge(_claim(raw), _facts(rows, FLOOR))
    assert v.verdict == REPRODUCED, v.evidence
    assert "0.93 [" in v.evidence and "in points: 13.0 [" in v.evidence and "'untrained' 66.0" in v.evidence
    points = {**raw, "relative_to": None, "baseline": None, "margin": 30}
    assert judge(_claim({k: x for k, x in points.items() if x is not None}), _facts(rows, FLOOR)).verdict \
        == NOT_REPRODUCED


def test_without_a_floor_a_gain_claim_has_no_data():
    raw = {"test": "exceeds", "case": "base", "other": "row", "metric": "linear_acc", "relative_to": "gain",
           "baseline": "base", "margin": 0.75}
    v = judge(_claim(raw), _facts(_rows({"base": 80.0, "row": 67.0})))
    assert v.verdict == "no data yet" and "python -m sweeps.run random_network" in v.evidence


@pytest.mark.parametrize("row_mean", [66.0, 66.5, 65.0])
def test_an_untrained_row_never_passes_a_works_claim(row_mean):
    """A row at the untrained network's accuracy ends 'ok' (nothing collapsed) in five runs of five: the status
    half holds, the floor half does not, so the claim is never reproduced."""
    seeds = range(5)
    rows = [{"case": c, "seed": s, "status": "ok", "dim": DIM, "z_std": 0.12,
             "linear_acc": m + (s - 2) * 0.05} for c, m in (("base", 80.0), ("row", row_mean)) for s in seeds]
    floor = [{"case": "random", "seed": s, "status": "ok", "linear_acc": 66.0 + (s - 2) * 0.05} for s in seeds]
    raw = {"test": "status", "case": "row", "equals": "ok", "floor_margin": 0.5, "baseline": "base"}
    v = judge(_claim(raw), _facts(rows, floor))
    assert v.verdict != REPRODUCED, v.evidence
    assert v.parts[0].place == stats.INSIDE                           # it did not collapse...
    trained = [{**r, "linear_acc": r["linear_acc"] + 12.0} if r["case"] == "row" else r for r in rows]
    assert judge(_claim(raw), _facts(trained, floor)).verdict == REPRODUCED   # ...and now it trains


def test_reversed_and_weaker_get_different_words():
    raw = {"test": "exceeds", "case": "base", "other": "row", "metric": "linear_acc", "relative_to": "gain",
           "baseline": "base", "margin": 0.75}
    weaker = judge(_claim(raw), _facts(_rows({"base": 80.0, "row": 76.0}, sd=0.2), FLOOR))     # lost 0.29
    reversed_ = judge(_claim(raw), _facts(_rows({"base": 80.0, "row": 83.0}, sd=0.2), FLOOR))  # gained
    assert (weaker.verdict, weaker.how) == (NOT_REPRODUCED, WEAKER)
    assert (reversed_.verdict, reversed_.how) == (NOT_REPRODUCED, REVERSED)
    assert weaker.word != reversed_.word and reversed_.word == "not reproduced (reversed)"
    order = {"test": "exceeds", "case": "base", "other": "row", "metric": "linear_acc"}         # "base is higher"
    flipped = judge(_claim(order), _facts(_rows({"base": 70.0, "row": 74.0}, sd=0.2)))
    assert flipped.how == REVERSED


def test_a_status_verdict_that_hangs_on_the_collapse_line_says_so():
    """Six runs ending at z std 0.15-0.2 x 1/sqrt(d) (near-collapse at the harness's lines): 'collapses' is not
    the rule at 0.1/sqrt(d), and is at 0.25/sqrt(d) and under the loss test."""
    rows = [{"case": "row", "seed": s, "status": "near-collapse", "dim": DIM, "z_std": (0.15 + 0.01 * s) / DIM ** 0.5,
             "loss": -0.998, "loss_kind": "similarity/cosine"} for s in range(6)]
    v = judge(_claim({"test": "status", "case": "row", "equals": "collapsed"}), _facts(rows, declared=6))
    assert v.verdict == NOT_REPRODUCED and THRESHOLD_SENSITIVE in v.flags
    assert "z std < 0.25/√d: 6/6 reproduced" in v.evidence and "loss < -0.99: 6/6 reproduced" in v.evidence
    steady = [{**r, "z_std": 0.9 / DIM ** 0.5, "loss": -0.9, "status": "ok"} for r in rows]
    v = judge(_claim({"test": "status", "case": "row", "equals": "collapsed"}), _facts(steady, declared=6))
    assert v.verdict == NOT_REPRODUCED and v.flags == ()
