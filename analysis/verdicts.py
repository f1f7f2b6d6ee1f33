"""Judge each claim of a sweep file (analysis.claims) on an aggregated table. Pure functions.

A verdict is one of VERDICTS and carries its evidence: the numbers it used and what they needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.claims import Claim
from analysis.runs import UNFINISHED
from analysis.tables import format_mean_std, format_value, metric_label

REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
NOT_TESTABLE, NO_DATA = "not testable at this scale", "no data yet"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE, NO_DATA)


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    verdict: str
    evidence: str


@dataclass
class Facts:
    """What a claim is judged on: one row per case (aggregate() with the claims' metrics), the
    runs behind it (one preset, duplicates resolved), the preset and the chance accuracy (%)."""
    table: pd.DataFrame
    runs: pd.DataFrame
    preset: str | None
    chance: float


class _NoData(Exception):
    pass


def _row(facts: Facts, case: str) -> pd.Series:
    rows = facts.table[facts.table["case"] == case]
    if rows.empty or int(rows["n"].iloc[0]) == 0:
        raise _NoData(f"no finished runs of '{case}'")
    return rows.iloc[0]


def _stat(facts: Facts, case: str, metric: str) -> tuple[float, float, int]:
    row = _row(facts, case)
    mean, n = row.get(f"{metric}_mean"), row.get(f"{metric}_n")
    if mean is None or pd.isna(mean) or not n:
        raise _NoData(f"no {metric_label(metric)} for '{case}'")
    std = row.get(f"{metric}_std")
    return float(mean), (math.nan if std is None or pd.isna(std) else float(std)), int(n)


def _show(facts: Facts, case: str, metric: str) -> str:
    mean, std, n = _stat(facts, case, metric)
    return f"{format_mean_std(mean, std, metric)} (n={n})"


def _scale(facts: Facts, claim: Claim, case: str) -> tuple[float, str]:
    """The factor a threshold is relative to, and how to write it."""
    if claim.relative_to == "chance":
        return facts.chance, f"chance {facts.chance:g}"
    if claim.relative_to == "inv_sqrt_d":
        mine = facts.runs[(facts.runs["case"] == case) & (facts.runs["status"] != UNFINISHED)]
        dims = sorted({int(d) for d in mine["dim"].dropna()}) if "dim" in mine else []
        if len(dims) != 1:
            raise _NoData(f"no single output dim d recorded for '{case}'")
        return 1 / math.sqrt(dims[0]), f"1/√{dims[0]}"
    return 1.0, ""


def _threshold(facts: Facts, claim: Claim, case: str, value: float) -> tuple[float, str]:
    scale, name = _scale(facts, claim, case)
    t = value * scale
    text = format_value(t, claim.metric)
    return t, (f"{value:g} × {name} = {text}" if name else text)


def _bounds(facts: Facts, claim: Claim) -> tuple[bool, str]:
    ok, parts = True, []
    for case in claim.cases:
        mean = _stat(facts, case, claim.metric)[0]
        if claim.test == "between":
            lo, lo_text = _threshold(facts, claim, case, claim.low)
            hi, hi_text = _threshold(facts, claim, case, claim.high)
            hit, need = lo <= mean <= hi, f"needs {lo_text} to {hi_text}"
        else:
            t, t_text = _threshold(facts, claim, case, claim.value)
            hit = mean < t if claim.test == "below" else mean > t
            need = f"needs {'<' if claim.test == 'below' else '>'} {t_text}"
        ok &= hit
        parts.append(f"'{case}' {metric_label(claim.metric)} {_show(facts, case, claim.metric)}; {need}")
    return ok, "; ".join(parts)


def _status(facts: Facts, claim: Claim) -> tuple[bool, str]:
    ok, parts = True, []
    for case in claim.cases:
        row = _row(facts, case)
        mine = facts.runs[(facts.runs["case"] == case) & (facts.runs["status"] != UNFINISHED)]
        ok &= all(s in claim.equals for s in mine["status"])
        parts.append(f"'{case}' status {row['status']} (n={int(row['n'])})")
    return ok, "; ".join(parts) + f"; needs every run {' or '.join(claim.equals)}"


def _exceeds(facts: Facts, claim: Claim) -> tuple[bool, str]:
    a, b = claim.cases[0], claim.other
    ma, sa, na = _stat(facts, a, claim.metric)
    mb, sb, nb = _stat(facts, b, claim.other_metric)
    diff = ma - claim.factor * mb
    var = sum(s * s / n for s, n in ((sa, na), (claim.factor * sb, nb)) if n > 1 and not math.isnan(s))
    seeds = na > 1 or nb > 1
    se2 = 2 * math.sqrt(var)
    ok = diff >= claim.margin and (not seeds or diff - se2 >= claim.margin)
    left = f"'{a}' {metric_label(claim.metric)} {_show(facts, a, claim.metric)}"
    right = (f"'{b}' " if b != a else "") + f"{metric_label(claim.other_metric)} {_show(facts, b, claim.other_metric)}"
    factor = f"{claim.factor:g} × " if claim.factor != 1 else ""
    text = f"{left} vs {factor}{right}: difference {format_value(diff, claim.metric)}"
    if seeds:
        text += f", 2 SE {format_value(se2, claim.metric)}"
    need = (f"needs difference − 2 SE ≥ {format_value(claim.margin, claim.metric)}" if seeds else
            f"needs difference ≥ {format_value(claim.margin, claim.metric)} (one seed each: no spread)")
    return ok, f"{text}; {need}"


def _series(facts: Facts, claim: Claim) -> tuple[list[float], str]:
    means = [_stat(facts, c, claim.metric)[0] for c in claim.cases]
    shown = ", ".join(f"{c}: {format_value(m, claim.metric)}" for c, m in zip(claim.cases, means))
    ns = sorted({_stat(facts, c, claim.metric)[2] for c in claim.cases})
    return means, f"{metric_label(claim.metric)} {shown} (n={'/'.join(map(str, ns))})"


def _trend(facts: Facts, claim: Claim) -> tuple[bool, str]:
    means, shown = _series(facts, claim)
    sign = 1 if claim.direction == "increasing" else -1
    back = max(0.0, *(sign * (p - q) for p, q in zip(means, means[1:])))
    overall = sign * (means[-1] - means[0])
    ok = back <= claim.tolerance and overall > 0
    return ok, (f"{shown}; largest step back {format_value(back, claim.metric)}, last − first "
                f"{format_value(means[-1] - means[0], claim.metric)}; needs {claim.direction} "
                f"(steps back ≤ {format_value(claim.tolerance, claim.metric)})")


def _flat(facts: Facts, claim: Claim) -> tuple[bool, str]:
    means, shown = _series(facts, claim)
    spread = max(means) - min(means)
    return spread <= claim.tolerance, (f"{shown}; range {format_value(spread, claim.metric)}; "
                                       f"needs ≤ {format_value(claim.tolerance, claim.metric)}")


TESTS = {"below": _bounds, "above": _bounds, "between": _bounds, "status": _status,
         "exceeds": _exceeds, "trend": _trend, "flat": _flat}


def judge(claim: Claim, facts: Facts) -> Verdict:
    try:
        ok, evidence = TESTS[claim.test](facts, claim)
        outcome = REPRODUCED if ok else NOT_REPRODUCED
    except _NoData as missing:
        ok, evidence, outcome = None, str(missing), NO_DATA
    if claim.testable_at and facts.preset not in claim.testable_at:
        ours = f"ours ({outcome}): {evidence}" if ok is not None else f"ours: {evidence}"
        return Verdict(claim, NOT_TESTABLE, f"{claim.reason} (testable at: {', '.join(claim.testable_at)}; "
                                            f"this preset: {facts.preset}). For the record, {ours}")
    return Verdict(claim, outcome, evidence)


def judge_all(claims: list[Claim], facts: Facts) -> list[Verdict]:
    return [judge(c, facts) for c in claims]


def verdict_counts(verdicts: list[Verdict]) -> dict[str, int]:
    return {v: sum(1 for x in verdicts if x.verdict == v) for v in VERDICTS}
