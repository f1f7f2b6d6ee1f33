"""Claims as data (analysis.claims) and their verdicts (analysis.verdicts), pinned on fixture numbers."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from analysis.claims import ClaimError, parse_claim, parse_claims
from analysis.sweepfile import ReportError, known_sweeps, load_sweep
from analysis.verdicts import (NO_DATA, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, Facts, judge,
                               verdict_counts)

CASES = ["w/ sg", "w/o sg", "x", "empty"]


def _facts(preset="cpu") -> Facts:
    """Fixture table: 'w/ sg' 3 seeds, 'w/o sg' 3 seeds (collapsed), 'x' 1 seed, 'empty' none; d = 64."""
    def row(case, n, status, **m):
        r = {"case": case, "n": n, "status": status, "running": 0, "grid_label": ""}
        for k, (mean, std) in m.items():
            r.update({f"{k}_mean": mean, f"{k}_std": std, f"{k}_n": n})
        return r
    table = pd.DataFrame([
        row("w/ sg", 3, "ok", knn_acc=(69.8, 1.7), loss=(-0.912, 0.005), z_std=(0.121, 0.002),
            knn_acc_init=(50.4, 1.8)),
        row("w/o sg", 3, "collapsed", knn_acc=(56.2, 10.1), loss=(-0.999, 0.001), z_std=(0.002, 0.001),
            knn_acc_init=(50.4, 1.8)),
        row("x", 1, "ok", knn_acc=(70.0, math.nan), loss=(-0.9, math.nan), z_std=(0.12, math.nan),
            knn_acc_init=(50.0, math.nan)),
        {"case": "empty", "n": 0, "status": "missing", "running": 1, "grid_label": "",
         "knn_acc_mean": math.nan, "knn_acc_std": math.nan, "knn_acc_n": 0},
    ])
    runs = pd.DataFrame({"case": ["w/ sg"] * 3 + ["w/o sg"] * 3 + ["x", "empty"],
                         "status": ["ok"] * 3 + ["collapsed"] * 3 + ["ok", "unfinished"], "dim": [64] * 8})
    return Facts(table, runs, preset, chance=10.0)


def _judge(raw, preset="cpu"):
    return judge(parse_claim({"paper": "the paper says (Sec. 0)", **raw}, 1, CASES), _facts(preset))


@pytest.mark.parametrize("raw,verdict,evidence", [
    ({"test": "below", "case": "w/o sg", "metric": "loss", "value": -0.99}, REPRODUCED,
     "-0.999 ± 0.001 (n=3); needs < -0.990"),
    ({"test": "below", "case": "w/ sg", "metric": "loss", "value": -0.99}, NOT_REPRODUCED, "needs < -0.990"),
    ({"test": "below", "case": "w/o sg", "metric": "z_std", "value": 0.1, "relative_to": "inv_sqrt_d"},
     REPRODUCED, "needs < 0.1 × 1/√64 = 0.0125"),
    ({"test": "between", "case": "w/ sg", "metric": "z_std", "low": 0.5, "high": 1.5, "relative_to": "inv_sqrt_d"},
     REPRODUCED, "needs 0.5 × 1/√64 = 0.0625 to 1.5 × 1/√64 = 0.188"),
    ({"test": "above", "case": ["w/ sg", "w/o sg"], "metric": "knn_acc", "value": 6, "relative_to": "chance"},
     NOT_REPRODUCED, "'w/o sg' kNN acc (%) 56.2 ± 10.1 (n=3); needs > 6 × chance 10 = 60.0"),
    ({"test": "status", "case": "w/o sg", "equals": "collapsed"}, REPRODUCED, "status collapsed (n=3)"),
    ({"test": "status", "case": ["w/ sg", "w/o sg"], "equals": ["ok", "diverged"]}, NOT_REPRODUCED,
     "needs every run ok or diverged"),
    # Fig. 2's accuracy gap at CPU scale: 13.6 points, 2 SE = 2*sqrt(1.7²/3 + 10.1²/3) = 11.8
    ({"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 30}, NOT_REPRODUCED,
     "69.8 ± 1.7 (n=3) vs 'w/o sg' kNN acc (%) 56.2 ± 10.1 (n=3): difference 13.6, 2 SE 11.8; "
     "needs difference − 2 SE ≥ 30.0"),
    # 13.6 > 0 but not beyond its 2 SE (11.8) plus a margin of 2: not reproduced
    ({"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 2}, NOT_REPRODUCED,
     "2 SE 11.8"),
    ({"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 1}, REPRODUCED,
     "2 SE 11.8"),
    ({"test": "exceeds", "case": "w/ sg", "metric": "knn_acc", "other_metric": "knn_acc_init", "margin": 5},
     REPRODUCED, "vs kNN acc at init (%) 50.4 ± 1.8 (n=3): difference 19.4"),
    ({"test": "exceeds", "case": "x", "other": "w/ sg", "metric": "knn_acc", "factor": 2}, NOT_REPRODUCED,
     "vs 2 × 'w/ sg'"),
    ({"test": "trend", "cases": ["w/o sg", "w/ sg", "x"], "metric": "knn_acc", "direction": "increasing"},
     REPRODUCED, "largest step back 0.0, last − first 13.8"),
    ({"test": "trend", "cases": ["x", "w/ sg", "w/o sg"], "metric": "knn_acc", "direction": "increasing",
      "tolerance": 20}, NOT_REPRODUCED, "last − first -13.8"),
    ({"test": "flat", "cases": ["w/ sg", "x"], "metric": "knn_acc", "tolerance": 0.5}, REPRODUCED, "range 0.2"),
    ({"test": "flat", "cases": ["w/ sg", "w/o sg"], "metric": "knn_acc", "tolerance": 0.5}, NOT_REPRODUCED,
     "range 13.6"),
    ({"test": "status", "case": "empty", "equals": "ok"}, NO_DATA, "no finished runs of 'empty'"),
    ({"test": "exceeds", "case": "w/ sg", "other": "empty", "metric": "knn_acc"}, NO_DATA,
     "no finished runs of 'empty'"),
    ({"test": "below", "case": "x", "metric": "linear_acc", "value": 1}, NO_DATA, "no linear acc (%) for 'x'"),
])
def test_verdict_on_fixture_numbers(raw, verdict, evidence):
    v = _judge(raw)
    assert v.verdict == verdict, v.evidence
    assert evidence in v.evidence


def test_not_testable_at_this_scale_keeps_our_numbers_for_the_record():
    raw = {"test": "exceeds", "case": "w/ sg", "other": "w/o sg", "metric": "knn_acc", "margin": 30,
           "testable_at": ["imagenet", "cifar10"], "reason": "too few steps at this preset"}
    v = _judge(raw, preset="cpu")
    assert v.verdict == NOT_TESTABLE
    assert v.evidence.startswith("too few steps at this preset (testable at: imagenet, cifar10; this preset: cpu)")
    assert "ours (not reproduced): 'w/ sg' kNN acc (%) 69.8" in v.evidence
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
])
def test_malformed_claims_are_named(raw, message):
    with pytest.raises(ClaimError, match="claim 1") as err:
        parse_claim({"paper": "p", **raw}, 1, CASES)
    assert message in str(err.value)


def test_claims_in_a_sweep_file_are_validated_with_the_file_named(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"cases": {"a": {}, "b": {}},
                                    "claims": [{"paper": "p", "test": "status", "case": "c", "equals": "ok"}]}))
    with pytest.raises(ReportError, match=r"s.yaml: claim 1 \(status\): case 'c' is not in 'cases'"):
        load_sweep(path)
    assert parse_claims(None, ["a"]) == []
    with pytest.raises(ClaimError, match="must be a list"):
        parse_claims({"paper": "p"}, ["a"])


@pytest.mark.parametrize("name", known_sweeps())
def test_every_ablation_states_the_papers_claims(name):
    sweep = load_sweep(name)                     # claims validated against the cases
    assert len(sweep.claims) >= 2
    for c in sweep.claims:
        assert "(" in c.paper and ("Sec." in c.paper or "Table" in c.paper or "App." in c.paper), c.paper


def test_sweep_runner_accepts_the_claims_key():
    from sweeps.sweepfile import load_sweep as runner_load
    assert runner_load("stopgrad").cases
