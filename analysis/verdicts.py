"""Judge each claim of a sweep file (core.claims) on the runs of one preset. Pure functions.

A verdict is one of VERDICTS and carries its evidence: per part of the test, the estimate with its
interval (analysis.stats: value +- 2 SE over seeds, paired by seed where the rows share seeds), what the
claim needs, and where the interval lies. A test with several parts (several cases, the steps of a trend,
the pairs of a flat test) is reproduced when every part is, not reproduced when any part lies outside what
it needs, and inconclusive otherwise: fewer than three seeds, or an interval across a bound.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import pandas as pd

from analysis import stats
from core.claims import Claim
from analysis.runs import UNFINISHED
from analysis.tables import format_value, metric_label

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_TESTABLE, NO_DATA = "not testable at this scale", "no data yet"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE, NO_DATA)
OUTCOME = {stats.INSIDE: REPRODUCED, stats.OUTSIDE: NOT_REPRODUCED, stats.ACROSS: INCONCLUSIVE,
           stats.TOO_FEW: INCONCLUSIVE}


@dataclass(frozen=True)
class Part:
    """One number a test reads and what it needed: 'w/o sg' loss, or '256' − '64' linear acc."""
    what: str
    estimate: str             # '-0.999 [-1.000, -0.998] (n=3)' or '1.9 [0.3, 3.5] (paired, n=3)'
    needs: str                # '< -0.990', '0 < · ≤ 4.0', 'every run collapsed'
    place: str                # stats.INSIDE | OUTSIDE | ACROSS | TOO_FEW

    @property
    def text(self) -> str:
        where = {stats.INSIDE: "meets it", stats.OUTSIDE: "fails it", stats.ACROSS: "across the bound",
                 stats.TOO_FEW: f"fewer than {stats.MIN_SEEDS} seeds"}[self.place]
        return f"{self.what} {self.estimate}; needs {self.needs}: {where}"


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    verdict: str
    evidence: str
    parts: tuple[Part, ...] = field(default=())


@dataclass
class Facts:
    """What claims are judged on: the finished and unfinished runs of one preset (duplicates resolved), one
    row each with case, seed, status, dim and the result metrics; the preset; the chance accuracy (%)."""
    runs: pd.DataFrame
    preset: str | None
    chance: float | None             # None: the data set's class count is not known


class _NoData(Exception):
    pass


def _finished(facts: Facts, case: str) -> pd.DataFrame:
    mine = facts.runs[(facts.runs["case"] == case) & (facts.runs["status"] != UNFINISHED)]
    if mine.empty:
        raise _NoData(f"no finished runs of '{case}'")
    return mine


def per_seed(facts: Facts, case: str, metric: str) -> dict:
    """{seed: value} of a case's finished runs that have the metric."""
    mine = _finished(facts, case)
    values = pd.to_numeric(mine[metric], errors="coerce") if metric in mine else pd.Series(dtype=float)
    out = {int(s): float(v) for s, v in zip(mine["seed"], values) if not pd.isna(v) and not pd.isna(s)}
    if not out:
        raise _NoData(f"no {metric_label(metric)} for '{case}'")
    return out


def _interval(est: stats.Estimate, metric: str) -> str:
    how = f"{'paired, ' if est.paired else ''}n={est.n}"
    if math.isnan(est.se):
        return f"{format_value(est.value, metric)} ({how}: no spread)"
    return (f"{format_value(est.value, metric)} [{format_value(est.low, metric)}, "
            f"{format_value(est.high, metric)}] ({how})")


def _range(low: float, high: float, metric: str) -> str:
    if math.isinf(high):
        return f"> {format_value(low, metric)}"
    if math.isinf(low):
        return f"< {format_value(high, metric)}"
    return f"{format_value(low, metric)} < · < {format_value(high, metric)}"


def _scale(facts: Facts, claim: Claim, case: str) -> tuple[float, str]:
    """The factor a threshold is relative to, and how to write it."""
    if claim.relative_to == "chance":
        if facts.chance is None:
            raise _NoData("chance accuracy unknown: no record states the data set's number of classes")
        return facts.chance, f"chance {facts.chance:g}"
    if claim.relative_to == "inv_sqrt_d":
        mine = _finished(facts, case)
        dims = sorted({int(d) for d in mine["dim"].dropna()}) if "dim" in mine else []
        if len(dims) != 1:
            raise _NoData(f"no single output dim d recorded for '{case}'")
        return 1 / math.sqrt(dims[0]), f"1/√{dims[0]}"
    return 1.0, ""


def _threshold(facts: Facts, claim: Claim, case: str, value: float) -> tuple[float, str]:
    scale, name = _scale(facts, claim, case)
    t = value * scale
    return t, (f"{value:g} × {name} = {format_value(t, claim.metric)}" if name else format_value(t, claim.metric))


def _bounds(facts: Facts, claim: Claim) -> list[Part]:
    parts = []
    for case in claim.cases:
        est = stats.mean_se(list(per_seed(facts, case, claim.metric).values()))
        if claim.test == "between":
            low, low_text = _threshold(facts, claim, case, claim.low)
            high, high_text = _threshold(facts, claim, case, claim.high)
            needs = f"{low_text} to {high_text}"
        elif claim.test == "below":
            (high, t_text), low = _threshold(facts, claim, case, claim.value), -math.inf
            needs = f"< {t_text}"
        else:
            (low, t_text), high = _threshold(facts, claim, case, claim.value), math.inf
            needs = f"> {t_text}"
        parts.append(Part(f"'{case}' {metric_label(claim.metric)}", _interval(est, claim.metric), needs,
                          stats.decide(est, low, high)))
    return parts


def _status(facts: Facts, claim: Claim) -> list[Part]:
    parts = []
    for case in claim.cases:
        statuses = list(_finished(facts, case)["status"])
        hits = sum(s in claim.equals for s in statuses)
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
        place = (stats.OUTSIDE if hits < len(statuses) else
                 stats.TOO_FEW if len(statuses) < stats.MIN_SEEDS else stats.INSIDE)
        parts.append(Part(f"'{case}' status", f"{counts} (n={len(statuses)})",
                          f"every run {' or '.join(claim.equals)}", place))
    return parts


def _difference_part(facts: Facts, claim: Claim, a: str, b: str, metric: str, other_metric: str,
                     factor: float, low: float, high: float) -> Part:
    est = stats.difference(per_seed(facts, a, metric), per_seed(facts, b, other_metric), factor)
    times = f"{factor:g} × " if factor != 1 else ""
    if a == b:
        what = f"'{a}': {metric_label(metric)} − {times}{metric_label(other_metric)}"
    elif metric == other_metric:
        what = f"'{a}' − {times}'{b}' {metric_label(metric)}"
    else:
        what = f"'{a}' {metric_label(metric)} − {times}'{b}' {metric_label(other_metric)}"
    return Part(what, _interval(est, metric), _range(low, high, metric), stats.decide(est, low, high))


def _exceeds(facts: Facts, claim: Claim) -> list[Part]:
    return [_difference_part(facts, claim, claim.cases[0], claim.other, claim.metric, claim.other_metric,
                             claim.factor, claim.margin, claim.at_most)]


def _trend(facts: Facts, claim: Claim) -> list[Part]:
    """Every step between consecutive cases in the claimed direction (a difference > 0)."""
    parts = []
    for a, b in zip(claim.cases, claim.cases[1:]):
        later, earlier = (b, a) if claim.direction == "increasing" else (a, b)
        parts.append(_difference_part(facts, claim, later, earlier, claim.metric, claim.metric, 1.0, 0.0, math.inf))
    return parts


def _flat(facts: Facts, claim: Claim) -> list[Part]:
    """Every pair of cases within ±tolerance of each other."""
    return [_difference_part(facts, claim, a, b, claim.metric, claim.metric, 1.0, -claim.tolerance, claim.tolerance)
            for a, b in itertools.combinations(claim.cases, 2)]


TESTS = {"below": _bounds, "above": _bounds, "between": _bounds, "status": _status,
         "exceeds": _exceeds, "trend": _trend, "flat": _flat}


def combine(places: list[str]) -> str:
    """Reproduced when every part meets its need; not reproduced when any part fails; else inconclusive."""
    if any(p == stats.OUTSIDE for p in places):
        return NOT_REPRODUCED
    if places and all(p == stats.INSIDE for p in places):
        return REPRODUCED
    return INCONCLUSIVE


def judge(claim: Claim, facts: Facts) -> Verdict:
    try:
        parts = tuple(TESTS[claim.test](facts, claim))
        outcome, evidence = combine([p.place for p in parts]), "; ".join(p.text for p in parts)
    except _NoData as missing:
        parts, outcome, evidence = (), NO_DATA, str(missing)
    if claim.testable_at and facts.preset not in claim.testable_at:
        ours = f"ours ({outcome}): {evidence}" if parts else f"ours: {evidence}"
        return Verdict(claim, NOT_TESTABLE, f"{claim.reason} (testable at: {', '.join(claim.testable_at)}; "
                                            f"this preset: {facts.preset}). For the record, {ours}", parts)
    return Verdict(claim, outcome, evidence, parts)


def judge_all(claims: list[Claim], facts: Facts) -> list[Verdict]:
    return [judge(c, facts) for c in claims]


def verdict_counts(verdicts: list[Verdict]) -> dict[str, int]:
    return {v: sum(1 for x in verdicts if x.verdict == v) for v in VERDICTS}
