"""One part of a test: the number it reads with its interval, what the claim needs, and where the interval lies;
its texts, the kind of a failure, the seeds a decision would need, and which way an estimate leans."""
from __future__ import annotations

import math
from dataclasses import dataclass

from analysis import stats
from analysis.facts import Facts, NoData
from analysis.tables import format_value, metric_label
from analysis.verdict_words import REVERSED, WEAKER
from core.schema.claims import Claim


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


def interval_text(est: stats.Estimate, metric: str) -> str:
    how = f"{'paired, ' if est.paired else ''}n={est.n}"
    if math.isnan(est.half_width):
        return f"{format_value(est.value, metric)} ({how}: no spread)"
    return (f"{format_value(est.value, metric)} [{format_value(est.low, metric)}, "
            f"{format_value(est.high, metric)}] ({how}, {est.level:.1%})".replace(".0%)", "%)"))


def gain_interval_text(est: stats.Estimate) -> str:
    how = f"paired, n={est.n}"
    if math.isnan(est.half_width):
        return f"{est.value:.2f} ({how}: no spread)"
    return f"{est.value:.2f} [{est.low:.2f}, {est.high:.2f}] ({how}, {est.level:.1%})".replace(".0%)", "%)")


def range_text(low: float, high: float, metric: str) -> str:
    fmt = (lambda v: f"{v:g}") if metric == "" else (lambda v: format_value(v, metric))
    if math.isinf(high):
        return f"> {fmt(low)}"
    if math.isinf(low):
        return f"< {fmt(high)}"
    return f"{fmt(low)} < · < {fmt(high)}"


def how_failed(claim: Claim, est: stats.Estimate, low: float, high: float) -> str:
    """REVERSED or WEAKER for an interval outside (low, high), read against the claim's reference."""
    ref = claim.reference_level()
    if ref is None:
        return ""
    if est.high <= low and ref <= low:            # the claim needs more than `low`
        return REVERSED if est.high <= ref else WEAKER if est.low > ref else ""
    if est.low >= high and ref >= high and math.isinf(low):   # the claim needs less than `high`
        return REVERSED if est.low >= ref else WEAKER if est.high < ref else ""
    return ""


def seeds_needed(facts: Facts, est: stats.Estimate, low: float, high: float) -> int | None:
    """The seeds a row would need for this part to be decided at the observed spread, each count judged at
    the level it would be judged at; None without a spread (fewer than two seeds: never extrapolated) or
    beyond stats.MOST_SEEDS. An interval that clears every bound with too few seeds needs MIN_SEEDS."""
    if not has_spread(est):
        return None
    bounds = [b for b in (low, high) if not math.isinf(b) and est.low < b < est.high]
    if not bounds:
        return stats.MIN_SEEDS if est.n < stats.MIN_SEEDS else None
    needs = [stats.seeds_needed(est, b, facts.level_for) for b in bounds]
    return None if None in needs else max(needs)


def has_spread(est: stats.Estimate) -> bool:
    return est.n >= 2 and not math.isnan(est.se)


def make_part(facts: Facts, claim: Claim, what: str, est: stats.Estimate, low: float, high: float, estimate: str,
          needs: str, note: str = "") -> Part:
    est = est.at(facts.level_for(est.n))
    place = stats.decide(est, low, high)
    estimate = estimate or (gain_interval_text(est) if claim.in_gain else interval_text(est, claim.metric))
    return Part(what, estimate, needs, place, how_failed(claim, est, low, high) if place == stats.OUTSIDE else "",
                note, seeds_needed(facts, est, low, high) if place in (stats.ACROSS, stats.TOO_FEW) else None,
                est, (low, high), spread=has_spread(est))


def gain_ratio_part(a: dict, b: dict | None, baseline: dict, floor: dict, factor: float = 1.0) -> stats.Estimate:
    try:
        return stats.gain_ratio(a, b, baseline, floor, factor)
    except ValueError:
        raise NoData("no seed shared by the rows, their baseline and the untrained network (the floor), or no "
                      "baseline above its floor") from None


GAIN_UNITS = "in units of the baseline's gain over the untrained network"


def points_note(facts: Facts, claim: Claim, rows: dict[str, dict]) -> str:
    """The points behind a gain: each row's mean, the floor's and the baseline's."""
    cells = [f"'{name}' {format_value(sum(v.values()) / len(v), claim.metric)}" for name, v in rows.items()]
    return f"in points ({metric_label(claim.metric)}): " + ", ".join(cells)
