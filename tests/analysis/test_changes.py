"""How a claim's numbers change between two sides of a comparison (analysis.changes): the same claim on two groups,
each in its scale's own units at the level its verdict read, and one word read from the interval of the change
("no measurable change" only from an equivalence test against a declared margin); where a collapse sits. And
the comparisons as data (analysis.comparisons, records/comparisons.yaml) end to end."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import stats
from analysis.changes import (AWAY, MIXED, NO_CHANGE, NO_MARGIN, NO_SPREAD, TOO_WIDE, TOWARD, ChangeRow, Side,
                              change_word, claim_words, compare, sites, toward_sign)
from analysis.facts import Facts
from analysis.verdicts import judge_all
from core.schema.claims import parse_claim

DIM = 512
Z = 1 / math.sqrt(DIM)
CASES = ["base", "nosg"]
SPREAD = {0: -1.0, 1: 0.0, 2: 1.0}


def test_independent_difference_is_welch():
    a, b = stats.mean_se([1.0, 2.0, 3.0]), stats.mean_se([5.0, 7.0, 9.0, 11.0])
    d = stats.independent_difference(a, b)
    assert d.value == pytest.approx(8.0 - 2.0)
    assert d.se == pytest.approx(math.sqrt(a.se ** 2 + b.se ** 2))
    assert d.df == pytest.approx(stats.welch_df(a.se, 3, b.se, 4))
    assert math.isnan(stats.independent_difference(stats.mean_se([1.0]), b).half_width)


@pytest.mark.parametrize("low,high,first,sign", [
    (0.75, math.inf, 0.0, 1), (-math.inf, -0.99, 0.0, -1), (0.75, 1.25, 0.2, 1), (0.75, 1.25, 1.5, -1),
    (-math.inf, math.inf, 0.0, 0), (-1.0, 1.0, 0.0, 0)])
def test_toward_is_the_side_the_claim_needs(low, high, first, sign):
    assert toward_sign(low, high, first) == sign


def _est(mean, sd=0.1, n=3):
    return stats.mean_se([mean + k * sd for k in (-1, 0, 1)][:n])


@pytest.mark.parametrize("first,last,sign,margin,word", [
    (_est(0.4), _est(1.0), 1, 0.1, TOWARD),        # a gap that grows where the claim needs a large gap
    (_est(0.4), _est(1.0), -1, 0.1, AWAY),         # ... where it needs a small one
    (_est(1.0), _est(0.4), 1, 0.1, AWAY),
    (_est(0.4, sd=1.0), _est(1.0, sd=1.0), 1, 0.1, TOO_WIDE),   # the same change inside the noise: cannot tell
    (_est(0.4, sd=0.01), _est(0.4, sd=0.01), 1, 0.1, NO_CHANGE),  # both sides tight and equal: within the margin
    (_est(0.4), _est(0.4), 1, 0.1, TOO_WIDE),      # a tie with a wide interval is not "no change"
    (_est(0.4), _est(0.4), 1, None, NO_MARGIN),    # ... and without a declared margin nothing says so
    (_est(0.4, n=1), _est(1.0), 1, 0.1, NO_SPREAD),
])
def test_the_word_reads_the_interval_of_the_change(first, last, sign, margin, word):
    assert change_word(first, last, sign, 0.95, margin).word == word


def test_no_change_is_an_equivalence_test_with_the_seeds_that_would_tell():
    wide = change_word(_est(0.4, sd=0.05), _est(0.41, sd=0.05), 1, 0.95, 0.1)
    assert wide.word == TOO_WIDE and wide.seeds is not None and wide.seeds > 3
    sd = 0.05
    tight = change_word(stats.mean_se([0.4 + k * sd for k in (-1, 0, 1) * (wide.seeds // 3 + 1)][:wide.seeds]),
                        stats.mean_se([0.41 + k * sd for k in (-1, 0, 1) * (wide.seeds // 3 + 1)][:wide.seeds]),
                        1, 0.95, 0.1)
    assert tight.word in (NO_CHANGE, TOO_WIDE)
    # a change as large as the margin can never be shown to be no change
    assert change_word(_est(0.4), _est(0.55), 1, 0.95, 0.1).seeds is None


def _rung(preset, base_acc, nosg_acc, floor_acc, nosg_z, base_bb=0.04, nosg_bb=0.04, sd=0.5, steps=390):
    """Per-seed runs of a two-row sweep plus its floor: accuracies with a small spread, z std in 1/sqrt(d)."""
    rows, floor = [], []
    for s, k in SPREAD.items():
        rows.append({"case": "base", "seed": s, "status": "ok", "dim": DIM, "step": steps,
                     "linear_acc": base_acc + k * sd, "z_std": 0.9 * Z, "backbone_std": base_bb})
        status = "collapsed" if nosg_z < 0.1 else "near-collapse" if nosg_z < 0.5 else "ok"
        rows.append({"case": "nosg", "seed": s, "status": status, "dim": DIM, "step": steps,
                     "linear_acc": nosg_acc + k * sd * 0.7, "z_std": nosg_z * Z * (1 + 0.1 * k),
                     "backbone_std": nosg_bb * (1 + 0.02 * k)})
        floor.append({"case": "random", "seed": s, "status": "ok", "linear_acc": floor_acc + 0.3 * k})
    return pd.DataFrame(rows), pd.DataFrame(floor)


MARGINS = {"gain": 0.1, "log z std × √d": 0.693, "backbone std ratio": 0.1}
GAP = {"test": "exceeds", "case": "base", "other": "nosg", "metric": "linear_acc", "relative_to": "gain",
       "baseline": "base", "margin": 0.75}
COLLAPSES = {"test": "status", "case": "nosg", "equals": "collapsed", "rule": "spread"}


def _judged(preset, runs, floor, claims):
    parsed = [parse_claim({"paper": "p (Sec. 0)", "reading": "r", **c}, i + 1, CASES) for i, c in enumerate(claims)]
    facts = Facts(runs, preset, 10.0, floor, 0.95, 3)
    return Side(preset, judge_all(parsed, facts), runs)


def test_a_gap_that_opens_with_scale_moves_toward_the_paper():
    # small rung: baseline 80, untrained 67, no stop-grad 75 -> gap 5/13 = 0.38 of the gain
    # large rung: baseline 85, untrained 60, no stop-grad 61 -> gap 24/25 = 0.96 of the gain
    small = _judged("cpu", *_rung("cpu", 80, 75, 67, 0.3), [GAP, COLLAPSES])
    large = _judged("cpu_full", *_rung("cpu_full", 85, 61, 60, 0.01, steps=2106), [GAP, COLLAPSES])
    rows = compare(small, large, MARGINS)
    assert [r.word for r in rows] == [TOWARD, TOWARD]
    gap, z = rows
    assert gap.cells[0].estimate.value == pytest.approx(5 / 13, abs=0.01)
    assert gap.cells[1].estimate.value == pytest.approx(24 / 25, abs=0.01)
    assert "z std" in z.what and z.cells[0].text.startswith(("0.3", "0.29"))
    assert z.cells[1].text.startswith(("0.01", "0.00997"))
    assert large.steps == 2106 and small.steps == 390
    assert [w for _, w in claim_words(rows)] == [TOWARD, TOWARD]


def test_a_collapse_that_goes_away_with_scale_moves_away_and_an_unchanged_one_does_not_move():
    small = _judged("cpu", *_rung("cpu", 80, 68, 67, 0.01), [COLLAPSES, GAP])
    large = _judged("cpu_full", *_rung("cpu_full", 80, 68, 67, 0.9), [COLLAPSES, GAP])
    z, gap = compare(small, large, MARGINS)
    assert z.word == AWAY
    # the gap is the same on both sides, and the seeds agree closely: the change lies within a tenth of the gain
    assert gap.word == NO_CHANGE


def test_a_claim_without_data_at_a_rung_is_left_out():
    small = _judged("cpu", *_rung("cpu", 80, 68, 67, 0.01), [COLLAPSES, GAP])
    runs, floor = _rung("cpu_full", 80, 68, 67, 0.9)
    large = _judged("cpu_full", runs, floor.iloc[0:0], [COLLAPSES, GAP])     # no floor: the gap has no data
    assert [r.what for r in compare(small, large, MARGINS)] == [compare(small, small, MARGINS)[0].what]


def test_parts_that_disagree_make_a_mixed_claim():
    claim = object()
    rows = [ChangeRow(claim, "a", (), "", TOWARD), ChangeRow(claim, "b", (), "", NO_CHANGE)]
    assert claim_words(rows) == [(claim, MIXED)]


def test_a_backbone_that_loses_its_spread_with_scale_moves_the_site_toward_the_paper():
    small = _judged("cpu", *_rung("cpu", 80, 75, 67, 0.01, nosg_bb=0.04), [COLLAPSES])
    large = _judged("cpu_full", *_rung("cpu_full", 85, 61, 60, 0.01, nosg_bb=0.004), [COLLAPSES])
    ref, site = sites([small, large], CASES, MARGINS)
    assert ref.case == ref.reference == "base" and ref.word == "-"
    assert ref.z_cells[0].text.startswith("0.9")             # the reference's own z std is shown
    assert site.case == "nosg" and site.reference == "base"
    assert site.cells[0].estimate.value == pytest.approx(1.0)
    assert site.cells[1].estimate.value == pytest.approx(0.1)
    assert site.word == TOWARD
    same = sites([small, small], CASES, MARGINS)[1]
    assert same.word in (NO_CHANGE, TOO_WIDE)


def _copy_tree(dst, preset, edit=None):
    """records/cpu's Fig. 2 and floor runs under `dst`, relabelled as preset `preset`; `edit(case, result)` may
    change a result."""
    import json
    import shutil
    from pathlib import Path
    for sweep in ("stopgrad", "random_network"):
        shutil.copytree(Path("records/cpu") / sweep, dst / sweep)
    for meta in dst.glob("*/*/meta.json"):
        m = json.loads(meta.read_text())
        m["preset"] = preset
        meta.write_text(json.dumps(m))
        res = meta.parent / "result.json"
        if edit is not None:
            r = json.loads(res.read_text())
            edit(m["case"], r)
            res.write_text(json.dumps(r))
    return dst


def test_the_index_sets_a_declared_comparison_beside_the_reported_tree(tmp_path):
    """A sibling tree of another preset where the run without stop-gradient beats the baseline by 15 points (a gap
    of about -1 gain, against 0.58 at cpu): the linear gap moves away from the paper. The comparison is one entry
    of a comparisons file, not code; without the file the index has no such section."""
    from analysis.comparisons import load_comparisons
    from analysis.writer import write_all

    def above_the_baseline(case, result):
        if case == "w/o stop-grad":
            result["linear_acc"] = 96.0
    main = _copy_tree(tmp_path / "main", "cpu")
    _copy_tree(tmp_path / "rung", "cpu_full", above_the_baseline)
    (tmp_path / "comparisons.yaml").write_text(
        "equivalence: {gain: 0.1}\ncomparisons:\n  - {name: scale, key: preset, noun: preset, base: main, "
        "trees: [rung], why: two rungs}\n")
    write_all(main, tmp_path / "out", declared=load_comparisons(tmp_path / "comparisons.yaml"))
    index = (tmp_path / "out" / "README.md").read_text()
    lines = index.split("## Across scale: main against rung")[1].splitlines()
    linear = next(line for line in lines if "linear acc" in line and "w/o stop-grad" in line)
    assert "| cpu (390 steps, lr 1.5): " in linear and "| cpu_full (390 steps, lr 1.5): " in linear
    assert linear.endswith(f"**{AWAY}** |"), linear
    write_all(main, tmp_path / "alone")
    assert "## Across" not in (tmp_path / "alone" / "README.md").read_text()


def test_a_comparisons_file_with_an_unknown_key_is_refused(tmp_path):
    from analysis.comparisons import load_comparisons
    from core.schema.checks import ConfigError
    (tmp_path / "c.yaml").write_text("comparisons:\n  - {name: x, key: preset, noun: p, base: a, trees: [b], why: w, "
                                    "tress: [c]}\n")
    with pytest.raises(ConfigError, match="unknown key 'tress' \\(did you mean 'trees'"):
        load_comparisons(tmp_path / "c.yaml")


def test_the_committed_comparisons_load_and_name_trees_that_exist():
    from analysis.comparisons import COMPARISONS, load_comparisons
    declared = load_comparisons(COMPARISONS)
    assert {c.key for c in declared.comparisons} >= {"optim.base_lr", "preset"}
    for c in declared.comparisons:
        assert declared.tree(c.base).is_dir(), c.base


def test_a_collapse_is_set_against_the_baseline_even_where_the_baseline_itself_degrades():
    small = _judged("cpu", *_rung("cpu", 80, 75, 67, 0.01), [COLLAPSES])
    runs, floor = _rung("cpu_full", 85, 61, 60, 0.01, nosg_bb=0.004)
    runs.loc[runs["case"] == "base", "status"] = "near-collapse"
    runs.loc[runs["case"] == "base", "z_std"] = 0.3 * Z
    ref, site = sites([small, _judged("cpu_full", runs, floor, [COLLAPSES])], CASES, MARGINS)
    assert ref.case == "base" and ref.z_cells[1].text.startswith("0.3")
    assert site.case == "nosg" and site.word == TOWARD
    healthy = _judged("cpu", *_rung("cpu", 80, 75, 67, 0.9), [COLLAPSES])
    assert sites([healthy, healthy], CASES, MARGINS) == []                 # nothing collapses: no table
