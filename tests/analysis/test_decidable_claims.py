"""Claims that can be decided, and words that mean what they say (issue 31): a claim its declared seeds cannot
decide is refused when its sweep file loads; a status read on z std is judged by how far its runs end from the
line (the spread rule), so three runs can decide it; the threshold-sensitivity flag can fire at three seeds;
'reversed' for a test with a factor reads the plain order of the rows; an undecided claim says which way it
leans. Fixture numbers, no torch."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from analysis.facts import Facts
from analysis.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, REVERSED, THRESHOLD_SENSITIVE, WEAKER, judge
from core.schema.claims import parse_claim
from core.schema.design import share_runs_needed, undecidable
from core.schema.sweep_format import SweepFileError, load_sweep

CASES = ["a", "b"]
DIM = 64
SQRT_D = math.sqrt(DIM)


def _claim(**raw):
    return parse_claim({"paper": "p (Sec. 0)", "reading": "r", **raw}, 1, CASES)


def _facts(rows: list[dict], declared: int = 3) -> Facts:
    return Facts(pd.DataFrame([{"dim": DIM, "loss_kind": "similarity/cosine", **r} for r in rows]), "cpu", 10.0,
                 declared=declared)


def _status_runs(case: str, z_over_line: list[float], status: str, loss: float = -0.9) -> list[dict]:
    """Runs whose z std x sqrt(d) is each of `z_over_line`."""
    return [{"case": case, "seed": s, "status": status, "z_std": z / SQRT_D, "loss": loss}
            for s, z in enumerate(z_over_line)]


# ---- refused at load time ------------------------------------------------------------------------------------------

def _sweep(tmp_path, claim: dict, seeds) -> object:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "seeds": seeds, "cases": {"a": {}, "b": {}},
                                    "claims": [{"id": "c", "paper": "p", "reading": "r", **claim}]}))
    return load_sweep(path)


def test_a_status_its_declared_seeds_cannot_decide_is_refused_when_the_file_loads(tmp_path):
    diverges = {"test": "status", "case": "a", "equals": "diverged"}
    with pytest.raises(SweepFileError, match=r"claim 'c' \(status\) cannot be decided .* it needs 6 seeds"):
        _sweep(tmp_path, diverges, [0, 1, 2])
    assert _sweep(tmp_path, diverges, [0, 1, 2, 3, 4, 5]).claims[0].id == "c"
    # the share rule on a status read on z std says where to go instead
    with pytest.raises(SweepFileError, match="can use 'rule: spread'"):
        _sweep(tmp_path, {"test": "status", "case": "a", "equals": "ok"}, [0, 1, 2])
    assert _sweep(tmp_path, {"test": "status", "case": "a", "equals": "ok", "rule": "spread"}, [0, 1, 2])
    # and any claim needs three seeds a row
    with pytest.raises(SweepFileError, match="at least 3 seeds a row; the file declares 1"):
        _sweep(tmp_path, {"test": "below", "case": "a", "metric": "loss", "value": -0.99}, [0])


def test_the_share_rules_seeds_follow_the_exact_bound():
    # all n matching: the one-sided Clopper-Pearson lower bound is (1 - level)^(1/n)
    for level in (0.95, 1 - 0.05 / 3, 0.975):
        n = share_runs_needed(level)
        assert (1 - level) ** (1 / n) > 0.5 >= (1 - level) ** (1 / (n - 1))
    assert share_runs_needed(0.95) == 5 and share_runs_needed(1 - 0.05 / 3) == 6
    assert undecidable(_claim(test="status", case="a", equals="diverged"), 6) == ""


# ---- the spread rule -----------------------------------------------------------------------------------------------

COLLAPSES = {"test": "status", "case": "a", "equals": "collapsed", "rule": "spread"}
WORKS = {"test": "status", "case": "a", "equals": "ok", "rule": "spread"}


def test_three_runs_far_from_the_line_decide_a_status():
    far_below = _facts(_status_runs("a", [0.010, 0.012, 0.011], "collapsed"))
    v = judge(_claim(**COLLAPSES), far_below)
    assert v.verdict == REPRODUCED and "needs < 0.1" in v.evidence and "3/3 runs collapsed" in v.evidence
    far_above = _facts(_status_runs("a", [0.95, 0.97, 0.99], "ok"))
    assert judge(_claim(**WORKS), far_above).verdict == REPRODUCED
    assert judge(_claim(**COLLAPSES), far_above).verdict == NOT_REPRODUCED
    # the share rule cannot decide the same runs at three seeds
    assert judge(_claim(**{**WORKS, "rule": "share"}), far_above).verdict == INCONCLUSIVE


def test_runs_that_straddle_the_line_leave_a_status_undecided():
    v = judge(_claim(**COLLAPSES), _facts(_status_runs("a", [0.05, 0.2, 0.08], "collapsed")))
    assert v.verdict == INCONCLUSIVE and v.seeds_needed is not None


def test_a_run_that_did_not_train_sends_the_status_to_the_share_rule():
    runs = _status_runs("a", [0.95, 0.97], "ok") + [{"case": "a", "seed": 2, "status": "diverged", "z_std": None,
                                                     "loss": None}]
    v = judge(_claim(**WORKS), _facts(runs))
    assert "share between" in v.evidence and v.verdict == INCONCLUSIVE


def test_the_threshold_sensitivity_flag_fires_at_three_seeds():
    # z std x sqrt(d) near 0.03: below every line drawn, so nothing moves
    v = judge(_claim(**COLLAPSES), _facts(_status_runs("a", [0.030, 0.031, 0.032], "collapsed", loss=-0.999)))
    assert v.verdict == REPRODUCED and not v.flags
    assert "z std < 0.05/√d: reproduced" in v.evidence
    # near 0.065: below the 0.1 line, but across the 0.05 line at three seeds: the verdict hangs on the line
    runs = _status_runs("a", [0.06, 0.065, 0.07], "collapsed", loss=-0.999)
    sensitive = judge(_claim(**COLLAPSES), _facts(runs))
    assert sensitive.verdict == REPRODUCED and "z std < 0.05/√d: inconclusive" in sensitive.evidence
    assert THRESHOLD_SENSITIVE in sensitive.flags


# ---- words ---------------------------------------------------------------------------------------------------------

JITTER = {"test": "exceeds", "case": "a", "other": "b", "metric": "loss_jitter", "factor": 2}


def _pairs(a: list[float], b: list[float], metric: str = "loss_jitter") -> Facts:
    rows = [{"case": "a", "seed": s, "status": "ok", metric: x} for s, x in enumerate(a)]
    rows += [{"case": "b", "seed": s, "status": "ok", metric: x} for s, x in enumerate(b)]
    return _facts(rows)


def test_a_factor_test_that_fails_on_its_factor_alone_is_weaker_not_reversed():
    # (a) is above (b) in every seed (the paper's order), but not twice (b): weaker than the paper
    v = judge(_claim(**JITTER), _pairs([1.30, 1.32, 1.31], [1.00, 1.01, 1.00]))
    assert v.verdict == NOT_REPRODUCED and v.how == WEAKER
    # Table 3(d)'s records: (a) - (b) holds 0, so the order is not turned round either: no kind
    v = judge(_claim(**JITTER), _pairs([1.001, 0.999, 1.0005], [1.0, 1.0, 1.0]))
    assert v.verdict == NOT_REPRODUCED and v.how == "" and "the order is not turned round" in v.evidence
    # (a) below (b): the order turned round
    v = judge(_claim(**JITTER), _pairs([0.80, 0.81, 0.80], [1.0, 1.01, 1.0]))
    assert v.verdict == NOT_REPRODUCED and v.how == REVERSED


def test_an_undecided_claim_says_which_way_it_leans():
    gap = {"test": "exceeds", "case": "a", "other": "b", "metric": "knn_acc", "margin": 5}
    above = judge(_claim(**gap), _pairs([70.0, 75.0, 72.0], [64.0, 65.0, 68.0], "knn_acc"))
    assert above.verdict == INCONCLUSIVE and above.lean == REPRODUCED
    below = judge(_claim(**gap), _pairs([70.0, 75.0, 72.0], [68.0, 70.0, 69.0], "knn_acc"))
    assert below.verdict == INCONCLUSIVE and below.lean == NOT_REPRODUCED
    assert judge(_claim(**gap), _pairs([80.0, 81.0, 80.5], [60.0, 61.0, 60.0], "knn_acc")).lean == ""
