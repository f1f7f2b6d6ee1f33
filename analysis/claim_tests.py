"""The parts of every test but status (analysis.status_parts): a bound on a row's metric, a difference between rows
(plain or in the scale's own units), the steps of a trend, the pairs of a flat test. TESTS maps a test to them."""
from __future__ import annotations

import itertools
import math
from dataclasses import replace

from analysis import stats
from analysis.facts import Facts, NoData, finished, floor_per_seed, per_seed
from analysis.parts import GAIN_UNITS, Part, gain_ratio_part, interval_text, make_part, points_note, range_text
from analysis.status_parts import status_parts
from analysis.tables import format_value, metric_label
from analysis.verdict_words import REVERSED, WEAKER
from core.schema.claims import Claim


def scale_of(facts: Facts, claim: Claim, case: str) -> tuple[float, str]:
    """The factor a threshold is relative to, and how to write it."""
    if claim.relative_to == "chance":
        if facts.chance is None:
            raise NoData("chance accuracy unknown: no record states the data set's number of classes")
        return facts.chance, f"chance {facts.chance:g}"
    if claim.relative_to == "inv_sqrt_d":
        mine = finished(facts, case)
        dims = sorted({int(d) for d in mine["dim"].dropna()}) if "dim" in mine else []
        if len(dims) != 1:
            raise NoData(f"no single output dim d recorded for '{case}'")
        return 1 / math.sqrt(dims[0]), f"1/√{dims[0]}"
    return 1.0, ""


def threshold(facts: Facts, claim: Claim, case: str, value: float) -> tuple[float, str]:
    scale, name = scale_of(facts, claim, case)
    t = value * scale
    if claim.in_gain:
        return t, f"{t:g}"
    return t, (f"{value:g} × {name} = {format_value(t, claim.metric)}" if name else format_value(t, claim.metric))


def bound_parts(facts: Facts, claim: Claim) -> list[Part]:
    parts = []
    for case in claim.cases:
        values = per_seed(facts, case, claim.metric)
        if claim.in_gain:
            base, floor = per_seed(facts, claim.baseline, claim.metric), floor_per_seed(facts, claim.metric)
            est = gain_ratio_part(values, None, base, floor)
            what = f"'{case}' {metric_label(claim.metric)}, {GAIN_UNITS} ('{claim.baseline}')"
            note = points_note(facts, claim, {case: values, "untrained": floor, claim.baseline: base})
        else:
            est, what, note = stats.mean_se(list(values.values())), f"'{case}' {metric_label(claim.metric)}", ""
        if claim.test == "between":
            low, low_text = threshold(facts, claim, case, claim.low)
            high, high_text = threshold(facts, claim, case, claim.high)
            needs = f"{low_text} to {high_text}"
        elif claim.test == "below":
            (high, t_text), low = threshold(facts, claim, case, claim.value), -math.inf
            needs = f"< {t_text}"
        else:
            (low, t_text), high = threshold(facts, claim, case, claim.value), math.inf
            needs = f"> {t_text}"
        parts.append(make_part(facts, claim, what, est, low, high, "", needs, note))
    return parts


def difference_part(facts: Facts, claim: Claim, a: str, b: str, metric: str, other_metric: str,
                     factor: float, low: float, high: float) -> Part:
    va, vb = per_seed(facts, a, metric), per_seed(facts, b, other_metric)
    times = f"{factor:g} × " if factor != 1 else ""
    if a == b:
        what = f"'{a}': {metric_label(metric)} − {times}{metric_label(other_metric)}"
    elif metric == other_metric:
        what = f"'{a}' − {times}'{b}' {metric_label(metric)}"
    else:
        what = f"'{a}' {metric_label(metric)} − {times}'{b}' {metric_label(other_metric)}"
    if not claim.in_gain:
        part = make_part(facts, claim, what, stats.difference(va, vb, factor), low, high, "",
                         range_text(low, high, metric))
        return plain_order(facts, claim, part, stats.difference(va, vb)) if factor != 1 else part
    base, floor = per_seed(facts, claim.baseline, metric), floor_per_seed(facts, metric)
    est = gain_ratio_part(va, vb, base, floor, factor)
    points = stats.difference(va, vb, factor)
    points = points.at(facts.level_for(points.n))
    note = (f"in points: {interval_text(points, metric)}; "
            + points_note(facts, claim, {"untrained": floor, claim.baseline: base}))
    part = make_part(facts, claim, f"{what}, {GAIN_UNITS} ('{claim.baseline}')", est, low, high, "",
                 range_text(low, high, ""), note)
    return plain_order(facts, claim, part, gain_ratio_part(va, vb, base, floor)) if factor != 1 else part


def plain_order(facts: Facts, claim: Claim, part: Part, plain: stats.Estimate) -> Part:
    """A test with a factor (a more than twice b) that fails below its bound is REVERSED only when the plain
    order of the rows (a - b) is turned round at the claim's level, WEAKER when the plain order is the paper's at
    that level (its direction, short of its size), and neither when the plain difference holds 0."""
    if part.place != stats.OUTSIDE or part.est is None or part.est.high > part.bounds[0]:
        return part
    plain = plain.at(facts.level_for(plain.n))
    how = REVERSED if plain.high <= 0 else WEAKER if plain.low > 0 else ""
    note = (f"the plain difference (factor 1): {plain.value:.3g} [{plain.low:.3g}, {plain.high:.3g}]"
            + (": the order is not turned round" if how != REVERSED else ""))
    return replace(part, how=how, note="; ".join(x for x in (part.note, note) if x))


def exceeds_parts(facts: Facts, claim: Claim) -> list[Part]:
    return [difference_part(facts, claim, claim.cases[0], claim.other, claim.metric, claim.other_metric,
                             claim.factor, claim.margin, claim.at_most)]


def trend_parts(facts: Facts, claim: Claim) -> list[Part]:
    """Every step between consecutive cases in the claimed direction (a difference > 0)."""
    parts = []
    for a, b in zip(claim.cases, claim.cases[1:]):
        later, earlier = (b, a) if claim.direction == "increasing" else (a, b)
        parts.append(difference_part(facts, claim, later, earlier, claim.metric, claim.metric, 1.0, 0.0, math.inf))
    return parts


def flat_parts(facts: Facts, claim: Claim) -> list[Part]:
    """Every pair of cases within ±tolerance of each other."""
    return [difference_part(facts, claim, a, b, claim.metric, claim.metric, 1.0, -claim.tolerance, claim.tolerance)
            for a, b in itertools.combinations(claim.cases, 2)]


TESTS = {"below": bound_parts, "above": bound_parts, "between": bound_parts, "status": status_parts,
         "exceeds": exceeds_parts, "trend": trend_parts, "flat": flat_parts}
