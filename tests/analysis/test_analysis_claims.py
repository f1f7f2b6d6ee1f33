"""Claims as data (core.schema.claims) and their verdicts (analysis.verdicts), pinned on fixture numbers."""
from __future__ import annotations

import math
import random

import pandas as pd
import pytest
import yaml

from core.schema.claims import ClaimError, parse_claim, parse_claims
from core.schema.sweep_format import SweepFileError, known_sweeps, load_sweep
from analysis.facts import Facts
from analysis.verdicts import INCONCLUSIVE, NO_DATA, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, judge, verdict_counts

CASES = ["w/ sg", "w/o sg", "x", "empty", "a", "b", "c"]
DIM = 64
# A sweep file that declares 10 seeds is a fixed design, every claim at 95% (stats.look_level): these fixtures
# pin the 95% interval; the sequential design's levels are tests/analysis/test_sequential_error.py's.
FIXED = 10


def _runs(rows: dict) -> pd.DataFrame:
    """rows: case -> list of (seed, status, {metric: value}) for finished runs; 'empty' has one unfinished."""
    out = [{"case": c, "seed": seed, "status": status, "dim": DIM, **m}
           for c, runs in rows.items() for seed, status, m in runs]
    out.append({"case": "empty", "seed": 0, "status": "unfinished", "dim": DIM})
    return pd.DataFrame(out)


def _seeds(case_values: dict, status="ok", metric="knn_acc", seeds=(0, 1, 2)) -> dict:
    return {c: [(s, status, {metric: v}) for s, v in zip(seeds, vals)] for c, vals in case_values.items()}


def _facts(rows: dict | None = None, preset="cpu") -> Facts:
    """Default fixture: 'w/ sg' 3 seeds ok, 'w/o sg' 3 seeds collapsed, 'x' 1 seed; d = 64."""
    if rows is None:
        rows = {
            "w/ sg": [(s, "ok", {"knn_acc": k, "loss": loss, "z_std": z, "knn_acc_init": i})
                      for s, k, loss, z, i in [(0, 68.0, -0.91, 0.121, 52.0), (1, 70.0, -0.915, 0.119, 49.0),
                                            (2, 71.4, -0.911, 0.123, 50.2)]],
            "w/o sg": [(s, "collapsed", {"knn_acc": k, "loss": loss, "z_std": z, "knn_acc_init": i})
                       for s, k, loss, z, i in [(0, 45.0, -0.999, 0.002, 52.0), (1, 60.0, -0.9995, 0.001, 49.0),
                                             (2, 63.6, -0.998, 0.003, 50.2)]],
            "x": [(0, "ok", {"knn_acc": 70.0, "loss": -0.9, "z_std": 0.12, "knn_acc_init": 50.0})],
        }
    return Facts(_runs(rows), preset, chance=10.0, declared=FIXED)


def _judge(raw, facts=None, preset="cpu"):
    claim = parse_claim({"paper": "the paper says (Sec. 0)", "reading": "why", **raw}, 1, CASES)
    return judge(claim, facts if facts is not None else _facts(preset=preset))


@pytest.mark.parametrize("raw,verdict,evidence", [
    ({"test": "below", "case": "w/o sg", "metric": "loss", "value": -0.99}, REPRODUCED,
     "(n=3, 95%); needs < -0.990: meets it"),
    ({"test": "below", "case": "w/ sg", "metric": "loss", "value": -0.99}, NOT_REPRODUCED, "needs < -0.990: fails it"),
    ({"test": "below", "case": "w/o sg", "metric": "z_std", "value": 0.1, "relative_to": "inv_sqrt_d"},
     REPRODUCED, "needs < 0.1 × 1/√64 = 0.0125"),
    ({"test": "between", "case": "w/ sg", "metric": "z_std", "low": 0.5, "high": 1.5, "relative_to": "inv_sqrt_d"},
     REPRODUCED, "needs 0.5 × 1/√64 = 0.0625 to 1.5 × 1/√64 = 0.188"),
    # 'w/o sg' kNN 56.2 with a wide interval across 60 (± 4.30 SE at df 2): the data cannot tell
    ({"test": "above", "case": ["w/ sg", "w/o sg"], "metric": "knn_acc", "value": 6, "relative_to": "chance"},
     INCONCLUSIVE, "'w/o sg' kNN acc (%) 56.2 [31.7, 80.7] (n=3, 95%); needs > 6 × chance 10 = 60.0: across the bound"),
    # three runs of three cannot make a status the rule at 95% (the share's lower bound is 0.05^(1/3) = 0.37)
    ({"test": "status", "case": "w/o sg", "equals": "collapsed"}, INCONCLUSIVE,
     "3/3 collapsed, share between 0.37 and 1.00 (one-sided bounds, 95% each)"),
    ({"test": "status", "case": ["w/ sg", "w/o sg"], "equals": ["ok", "diverged"]}, INCONCLUSIVE,
     "0/3 ok or diverged, share between 0.00 and 0.63"),
    ({"test": "status", "case": "x", "equals": "ok"}, INCONCLUSIVE, "fewer than 3 seeds"),
    # Fig. 2's gap, paired by seed: differences 23.0, 10.0, 7.8 -> 13.6, SE 4.75, ± 4.30 SE at df 2; ± 2 SE
    # ([4.1, 23.1]) would have called it "not reproduced" against 30 and "reproduced" against 2
    ({"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 30}, INCONCLUSIVE,
     "'w/ sg' − 'w/o sg' kNN acc (%) 13.6 [-6.8, 34.0] (paired, n=3, 95%); needs > 30.0: across the bound"),
    ({"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 5}, INCONCLUSIVE,
     "across the bound"),
    ({"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 2}, INCONCLUSIVE,
     "needs > 2.0: across the bound"),
    ({"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 2, "at_most": 20},
     INCONCLUSIVE, "2.0 < · < 20.0: across the bound"),
    ({"test": "exceeds", "case": "w/ sg", "metric": "knn_acc", "other_metric": "knn_acc_init", "margin": 5},
     REPRODUCED, "'w/ sg': kNN acc (%) − kNN acc at init (%) 19.4"),
    ({"test": "exceeds", "case": "x", "other": "w/ sg", "metric": "knn_acc", "factor": 2}, INCONCLUSIVE,
     "'x' − 2 × 'w/ sg' kNN acc (%)"),
    ({"test": "status", "case": "empty", "equals": "ok"}, NO_DATA, "no finished runs of 'empty'"),
    ({"test": "exceeds", "case": "w/ sg", "other": "empty", "metric": "knn_acc"}, NO_DATA,
     "no finished runs of 'empty'"),
    ({"test": "below", "case": "x", "metric": "linear_acc", "value": 1}, NO_DATA, "no linear acc (%) for 'x'"),
])
def test_verdict_on_fixture_numbers(raw, verdict, evidence):
    v = _judge(raw)
    assert v.verdict == verdict, v.evidence
    assert evidence in v.evidence


SEPARATED = {"a": [70.0, 71.0, 72.0], "b": [75.0, 76.2, 76.8], "c": [80.1, 81.0, 82.3]}   # steps ~5, SE < 0.5
TIED = {"a": [70.0, 74.0, 72.0], "b": [72.0, 70.0, 74.0], "c": [74.0, 72.0, 70.0]}        # means 72.0 each


@pytest.mark.parametrize("raw,separated,tied", [
    ({"test": "exceeds", "case": "b", "other": "a", "metric": "knn_acc"}, REPRODUCED, INCONCLUSIVE),
    ({"test": "exceeds", "case": "b", "other": "a", "metric": "knn_acc", "at_most": 10}, REPRODUCED, INCONCLUSIVE),
    ({"test": "exceeds", "case": "a", "other": "b", "metric": "knn_acc"}, NOT_REPRODUCED, INCONCLUSIVE),
    ({"test": "trend", "cases": ["a", "b", "c"], "metric": "knn_acc", "direction": "increasing"}, REPRODUCED,
     INCONCLUSIVE),
    ({"test": "trend", "cases": ["c", "b", "a"], "metric": "knn_acc", "direction": "decreasing"}, REPRODUCED,
     INCONCLUSIVE),
    ({"test": "trend", "cases": ["c", "b", "a"], "metric": "knn_acc", "direction": "increasing"}, NOT_REPRODUCED,
     INCONCLUSIVE),
    ({"test": "flat", "cases": ["a", "b", "c"], "metric": "knn_acc", "tolerance": 1}, NOT_REPRODUCED, INCONCLUSIVE),
    ({"test": "above", "case": "b", "metric": "knn_acc", "value": 72.0}, REPRODUCED, INCONCLUSIVE),
    ({"test": "below", "case": "b", "metric": "knn_acc", "value": 72.0}, NOT_REPRODUCED, INCONCLUSIVE),
    ({"test": "between", "case": "b", "metric": "knn_acc", "low": 72.0, "high": 80.0}, REPRODUCED, INCONCLUSIVE),
])
def test_a_tie_is_never_reproduced_and_a_clear_gap_is(raw, separated, tied):
    """The same claim on three separated rows and on three rows whose seed means are equal (72.0): a tie with
    seed noise, paired by seed or against a threshold at the tie, is inconclusive, never reproduced."""
    assert _judge(raw, Facts(_runs(_seeds(SEPARATED)), "cpu", 10.0, declared=FIXED)).verdict == separated
    assert _judge(raw, Facts(_runs(_seeds(TIED)), "cpu", 10.0, declared=FIXED)).verdict == tied


def test_an_exact_tie_with_no_spread_is_not_reproduced():
    """Three seeds of identical numbers: the difference is exactly 0 with SE 0, which is not above a margin of 0."""
    rows = _seeds({"a": [80.0, 80.0, 80.0], "b": [80.0, 80.0, 80.0]})
    v = _judge({"test": "exceeds", "case": "a", "other": "b", "metric": "knn_acc"},
               Facts(_runs(rows), "cpu", 10.0, declared=FIXED))
    assert v.verdict == NOT_REPRODUCED and "0.0 [0.0, 0.0] (paired, n=3, 95%)" in v.evidence


@pytest.mark.parametrize("test", ["exceeds", "trend", "flat", "between", "below", "above", "status"])
def test_one_seed_is_inconclusive_whatever_the_numbers(test):
    """The issue's fixture: cosine 80.0 vs cross-entropy 80.0, one seed each, and more: one seed never decides."""
    rows = _seeds({"a": [80.0], "b": [70.0]}, seeds=(0,))
    raw = {"exceeds": {"case": "a", "other": "b", "metric": "knn_acc", "margin": 0},
           "trend": {"cases": ["b", "a"], "metric": "knn_acc", "direction": "increasing"},
           "flat": {"cases": ["a", "b"], "metric": "knn_acc", "tolerance": 50},
           "between": {"case": "a", "metric": "knn_acc", "low": 0, "high": 100},
           "below": {"case": "a", "metric": "knn_acc", "value": 100},
           "above": {"case": "a", "metric": "knn_acc", "value": 0},
           "status": {"case": ["a", "b"], "equals": "ok"}}[test]
    v = _judge({"test": test, **raw}, Facts(_runs(rows), "cpu", 10.0, declared=FIXED))
    assert v.verdict == INCONCLUSIVE and "fewer than 3 seeds" in v.evidence


@pytest.mark.parametrize("seed", range(20))
def test_a_difference_inside_two_standard_errors_never_reproduces(seed):
    """Random rows whose true difference is 0: whenever the estimated difference lies within 2 SE of the
    margin, no test reports reproduced (so a claim cannot pass on seed noise)."""
    rng = random.Random(seed)
    a = [70 + rng.gauss(0, 2) for _ in range(3)]
    b = [70 + rng.gauss(0, 2) for _ in range(3)]
    facts = Facts(_runs(_seeds({"a": a, "b": b})), "cpu", 10.0, declared=FIXED)
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / 3
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / 2 / 3)
    margins = [m for m in (0.0, mean - se, mean + se, mean - 1.99 * se) if abs(mean - m) <= 2 * se]
    assert len(margins) >= 3
    for margin in margins:
        v = _judge({"test": "exceeds", "case": "a", "other": "b", "metric": "knn_acc", "margin": margin}, facts)
        assert v.verdict != REPRODUCED, (margin, v.evidence)


def test_a_claim_with_several_parts_needs_every_part():
    rows = _seeds({"a": [70.0, 71.0, 72.0], "b": [75.0, 76.0, 77.0], "c": [75.0, 77.0, 76.0]})
    v = _judge({"test": "trend", "cases": ["a", "b", "c"], "metric": "knn_acc", "direction": "increasing"},
               Facts(_runs(rows), "cpu", 10.0, declared=FIXED))
    assert v.verdict == INCONCLUSIVE                  # a -> b is up, b -> c is not shown
    assert [p.place for p in v.parts] == ["inside", "across"]


def test_not_testable_at_this_scale_keeps_our_numbers_for_the_record():
    raw = {"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 40,
           "testable_at": ["imagenet", "cifar10"], "reason": "too few steps at this preset"}
    v = _judge(raw, preset="cpu")
    assert v.verdict == NOT_TESTABLE
    assert v.evidence.startswith("too few steps at this preset (testable at: imagenet, cifar10; this preset: cpu)")
    assert "ours (not reproduced): 'w/ sg' − 'w/o sg' kNN acc (%) 13.6" in v.evidence
    assert _judge(raw, preset="imagenet").verdict == NOT_REPRODUCED
    assert verdict_counts([v, _judge(raw, preset="imagenet")])[NOT_TESTABLE] == 1


@pytest.mark.parametrize("raw,message", [
    ({"test": "bleow", "case": "x", "metric": "loss", "value": 1}, "did you mean 'below'"),
    ({"test": "below", "case": "y", "metric": "loss", "value": 1}, "case 'y' is not in 'cases'"),
    ({"test": "below", "case": "x", "metric": "los", "value": 1}, "unknown metric 'los' (did you mean 'loss'?)"),
    ({"test": "below", "case": "x", "metric": "loss"}, "missing field 'value'"),
    ({"test": "below", "case": "x", "metric": "loss", "value": "low"}, "'value' must be a number"),
    ({"test": "below", "case": "x", "metric": "loss", "value": 1, "margin": 2}, "unknown field 'margin'"),
    ({"test": "below", "case": "x", "metric": "z_std", "value": 1, "relative_to": "d"}, "'relative_to' must be one of"),
    ({"test": "status", "case": "x", "equals": "colapsed"}, "did you mean 'collapsed'"),
    ({"test": "trend", "cases": ["x", "w/ sg"], "metric": "loss", "direction": "up"}, "increasing or decreasing"),
    ({"test": "flat", "cases": ["x"], "metric": "loss", "tolerance": 1}, "at least two cases"),
    ({"test": "between", "case": "x", "metric": "loss", "low": 2, "high": 1}, "'low' (2) is above 'high' (1)"),
    ({"test": "status", "case": "x", "equals": "ok", "testable_at": ["imagenet"]}, "needs a 'reason'"),
    ({"test": "exceeds", "case": ["x", "w/ sg"], "metric": "loss"}, "'case' must be one case"),
    ({"test": "exceeds", "case": "x", "other": "a", "metric": "loss", "margin": 1, "at_most": 1},
     "'at_most' (1) must be above 'margin' (1)"),
    ({"test": "flat", "cases": ["x", "a"], "metric": "loss", "tolerance": 0}, "'tolerance' must be positive"),
    ({"test": "trend", "cases": ["x", "a"], "metric": "loss", "direction": "increasing", "tolerance": 1},
     "unknown field 'tolerance'"),
    ({"test": "status", "case": "x", "equals": "ok", "reading": None}, "missing field 'reading' (one line on why"),
    ({"test": "status", "case": "x", "equals": "ok", "reading": "  "}, "'reading' must be text"),
])
def test_malformed_claims_are_named(raw, message):
    with pytest.raises(ClaimError, match="claim 1") as err:
        parse_claim({"paper": "p", "reading": "why", **raw}, 1, CASES)
    assert message in str(err.value)


def test_claims_in_a_sweep_file_are_validated_with_the_file_named(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"figure": "Table 9", "title": "t", "cases": {"a": {}, "b": {}},
                                    "claims": [{"paper": "p", "reading": "r", "test": "status", "case": "c",
                                                "equals": "ok"}]}))
    with pytest.raises(SweepFileError, match=r"s.yaml: claim 1 \(status\): case 'c' is not in 'cases'"):
        load_sweep(path)
    assert parse_claims(None, ["a"]) == []
    with pytest.raises(ClaimError, match="must be a list"):
        parse_claims({"paper": "p"}, ["a"])


@pytest.mark.parametrize("name", known_sweeps())
def test_every_ablation_states_the_papers_claims(name):
    sweep = load_sweep(name)                     # claims validated against the cases
    if sweep.figure.startswith("Reference"):     # a measurement the verdicts are read against, not a paper figure
        assert sweep.claims == [] and "Not an ablation" in sweep.notes
        return
    assert len(sweep.claims) >= 2
    assert len(sweep.seeds) >= 3                 # a verdict needs three seeds a row
    for c in sweep.claims:
        assert "(" in c.paper and ("Sec." in c.paper or "Table" in c.paper or "App." in c.paper), c.paper
        assert len(c.reading) > 20, c.paper


def test_sweep_runner_accepts_the_claims_key():
    from sweeps.sweepfile import load_sweep as runner_load
    assert runner_load("stopgrad").cases


def test_a_threshold_relative_to_an_unknown_chance_has_no_data():
    facts = Facts(_facts().runs, "cpu", None, declared=FIXED)
    v = _judge({"test": "above", "case": "w/ sg", "metric": "knn_acc", "value": 2, "relative_to": "chance"}, facts)
    assert v.verdict == NO_DATA and "chance accuracy unknown" in v.evidence
