"""The sequential design's error rate, measured on the rule that ships (analysis.stats.look_level).

A simulated claim whose true effect sits exactly on its bound is a null: any decided verdict, reproduced or not
reproduced, is a false call. Its rows start with the sweep file's seeds; while it is inconclusive it gets the
seeds of the next look, up to the last (what `--until-decided` does); the family-wise false-call rate is the
share of nulls decided at any look. The common claim is an `exceeds` between two rows paired by seed.

Two simulations, one rule:
- `_outcomes` makes every look of many claims at once with numpy, each look at the level the verdicts ask
  (analysis.verdicts.Facts.level_for, which asks stats.look_level) and with `stats.decide`'s strict
  placement; the fast tests measure the rate and the power with it;
- `_shipped` takes one claim through the code the report and the runner run (analysis.verdicts.judge on a run
  table, analysis.sequential.plan_look for the seeds of the next look); the slow test checks that it makes the
  same call as `_outcomes` on the same draws, for the rule that ships and for the rule it replaced.
So the measured rate is the shipped path's, and a change of the levels changes the measured rate, which the
docs quote (docs/verdicts.md, sections 4 and 7) and this file checks.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from analysis import stats
from analysis.sequential import plan_look
from analysis.facts import Facts
from analysis.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, judge
from core.schema.claims import parse_claim
from tests.conftest import REPO

DOC = REPO / "docs" / "verdicts.md"
MARGIN, VALUE = 1.0, 70.0        # the exceeds claim's margin (points), the above claim's bound
SIMS = 20_000                    # the fast simulations: SE of a 5% rate sqrt(0.05 x 0.95 / 20000) = 0.15%
CALL = {REPRODUCED: 1, NOT_REPRODUCED: -1, INCONCLUSIVE: 0}
EXCEEDS = {"test": "exceeds", "case": "a", "other": "b", "metric": "linear_acc", "margin": MARGIN}
ABOVE = {"test": "above", "case": "a", "metric": "linear_acc", "value": VALUE}


def _old_level_for(facts: Facts, n: int) -> float:
    """Facts.level_for before issue 31: the sweep file's seeds at the level, each later look at Bonferroni over
    the three LOOKS."""
    return facts.level if n <= facts.declared else 1 - (1 - facts.level) / 3


@pytest.fixture
def old_rule(monkeypatch):
    """The verdicts judged by the rule issue 31 replaced."""
    monkeypatch.setattr(Facts, "level_for", _old_level_for)


def _draws(effect: float, sims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per simulated claim and seed (sims x the last look), the two rows' values: 'b' moves with the seed (its
    weights and augmentation, shared with 'a'), 'a' - 'b' is normal with sd 1 (one seed-SD) around MARGIN +
    effect. effect 0: the null, on the bound."""
    rng = np.random.default_rng(seed)
    b = 70.0 + rng.normal(0.0, 2.0, (sims, stats.LOOKS[-1]))
    return b + MARGIN + effect + rng.normal(0.0, 1.0, b.shape), b


def _outcomes(values: np.ndarray, bound: float, declared: int, level_at) -> np.ndarray:
    """Per simulated claim, +1 reproduced (mean > bound), -1 not reproduced, 0 still inconclusive at the last
    look: each look of stats.looks_from(declared) on the first n values, its t interval at level_at(n), placed
    as stats.decide places it (inside a strict bound, outside when it touches it); a decided claim gets no
    more seeds."""
    out = np.zeros(len(values), dtype=int)
    for n in stats.looks_from(declared):
        x = values[:, :n]
        mean, se = x.mean(axis=1), x.std(axis=1, ddof=1) / math.sqrt(n)
        half = stats.t_quantile(level_at(n), n - 1) * se
        call = np.where(mean - half > bound, 1, np.where(mean + half <= bound, -1, 0))
        out = np.where(out == 0, call, out)
    return out


def _levels(declared: int):
    """n -> the level the verdicts judge a look at n seeds at, for a sweep file that declares `declared` seeds."""
    return Facts(pd.DataFrame(), "cpu", 10.0, None, stats.LEVEL, declared).level_for


def _rate(hits: np.ndarray) -> tuple[float, float]:
    """A share and its Monte Carlo standard error sqrt(p (1 - p) / N)."""
    p = float(np.mean(hits))
    return p, math.sqrt(p * (1 - p) / len(hits))


def _pct(p: float) -> str:
    return f"{p:.1%}"


# ---- the levels ---------------------------------------------------------------------------------------------------

# The shipped design, pinned: the sweep file's seed count -> the looks that can happen and the level of every one.
SHIPPED = {3: ((3, 6, 10), 1 - 0.05 / 3), 6: ((6, 10), 1 - 0.05 / 2), 10: ((10,), 0.95)}


@pytest.mark.parametrize("declared,looks,level", [
    *((d, looks, level) for d, (looks, level) in SHIPPED.items()),
    (5, (5, 6, 10), 1 - 0.05 / 3),
    (12, (12,), 0.95),
])
def test_every_look_is_judged_at_the_bonferroni_level_over_the_looks_that_can_follow(declared, looks, level):
    assert stats.looks_from(declared) == looks
    assert stats.look_level(0.95, declared) == pytest.approx(level)
    assert stats.look_level(0.9, declared) == pytest.approx(1 - 0.1 / len(looks))
    for n in (1, *looks, 40):                          # the same level at every look: n does not move it
        assert _levels(declared)(n) == pytest.approx(level)


def test_the_docs_quote_the_shipped_levels():
    """docs/verdicts.md's table of levels is the one that ships, for 3, 6 and 10 declared seeds."""
    rows = re.findall(r"^\| (\d+) \| ([\d, ]+) \| ([\d.]+%) \|$", DOC.read_text(), re.M)
    quoted = {int(d): (tuple(int(n) for n in looks.split(", ")), level) for d, looks, level in rows}
    assert set(quoted) == set(SHIPPED)
    for declared, (looks, level) in SHIPPED.items():
        ships = stats.look_level(stats.LEVEL, declared)
        assert quoted[declared] == (looks, _pct(level).replace(".0%", "%")) == (stats.looks_from(declared),
                                                                              _pct(ships).replace(".0%", "%"))


# ---- the rate and the power (fast: the looks in numpy, at the shipped levels) ----------------------------------------

def _null_rate(declared: int) -> tuple[float, float]:
    """The family-wise false-call rate of SIMS null claims and its SE, at the levels the verdicts ask."""
    a, b = _draws(0.0, SIMS, seed=declared)
    return _rate(_outcomes(a - b, MARGIN, declared, _levels(declared)) != 0)


def _power() -> tuple[np.ndarray, float, float]:
    """Calls on SIMS claims one seed-SD beyond the bound (three declared seeds), the share reproduced and its SE."""
    a, b = _draws(1.0, SIMS, seed=4)
    calls = _outcomes(a - b, MARGIN, 3, _levels(3))
    return (calls, *_rate(calls == 1))


@pytest.mark.parametrize("declared", sorted(SHIPPED))
def test_the_shipped_rule_keeps_the_family_wise_false_call_rate_under_5_percent(declared):
    rate, se = _null_rate(declared)
    assert rate <= 1 - stats.LEVEL + 2 * se, f"{rate:.2%} ± {se:.2%}"
    if declared == 10:                                 # one look: the t interval's exact 5%
        assert abs(rate - (1 - stats.LEVEL)) < 3 * se


def test_the_rule_it_replaced_makes_more_false_calls_than_it_promised(old_rule):
    """95% at the sweep file's 3 seeds, then 98.3% at 6 and 10: the union bound is 8.3%, and it makes 7.2%."""
    rate, se = _null_rate(3)
    assert rate > 1 - stats.LEVEL + 2 * se, f"{rate:.2%} ± {se:.2%}"


def test_a_real_effect_is_mostly_found_and_almost_never_the_wrong_way(monkeypatch):
    calls, power, _ = _power()
    assert power > 0.5 and np.mean(calls == -1) < 0.001
    monkeypatch.setattr(Facts, "level_for", _old_level_for)
    assert power < _power()[1]                         # the price of the stricter first look


def _quoted() -> list[str]:
    def pm(p_se):
        return f"{_pct(p_se[0])} ± {_pct(p_se[1])}"
    _, power, power_se = _power()
    return [pm(_null_rate(3)), pm(_null_rate(6)), pm(_null_rate(10)), f"{power:.0%} ± {_pct(power_se)}"]


def test_the_docs_quote_the_measured_rates_and_power(monkeypatch):
    """docs/verdicts.md states the false-call rates (with their Monte Carlo SE) and the power as measured here,
    and those of the rule it replaced: a change of the levels changes them, and this fails until the docs say
    the new numbers."""
    quoted = _quoted()
    monkeypatch.setattr(Facts, "level_for", _old_level_for)
    quoted += [f"{_pct(_null_rate(3)[0])} ± {_pct(_null_rate(3)[1])}", f"{_power()[1]:.0%} under the old rule"]
    text = " ".join(DOC.read_text().split())
    assert [q for q in quoted if q not in text] == [], quoted


# ---- the shipped path (slow: the report's judge and the runner's plan_look, one claim at a time) ---------------------

def _table(values: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame([{"case": case, "seed": s, "status": "ok", "dim": 64, "linear_acc": float(v[s])}
                         for case, v in values.items() for s in range(len(v))])


def _shipped(claim, table: pd.DataFrame, declared: int) -> tuple[int, list[int]]:
    """One claim through the shipped path: judged on its rows' first `declared` seeds; while inconclusive, the
    seeds plan_look asks for are added from `table` and it is judged again. The call and the looks made."""
    have, looks = table[table["seed"] < declared], []
    while True:
        looks.append(int(have["seed"].nunique()))
        v = judge(claim, Facts(have, "cpu", 10.0, None, stats.LEVEL, declared))
        look = plan_look([v], have, max_seeds=stats.LOOKS[-1]) if v.verdict == INCONCLUSIVE else None
        if look is None or not look.seeds:
            return CALL[v.verdict], looks
        asked = {(c, s) for c, seeds in look.seeds.items() for s in seeds} | set(zip(have["case"], have["seed"]))
        have = table[[key in asked for key in zip(table["case"], table["seed"])]]


def _claim(raw):
    return parse_claim({"paper": "p (Sec. 0)", "reading": "r", **raw}, 1, ["a", "b"])


@pytest.mark.slow
@pytest.mark.parametrize("raw,effect,sims,old", [
    (EXCEEDS, 0.0, 400, False),          # the null, under the rule that ships
    (EXCEEDS, 0.0, 400, True),           # the null, under the rule it replaced: the simulation sees the change
    (EXCEEDS, 1.0, 150, False),          # a real effect
    (ABOVE, 0.0, 200, False),            # a one-row claim on its bound
])
def test_the_simulation_makes_the_calls_the_shipped_path_makes(raw, effect, sims, old, monkeypatch):
    """About 25 ms a claim on two cores: 1150 claims, under half a minute."""
    a, b = _draws(effect, sims, seed=11)
    if raw is ABOVE:
        a = a - b + VALUE - MARGIN                     # one row, normal with sd 1 around VALUE + effect
    values, bound = ((a - b, MARGIN) if raw is EXCEEDS else (a, VALUE))
    shipped = _outcomes(values, bound, 3, _levels(3))
    if old:
        monkeypatch.setattr(Facts, "level_for", _old_level_for)
    expected = _outcomes(values, bound, 3, _levels(3))
    assert old == (not np.array_equal(expected, shipped))
    claim, got = _claim(raw), []
    for i in range(sims):
        call, looks = _shipped(claim, _table({"a": a[i], "b": b[i]} if raw is EXCEEDS else {"a": a[i]}), 3)
        assert looks == list(stats.looks_from(3)[:len(looks)])      # the runner looks where the design says
        got.append(call)
    assert np.array_equal(np.array(got), expected)
