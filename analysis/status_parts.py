"""The parts of a status claim ("collapses", "trains"): the spread rule (how far each run ends from the
status's line, on log(z std x sqrt(d))), the share rule (the share of runs, exact binomial), the verdict with
the line drawn elsewhere (analysis.collapse_lines), and a "works" claim's floor."""
from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from analysis import collapse_lines, stats
from analysis.facts import Facts, finished, floor_per_seed, per_seed
from analysis.parts import GAIN_UNITS, Part, gain_ratio_part, has_spread, make_part, points_note, seeds_needed
from analysis.tables import metric_label
from analysis.verdict_words import OUTCOME, THRESHOLD_SENSITIVE
from core.schema.claims import Claim
from core.schema.record import TRAINED


def share_sensitivity(facts: Facts, runs: pd.DataFrame, equals: tuple[str, ...], main: str) -> tuple[str, bool]:
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


def spread_sensitivity(facts: Facts, runs: pd.DataFrame, status: str, main: str) -> tuple[str, bool]:
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


def share_part(facts: Facts, claim: Claim, case: str, runs: pd.DataFrame) -> Part:
    """The share rule: the share of runs that end in `equals`, its exact one-sided bounds against one half."""
    statuses = list(runs["status"])
    k, n = sum(s in claim.equals for s in statuses), len(statuses)
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    level = facts.level_for(n)
    place = stats.decide_rate(k, n, level)
    low, high = stats.rate_bounds(k, n, level)
    note, flips = share_sensitivity(facts, runs, claim.equals, OUTCOME[place])
    if flips:
        note += f" ({THRESHOLD_SENSITIVE})"
    needed = stats.rate_seeds_needed(k, n, facts.level_for(n + 1)) \
        if place in (stats.ACROSS, stats.TOO_FEW) and n >= 2 else None
    return Part(f"'{case}' status", f"{counts}: {k}/{n} {' or '.join(claim.equals)}, share "
                f"between {low:.2f} and {high:.2f} (one-sided bounds, {level:.1%} each)".replace(".0%", "%"),
                f"more than half of the runs {' or '.join(claim.equals)}", place, note=note, seeds_needed=needed,
                share=k / n, spread=n >= 2)


def spread_part(facts: Facts, claim: Claim, case: str, runs: pd.DataFrame) -> Part | None:
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
    note, flips = spread_sensitivity(facts, runs, status, OUTCOME[place])
    note = f"{k}/{len(logs)} runs {status} (the share rule's count, a check); " + note
    if flips:
        note += f" ({THRESHOLD_SENSITIVE})"
    where = "below" if status == "collapsed" else "at or above"
    return Part(f"'{case}' z std × √d, geometric mean over runs", estimate,
                f"{'<' if status == 'collapsed' else '>'} {line:g} (the typical run ends {where} the line of "
                f"'{status}')", place, note=note,
                seeds_needed=seeds_needed(facts, est, low, high) if place in (stats.ACROSS, stats.TOO_FEW) else None,
                est=est, bounds=(low, high), spread=has_spread(est))


def status_parts(facts: Facts, claim: Claim) -> list[Part]:
    parts = []
    for case in claim.cases:
        runs = finished(facts, case)
        spread = spread_part(facts, claim, case, runs) if claim.rule == "spread" else None
        parts.append(spread or share_part(facts, claim, case, runs))
    if claim.floor_margin is not None:
        parts += beats_floor(facts, claim)
    return parts


def beats_floor(facts: Facts, claim: Claim) -> list[Part]:
    """A "works" claim's second half: each case keeps more than floor_margin of the baseline's gain over the
    untrained network (the baseline itself: beats the network, in points)."""
    floor, parts = floor_per_seed(facts, claim.metric), []
    base = per_seed(facts, claim.baseline, claim.metric)
    for case in claim.cases:
        values = per_seed(facts, case, claim.metric)
        if case == claim.baseline:
            est = stats.difference(values, floor)
            plain = replace(claim, relative_to="", test="exceeds")
            parts.append(make_part(facts, plain, f"'{case}' − untrained {metric_label(claim.metric)}", est, 0.0,
                               math.inf, "", "> 0"))
            continue
        est = gain_ratio_part(values, None, base, floor)
        gain = replace(claim, relative_to="gain", test="above")
        parts.append(make_part(facts, gain, f"'{case}' {metric_label(claim.metric)}, {GAIN_UNITS} ('{claim.baseline}')",
                           est, claim.floor_margin, math.inf, "", f"> {claim.floor_margin:g}",
                           points_note(facts, claim, {case: values, "untrained": floor, claim.baseline: base})))
    return parts
