"""Judge each claim of a sweep file (core.schema.claims) on the runs of one group. Pure functions.

A verdict is one of VERDICTS and carries its evidence: per part of the test, the estimate with its
interval (analysis.stats: a Student t interval at the verdict's level, paired by seed where the rows share
seeds), what the claim needs, and where the interval lies. A test with several parts (several cases, the
steps of a trend, the pairs of a flat test, a status and its floor) is reproduced when every part is, not
reproduced when any part lies outside what it needs, and inconclusive otherwise: fewer than three seeds, or
an interval across a bound.

A "not reproduced" says how it failed (`Verdict.how`): REVERSED when every failing part lies on the far
side of the claim's reference (the paper's order turned round), WEAKER when every failing part lies
between the reference and the bound (the paper's direction, short of its size); neither when the parts
disagree or the test has no direction (status, flat, between). A status claim whose verdict changes with
the collapse line (analysis.collapse_lines) is flagged THRESHOLD_SENSITIVE.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from analysis import collapse_lines, stats
from analysis.runs import UNFINISHED
from analysis.tables import format_value, metric_label
from core.schema.claims import Claim
from core.schema.design import undecidable
from core.schema.record import TRAINED

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_TESTABLE, NO_DATA = "not testable at this scale", "no data yet"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE, NO_DATA)
REVERSED, WEAKER = "reversed", "weaker than the paper"
THRESHOLD_SENSITIVE = "threshold-sensitive"
OUTCOME = {stats.INSIDE: REPRODUCED, stats.OUTSIDE: NOT_REPRODUCED, stats.ACROSS: INCONCLUSIVE,
           stats.TOO_FEW: INCONCLUSIVE}



@dataclass(frozen=True)
class Part:
    """One number a test reads and what it needed: 'w/o sg' loss, or '256' − '64' linear acc."""
    what: str
    estimate: str             # '-0.999 [-1.000, -0.998] (n=3, 95%)' or '1.9 [0.3, 3.5] (paired, n=3, 95%)'
    needs: str                # '< -0.990', '0 < · ≤ 4.0', 'more than half of the runs collapsed'
    place: str                # stats.INSIDE | OUTSIDE | ACROSS | TOO_FEW
    how: str = ""             # REVERSED | WEAKER | "" (only for OUTSIDE)
    note: str = ""            # more evidence: the points behind a gain, the sensitivity of a status
    seeds_needed: int | None = None   # ACROSS, TOO_FEW: the seeds a decision would need at the observed spread
    est: stats.Estimate | None = None  # the number behind `estimate`, at the part's level (None for a status)
    bounds: tuple[float, float] = (-math.inf, math.inf)   # the open range (low, high) `needs` writes
    share: float | None = None        # a part judged by the share rule: the share of runs that end as it needs
    spread: bool = True       # False: fewer than two seeds, no spread to extrapolate seeds_needed from

    @property
    def leans(self) -> bool | None:
        """Whether the point estimate meets what the part needs (True), misses it (False), or says neither."""
        if self.est is not None:
            return self.bounds[0] < self.est.value < self.bounds[1]
        if self.share is not None and self.share != stats.MAJORITY:
            return self.share > stats.MAJORITY
        return None

    @property
    def text(self) -> str:
        where = {stats.INSIDE: "meets it", stats.OUTSIDE: "fails it", stats.ACROSS: "across the bound",
                 stats.TOO_FEW: f"fewer than {stats.MIN_SEEDS} seeds"}[self.place]
        if self.how:
            where += f" ({self.how})"
        extra = f"; {self.note}" if self.note else ""
        return f"{self.what} {self.estimate}; needs {self.needs}: {where}{extra}"


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    verdict: str
    evidence: str
    parts: tuple[Part, ...] = field(default=())
    how: str = ""                       # for NOT_REPRODUCED: REVERSED, WEAKER or ""
    flags: tuple[str, ...] = ()         # THRESHOLD_SENSITIVE
    run_ids: frozenset = frozenset()    # the runs it read, copies resolved to their origin
    seeds_needed: int | None = None     # INCONCLUSIVE: seeds per row a decision would need (None: unknown)
    lean: str = ""                      # INCONCLUSIVE: REPRODUCED or NOT_REPRODUCED, where the point estimates sit
    undecidable: str = ""               # why the claim's declared seeds could never decide it (core.schema.design)
    stages: tuple = ()                  # an amended claim: analysis.registered.Judged per form, registered first

    @property
    def word(self) -> str:
        """The verdict as the pages print it: 'not reproduced (reversed)', 'reproduced', ..."""
        return f"{self.verdict} ({self.how})" if self.how else self.verdict

    @property
    def without_spread(self) -> bool:
        """Some part read fewer than two seeds: there is no spread yet, and no seeds-needed figure."""
        return any(not p.spread for p in self.parts)


@dataclass
class Facts:
    """What claims are judged on: the finished and unfinished runs of one group (duplicates resolved), one row
    each with case, seed, status, dim and the result metrics; the preset; the chance accuracy (%); the
    untrained network's finished runs at this preset (the floor of `relative_to: gain`); the interval's
    level and the sweep file's own seed count (stats.look_level)."""
    runs: pd.DataFrame
    preset: str | None
    chance: float | None             # None: the data set's class count is not known
    floor: pd.DataFrame | None = None
    level: float = stats.LEVEL
    declared: int = stats.LOOKS[0]

    def level_for(self, n: int) -> float:
        """The level a claim with n seeds is judged at: the sequential design's (stats.look_level), the same at
        every look of a claim, so n does not move it."""
        return stats.look_level(self.level, self.declared)


class _NoData(Exception):
    pass


def _finished(facts: Facts, case: str) -> pd.DataFrame:
    mine = facts.runs[(facts.runs["case"] == case) & (facts.runs["status"] != UNFINISHED)]
    if mine.empty:
        raise _NoData(f"no finished runs of '{case}'")
    return mine


def _values(runs: pd.DataFrame, metric: str) -> dict:
    values = pd.to_numeric(runs[metric], errors="coerce") if metric in runs else pd.Series(dtype=float)
    return {int(s): float(v) for s, v in zip(runs["seed"], values) if not pd.isna(v) and not pd.isna(s)}


def per_seed(facts: Facts, case: str, metric: str) -> dict:
    """{seed: value} of a case's finished runs that have the metric."""
    out = _values(_finished(facts, case), metric)
    if not out:
        raise _NoData(f"no {metric_label(metric)} for '{case}'")
    return out


def floor_per_seed(facts: Facts, metric: str) -> dict:
    """{seed: value} of the untrained network at this preset (the floor of the scale's own units)."""
    runs = facts.floor
    out = _values(runs[runs["status"] != UNFINISHED], metric) if runs is not None and len(runs) else {}
    if not out:
        raise _NoData(f"no untrained-network floor for {metric_label(metric)} at preset {facts.preset}: run "
                      f"python -m sweeps.run random_network --preset {facts.preset} (the same seeds)")
    return out


def _interval(est: stats.Estimate, metric: str) -> str:
    how = f"{'paired, ' if est.paired else ''}n={est.n}"
    if math.isnan(est.half_width):
        return f"{format_value(est.value, metric)} ({how}: no spread)"
    return (f"{format_value(est.value, metric)} [{format_value(est.low, metric)}, "
            f"{format_value(est.high, metric)}] ({how}, {est.level:.1%})".replace(".0%)", "%)"))


def _gain_interval(est: stats.Estimate) -> str:
    how = f"paired, n={est.n}"
    if math.isnan(est.half_width):
        return f"{est.value:.2f} ({how}: no spread)"
    return f"{est.value:.2f} [{est.low:.2f}, {est.high:.2f}] ({how}, {est.level:.1%})".replace(".0%)", "%)")


def _range(low: float, high: float, metric: str) -> str:
    fmt = (lambda v: f"{v:g}") if metric == "" else (lambda v: format_value(v, metric))
    if math.isinf(high):
        return f"> {fmt(low)}"
    if math.isinf(low):
        return f"< {fmt(high)}"
    return f"{fmt(low)} < · < {fmt(high)}"


def _how(claim: Claim, est: stats.Estimate, low: float, high: float) -> str:
    """REVERSED or WEAKER for an interval outside (low, high), read against the claim's reference."""
    ref = claim.reference_level()
    if ref is None:
        return ""
    if est.high <= low and ref <= low:            # the claim needs more than `low`
        return REVERSED if est.high <= ref else WEAKER if est.low > ref else ""
    if est.low >= high and ref >= high and math.isinf(low):   # the claim needs less than `high`
        return REVERSED if est.low >= ref else WEAKER if est.high < ref else ""
    return ""


def _seeds_needed(facts: Facts, est: stats.Estimate, low: float, high: float) -> int | None:
    """The seeds a row would need for this part to be decided at the observed spread, each count judged at
    the level it would be judged at; None without a spread (fewer than two seeds: never extrapolated) or
    beyond stats.MOST_SEEDS. An interval that clears every bound with too few seeds needs MIN_SEEDS."""
    if not _has_spread(est):
        return None
    bounds = [b for b in (low, high) if not math.isinf(b) and est.low < b < est.high]
    if not bounds:
        return stats.MIN_SEEDS if est.n < stats.MIN_SEEDS else None
    needs = [stats.seeds_needed(est, b, facts.level_for) for b in bounds]
    return None if None in needs else max(needs)


def _has_spread(est: stats.Estimate) -> bool:
    return est.n >= 2 and not math.isnan(est.se)


def _part(facts: Facts, claim: Claim, what: str, est: stats.Estimate, low: float, high: float, estimate: str,
          needs: str, note: str = "") -> Part:
    est = est.at(facts.level_for(est.n))
    place = stats.decide(est, low, high)
    estimate = estimate or (_gain_interval(est) if claim.in_gain else _interval(est, claim.metric))
    return Part(what, estimate, needs, place, _how(claim, est, low, high) if place == stats.OUTSIDE else "",
                note, _seeds_needed(facts, est, low, high) if place in (stats.ACROSS, stats.TOO_FEW) else None,
                est, (low, high), spread=_has_spread(est))


def _gain_ratio(a: dict, b: dict | None, baseline: dict, floor: dict, factor: float = 1.0) -> stats.Estimate:
    try:
        return stats.gain_ratio(a, b, baseline, floor, factor)
    except ValueError:
        raise _NoData("no seed shared by the rows, their baseline and the untrained network (the floor), or no "
                      "baseline above its floor") from None


GAIN_UNITS = "in units of the baseline's gain over the untrained network"


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
    if claim.in_gain:
        return t, f"{t:g}"
    return t, (f"{value:g} × {name} = {format_value(t, claim.metric)}" if name else format_value(t, claim.metric))


def _points_note(facts: Facts, claim: Claim, rows: dict[str, dict]) -> str:
    """The points behind a gain: each row's mean, the floor's and the baseline's."""
    cells = [f"'{name}' {format_value(sum(v.values()) / len(v), claim.metric)}" for name, v in rows.items()]
    return f"in points ({metric_label(claim.metric)}): " + ", ".join(cells)


def _bounds(facts: Facts, claim: Claim) -> list[Part]:
    parts = []
    for case in claim.cases:
        values = per_seed(facts, case, claim.metric)
        if claim.in_gain:
            base, floor = per_seed(facts, claim.baseline, claim.metric), floor_per_seed(facts, claim.metric)
            est = _gain_ratio(values, None, base, floor)
            what = f"'{case}' {metric_label(claim.metric)}, {GAIN_UNITS} ('{claim.baseline}')"
            note = _points_note(facts, claim, {case: values, "untrained": floor, claim.baseline: base})
        else:
            est, what, note = stats.mean_se(list(values.values())), f"'{case}' {metric_label(claim.metric)}", ""
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
        parts.append(_part(facts, claim, what, est, low, high, "", needs, note))
    return parts


def _sensitivity(facts: Facts, runs: pd.DataFrame, equals: tuple[str, ...], main: str) -> tuple[str, bool]:
    """The share rule's verdict under each collapse line and the loss test, and whether any differs from `main`."""
    cells, flips = [], False
    for line in (*collapse_lines.LINES, None):
        hits = collapse_lines.matches(runs, equals, line)
        if hits is None:
            continue
        place = stats.decide_rate(sum(hits), len(hits), facts.level_for(len(hits)))
        cells.append(f"{collapse_lines.line_name(line)}: {sum(hits)}/{len(hits)} {OUTCOME[place]}")
        flips |= OUTCOME[place] != main
    return ("under other collapse lines: " + ", ".join(cells)) if cells else "", flips


def _spread_sensitivity(facts: Facts, runs: pd.DataFrame, status: str, main: str) -> tuple[str, bool]:
    """The spread rule's verdict with the line drawn elsewhere (z std below t/sqrt(d) for each t of LINES) and
    under the loss test (log(1 + loss) against log 0.01), and whether any differs from `main`."""
    cells, flips = [], False
    logs, gaps = collapse_lines.log_spread(runs), collapse_lines.log_loss_gap(runs)
    for line, values in [*((t, logs) for t in collapse_lines.LINES), (None, gaps)]:
        if values is None or len(values) < 2:
            continue
        bound = math.log(line if line is not None else 1 + collapse_lines.LOSS_LINE)
        est = stats.mean_se(values).at(facts.level_for(len(values)))
        place = stats.decide(est, -math.inf, bound) if status == "collapsed" else stats.decide(est, bound, math.inf)
        cells.append(f"{collapse_lines.line_name(line)}: {OUTCOME[place]}")
        flips |= OUTCOME[place] != main
    return ("with the line drawn elsewhere: " + ", ".join(cells)) if cells else "", flips


def _share_part(facts: Facts, claim: Claim, case: str, runs: pd.DataFrame) -> Part:
    """The share rule: the share of runs that end in `equals`, its exact one-sided bounds against one half."""
    statuses = list(runs["status"])
    k, n = sum(s in claim.equals for s in statuses), len(statuses)
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    level = facts.level_for(n)
    place = stats.decide_rate(k, n, level)
    low, high = stats.rate_bounds(k, n, level)
    note, flips = _sensitivity(facts, runs, claim.equals, OUTCOME[place])
    if flips:
        note += f" ({THRESHOLD_SENSITIVE})"
    needed = stats.rate_seeds_needed(k, n, facts.level_for(n + 1)) \
        if place in (stats.ACROSS, stats.TOO_FEW) and n >= 2 else None
    return Part(f"'{case}' status", f"{counts}: {k}/{n} {' or '.join(claim.equals)}, share "
                f"between {low:.2f} and {high:.2f} (one-sided bounds, {level:.1%} each)".replace(".0%", "%"),
                f"more than half of the runs {' or '.join(claim.equals)}", place, note=note, seeds_needed=needed,
                share=k / n, spread=n >= 2)


def _spread_part(facts: Facts, claim: Claim, case: str, runs: pd.DataFrame) -> Part | None:
    """The spread rule: the mean over runs of log(z std x sqrt(d)) with its t interval against the status's line,
    log(collapse_frac) for `collapsed` (the interval below it) or log(near_collapse_frac) for `ok` (above it);
    the typical run, read from how far each run ends from the line. The share rule's count rides along as a
    check. None where a run did not train to its end or lacks z std (the share rule judges it)."""
    status = claim.equals[0]
    logs = collapse_lines.log_spread(runs)
    if logs is None or any(s not in TRAINED for s in runs["status"]):
        return None
    line = collapse_lines.status_line(runs, status)
    low, high = (-math.inf, math.log(line)) if status == "collapsed" else (math.log(line), math.inf)
    est = stats.mean_se(logs).at(facts.level_for(len(logs)))
    place = stats.decide(est, low, high)
    if math.isnan(est.half_width):
        estimate = f"{math.exp(est.value):.3g} (n={est.n}: no spread)"
    else:
        estimate = (f"{math.exp(est.value):.3g} [{math.exp(est.low):.3g}, {math.exp(est.high):.3g}] "
                    f"(n={est.n}, {est.level:.1%})").replace(".0%)", "%)")
    k = sum(s in claim.equals for s in runs["status"])
    note, flips = _spread_sensitivity(facts, runs, status, OUTCOME[place])
    note = f"{k}/{len(logs)} runs {status} (the share rule's count, a check); " + note
    if flips:
        note += f" ({THRESHOLD_SENSITIVE})"
    where = "below" if status == "collapsed" else "at or above"
    return Part(f"'{case}' z std × √d, geometric mean over runs", estimate,
                f"{'<' if status == 'collapsed' else '>'} {line:g} (the typical run ends {where} the line of "
                f"'{status}')", place, note=note,
                seeds_needed=_seeds_needed(facts, est, low, high) if place in (stats.ACROSS, stats.TOO_FEW) else None,
                est=est, bounds=(low, high), spread=_has_spread(est))


def _status(facts: Facts, claim: Claim) -> list[Part]:
    parts = []
    for case in claim.cases:
        runs = _finished(facts, case)
        spread = _spread_part(facts, claim, case, runs) if claim.rule == "spread" else None
        parts.append(spread or _share_part(facts, claim, case, runs))
    if claim.floor_margin is not None:
        parts += _beats_floor(facts, claim)
    return parts


def _beats_floor(facts: Facts, claim: Claim) -> list[Part]:
    """A "works" claim's second half: each case keeps more than floor_margin of the baseline's gain over the
    untrained network (the baseline itself: beats the network, in points)."""
    floor, parts = floor_per_seed(facts, claim.metric), []
    base = per_seed(facts, claim.baseline, claim.metric)
    for case in claim.cases:
        values = per_seed(facts, case, claim.metric)
        if case == claim.baseline:
            est = stats.difference(values, floor)
            plain = replace(claim, relative_to="", test="exceeds")
            parts.append(_part(facts, plain, f"'{case}' − untrained {metric_label(claim.metric)}", est, 0.0,
                               math.inf, "", "> 0"))
            continue
        est = _gain_ratio(values, None, base, floor)
        gain = replace(claim, relative_to="gain", test="above")
        parts.append(_part(facts, gain, f"'{case}' {metric_label(claim.metric)}, {GAIN_UNITS} ('{claim.baseline}')",
                           est, claim.floor_margin, math.inf, "", f"> {claim.floor_margin:g}",
                           _points_note(facts, claim, {case: values, "untrained": floor, claim.baseline: base})))
    return parts


def _difference_part(facts: Facts, claim: Claim, a: str, b: str, metric: str, other_metric: str,
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
        part = _part(facts, claim, what, stats.difference(va, vb, factor), low, high, "", _range(low, high, metric))
        return _plain_order(facts, claim, part, stats.difference(va, vb)) if factor != 1 else part
    base, floor = per_seed(facts, claim.baseline, metric), floor_per_seed(facts, metric)
    est = _gain_ratio(va, vb, base, floor, factor)
    points = stats.difference(va, vb, factor)
    points = points.at(facts.level_for(points.n))
    note = (f"in points: {_interval(points, metric)}; "
            + _points_note(facts, claim, {"untrained": floor, claim.baseline: base}))
    part = _part(facts, claim, f"{what}, {GAIN_UNITS} ('{claim.baseline}')", est, low, high, "",
                 _range(low, high, ""), note)
    return _plain_order(facts, claim, part, _gain_ratio(va, vb, base, floor)) if factor != 1 else part


def _plain_order(facts: Facts, claim: Claim, part: Part, plain: stats.Estimate) -> Part:
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


def failure_kind(parts) -> str:
    """REVERSED or WEAKER when every failing part says so, else ''."""
    kinds = {p.how for p in parts if p.place == stats.OUTSIDE}
    return kinds.pop() if len(kinds) == 1 and "" not in kinds else ""


def _run_ids(facts: Facts, claim: Claim) -> frozenset:
    """The runs a claim reads as '<sweep>/<run dir>', each copy named by its origin (sweeps.twins), so that
    two claims on the same runs are seen to be one."""
    names = set(claim.cases) | ({claim.other} if claim.other else set()) | ({claim.baseline} if claim.baseline
                                                                            else set())
    mine = facts.runs[facts.runs["case"].isin(names) & (facts.runs["status"] != UNFINISHED)]
    out = set()
    for _, r in mine.iterrows():
        origin = r.get("copied_from")
        if isinstance(origin, str) and origin:
            out.add(origin)
        elif isinstance(r.get("path"), str):
            out.add(f"{Path(r['path']).parent.name}/{Path(r['path']).name}")
    return frozenset(out)


def judge(claim: Claim, facts: Facts) -> Verdict:
    try:
        parts = tuple(TESTS[claim.test](facts, claim))
        outcome, evidence = combine([p.place for p in parts]), "; ".join(p.text for p in parts)
    except _NoData as missing:
        parts, outcome, evidence = (), NO_DATA, str(missing)
    how = failure_kind(parts) if outcome == NOT_REPRODUCED else ""
    flags = (THRESHOLD_SENSITIVE,) if any(THRESHOLD_SENSITIVE in p.note for p in parts) else ()
    needed = [p.seeds_needed for p in parts if p.place in (stats.ACROSS, stats.TOO_FEW)]
    seeds = max(needed) if needed and None not in needed else None
    ids = _run_ids(facts, claim) if len(facts.runs) and "path" in facts.runs else frozenset()
    if claim.testable_at and facts.preset not in claim.testable_at:
        ours = f"ours ({outcome}): {evidence}" if parts else f"ours: {evidence}"
        return Verdict(claim, NOT_TESTABLE, f"{claim.reason} (testable at: {', '.join(claim.testable_at)}; "
                                            f"this preset: {facts.preset}). For the record, {ours}", parts,
                       run_ids=ids)
    return Verdict(claim, outcome, evidence, parts, how, flags, ids, seeds if outcome == INCONCLUSIVE else None,
                   lean(parts) if outcome == INCONCLUSIVE else "", undecidable(claim, facts.declared))


def lean(parts) -> str:
    """Which side an undecided claim's point estimates sit on: NOT_REPRODUCED when one undecided part's estimate
    misses what it needs, REPRODUCED when every undecided part's estimate meets it, '' when a part says neither."""
    open_parts = [p.leans for p in parts if p.place in (stats.ACROSS, stats.TOO_FEW)]
    if False in open_parts:
        return NOT_REPRODUCED
    return REPRODUCED if open_parts and None not in open_parts else ""


def judge_all(claims: list[Claim], facts: Facts) -> list[Verdict]:
    return [judge(c, facts) for c in claims]


def verdict_counts(verdicts: list[Verdict]) -> dict[str, int]:
    """Per verdict word the number of claims, and REVERSED, WEAKER and THRESHOLD_SENSITIVE apart."""
    out = {v: sum(1 for x in verdicts if x.verdict == v) for v in VERDICTS}
    out[REVERSED] = sum(1 for x in verdicts if x.verdict == NOT_REPRODUCED and x.how == REVERSED)
    out[WEAKER] = sum(1 for x in verdicts if x.verdict == NOT_REPRODUCED and x.how == WEAKER)
    out[THRESHOLD_SENSITIVE] = sum(1 for x in verdicts if THRESHOLD_SENSITIVE in x.flags)
    return out
