"""How a claim's numbers change between two judgements of it on sibling run trees (analysis.comparisons): each
part's number on each side, in its scale's own units, and one word read from the interval of the change. Pure.

Each part of a claim is one number on each side (the estimate its verdict reads: a gain in the scale's own units, a
loss, a z std, a difference in points), shown with the interval its verdict read, at that verdict's level: a
claim has one interval wherever it appears. A status claim read by the spread rule is the mean over runs of
log(z std x sqrt(d)), shown as z std x sqrt(d) (a geometric mean; a collapse spans decades); one read by the share
rule has no number to set side by side and no row. The sides are separate runs, so the change is an unpaired
difference (stats.independent_difference: Welch), at the base side's level. Its word:
- TOWARD: the change's interval excludes 0 on the side the claim needs (a larger gap where the claim needs more
  than a bound, a lower value where it needs less, nearer the middle of a range it needs);
- AWAY: it excludes 0 on the other side;
- NO_CHANGE: the interval lies inside the declared equivalence margin, plus or minus delta (two one-sided
  tests at the same level): the two sides are the same within delta. Said only from that test, never from an
  interval that merely holds 0;
- TOO_WIDE: it holds 0 and reaches past delta: the data cannot tell a change from none, with the seeds a side
  that would make the interval narrow enough (at the observed spread);
- NO_MARGIN: it holds 0 and no equivalence margin is declared for the number's unit;
- CHANGED: it excludes 0 for a number whose claim has no side (a range the first side sits in the middle of);
- NO_SPREAD: a side has too few values for an interval.
A claim's word is its parts' when they agree, else MIXED.

Where a collapse sits (analysis.collapse_site) is set side by side too: for each row that collapses on some
side, its backbone's feature std against the reference row's at the same seed. The paper's collapsed runs
score 0.1% (chance) in linear evaluation, so their backbones' features collapsed too: a ratio that falls moves
toward the paper.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from analysis import stats
from analysis.collapse_site import backbone_ratios
from analysis.runs import UNFINISHED
from analysis.parts import GAIN_UNITS, Part
from analysis.verdicts import NO_DATA, NOT_TESTABLE, Verdict
from core.schema.claims import Claim
from core.schema.record import COLLAPSED, NEAR_COLLAPSE

TOWARD, AWAY = "toward the paper", "away from the paper"
NO_CHANGE, TOO_WIDE = "no measurable change", "too wide to tell"
NO_MARGIN, CHANGED, NO_SPREAD, MIXED = "no equivalence margin declared", "changed", "no interval", "mixed"
WORDS = (TOWARD, AWAY, NO_CHANGE, TOO_WIDE, NO_MARGIN, CHANGED, NO_SPREAD, MIXED)
Z_UNITS = "z std × √d (geometric mean)"
LOG_Z, Z, GAIN, BACKBONE = "log z std × √d", "z std × √d", "gain", "backbone std ratio"   # the units of a change


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a sweep judged on one group of runs, its verdicts in the sweep file's claim order."""
    label: str                 # what the side is: 'cpu (390 steps, lr 1.5)', or the compared key's value
    verdicts: list[Verdict]
    runs: pd.DataFrame

    @property
    def done(self) -> pd.DataFrame:
        """The side's finished runs."""
        return self.runs[self.runs["status"] != UNFINISHED] if "status" in self.runs else self.runs

    @property
    def steps(self) -> int | None:
        """The optimizer steps of the side's finished runs (the most, where rows differ)."""
        done = self.done
        steps = pd.to_numeric(done["step"], errors="coerce").dropna() if "step" in done else pd.Series(dtype=float)
        return int(steps.max()) if len(steps) else None


@dataclass(frozen=True)
class Cell:
    estimate: stats.Estimate | None
    text: str                  # '0.46 [-0.46, 1.39]' (the interval at the part's level), '-' without data
    verdict: str               # the claim's verdict on this side


@dataclass(frozen=True)
class ChangeRow:
    claim: Claim
    what: str                  # the part's number, as its verdict names it
    cells: tuple[Cell, Cell]   # the base side's, the other side's
    change: str                # the other side minus the base, with its interval ('-' without one)
    word: str
    seeds: int | None = None   # TOO_WIDE: the seeds a side that would make it informative
    sides: tuple[str, str] = ("", "")   # the two sides' labels


@dataclass(frozen=True)
class SiteRow:
    case: str
    reference: str
    cells: tuple[Cell, ...]    # backbone std / the reference's, per side
    z_cells: tuple[Cell, ...]  # z std x sqrt(d), per side
    change: str
    word: str


def toward_sign(low: float, high: float, first: float) -> int:
    """+1 when a larger value is nearer what the claim needs (low, high), -1 when a smaller one is, 0 when the
    range says nothing; inside a finite range, nearer its middle from where the first rung stands."""
    if math.isinf(low) and math.isinf(high):
        return 0
    if math.isinf(high):
        return 1
    if math.isinf(low):
        return -1
    mid = (low + high) / 2
    return 0 if first == mid else (1 if first < mid else -1)


@dataclass(frozen=True)
class Change:
    word: str
    estimate: stats.Estimate            # the last side minus the first
    seeds: int | None = None            # TOO_WIDE: seeds a side that would fit the interval inside the margin


def change_word(first: stats.Estimate, last: stats.Estimate, sign: int, level: float,
                margin: float | None = None) -> Change:
    """The word for the change from `first` to `last` (stats.independent_difference at `level`; `sign` the side
    the claim needs, `margin` the equivalence margin of the number's unit, None where none is declared)."""
    change = stats.independent_difference(first, last).at(level)
    if math.isnan(change.half_width):
        return Change(NO_SPREAD, change)
    if not change.low <= 0 <= change.high:
        if sign == 0:
            return Change(CHANGED, change)
        return Change(TOWARD if (sign > 0) == (change.low > 0) else AWAY, change)
    if margin is None:
        return Change(NO_MARGIN, change)
    if -margin < change.low and change.high < margin:
        return Change(NO_CHANGE, change)
    return Change(TOO_WIDE, change, equivalence_seeds(first, last, level, margin))


def equivalence_seeds(first: stats.Estimate, last: stats.Estimate, level: float, margin: float,
                      most: int = stats.MOST_SEEDS) -> int | None:
    """The seeds each side would need for the change's interval to fit inside plus or minus `margin` at the observed
    spreads and change (Welch's df at n a side); None when the change itself is at or past the margin, or it takes
    more than `most`."""
    room = margin - abs(last.value - first.value)
    if room <= 0:
        return None
    sd_a, sd_b = first.se * math.sqrt(first.n), last.se * math.sqrt(last.n)
    for n in range(max(first.n, last.n, stats.MIN_SEEDS), most + 1):
        se_a, se_b = sd_a / math.sqrt(n), sd_b / math.sqrt(n)
        if stats.t_quantile(level, stats.welch_df(se_a, n, se_b, n)) * math.hypot(se_a, se_b) < room:
            return n
    return None


def interval_text(est: stats.Estimate | None, exp10: bool = False, exp: bool = False) -> str:
    """'0.46 [-0.46, 1.39]' (three significant digits; `exp10`: of 10 to the power of a log10 estimate; `exp`:
    of e to the power of a natural-log one)."""
    if est is None:
        return "-"
    f = (lambda v: f"{10 ** v:.2g}") if exp10 else (lambda v: f"{math.exp(v):.3g}") if exp else (lambda v: f"{v:.3g}")
    if math.isnan(est.half_width):
        return f"{f(est.value)} (n={est.n})"
    return f"{f(est.value)} [{f(est.low)}, {f(est.high)}]"


def log_z_estimate(runs: pd.DataFrame, case: str) -> stats.Estimate | None:
    """Mean and SE of log10(z std x sqrt(d)) over a case's finished runs; None without them."""
    mine = runs[(runs["case"] == case) & (runs["status"] != UNFINISHED)] if len(runs) else runs
    values = []
    for z, d in zip(mine.get("z_std", []), mine.get("dim", [])):
        z, d = pd.to_numeric(z, errors="coerce"), pd.to_numeric(d, errors="coerce")
        if not pd.isna(z) and not pd.isna(d) and z > 0 and d > 0:
            values.append(math.log10(float(z) * math.sqrt(float(d))))
    return stats.mean_se(values) if values else None


def _per_unit(claim: Claim, runs: pd.DataFrame) -> float:
    """sqrt(d) for a claim read in units of 1/sqrt(d) (its number is shown in those units), else 1."""
    if claim.relative_to != "inv_sqrt_d" or "dim" not in runs:
        return 1.0
    dims = pd.to_numeric(runs["dim"], errors="coerce").dropna().unique()
    return math.sqrt(float(dims[0])) if len(dims) == 1 else 1.0


def _part_numbers(claim: Claim, parts: tuple[Part, ...], runs: pd.DataFrame):
    """[(what, estimate, the bounds it needs, its unit, shown as exp)] for each part of a verdict that reads an
    estimate, each at the level its verdict read it (one interval per claim, wherever it is shown): a status read
    by the spread rule is a mean of log(z std x sqrt(d)), shown as exp; a status read by the share rule has no
    estimate and no row."""
    out, per = [], _per_unit(claim, runs)
    for p in parts:
        if p.est is None:
            continue
        if claim.test == "status":
            out.append((p.what, p.est, p.bounds, LOG_Z, True))
            continue
        est = replace(p.est, value=p.est.value * per, se=p.est.se * per)
        unit = GAIN if claim.in_gain or GAIN_UNITS in p.what else Z if per != 1 else claim.metric
        out.append((p.what + (" × √d" if per != 1 else ""), est, (p.bounds[0] * per, p.bounds[1] * per), unit,
                    False))
    return out


def _judged(v: Verdict | None) -> bool:
    return v is not None and v.verdict not in (NO_DATA, NOT_TESTABLE)


def compare(base: Side, other: Side, margins: dict, level: float | None = None) -> list[ChangeRow]:
    """One row per part of each claim judged on both sides (a claim without data on either is left out), with
    the word for the change from `base` to `other` (`margins`: the equivalence margin per unit; `level`: the
    change's, by default the base part's own)."""
    rows = []
    for i, v in enumerate(base.verdicts):
        w = other.verdicts[i] if i < len(other.verdicts) else None
        if not _judged(v) or not _judged(w):
            continue
        mine = {n[0]: n for n in _part_numbers(w.claim, w.parts, other.runs)}
        for what, est0, bounds, unit, shown in _part_numbers(v.claim, v.parts, base.runs):
            est1 = mine.get(what, (None, None))[1]
            cells = (Cell(est0, interval_text(est0, exp=shown), v.word),
                     Cell(est1, interval_text(est1, exp=shown), w.word))
            if est1 is None:
                rows.append(ChangeRow(v.claim, what, cells, "-", NO_SPREAD, sides=(base.label, other.label)))
                continue
            change = change_word(est0, est1, toward_sign(bounds[0], bounds[1], est0.value),
                                 level or est0.level, margins.get(unit))
            text = interval_text(change.estimate) + (" (log)" if shown else "")
            rows.append(ChangeRow(v.claim, what, cells, text, change.word, change.seeds, (base.label, other.label)))
    return rows


def claim_words(rows: list[ChangeRow]) -> list[tuple[Claim, str]]:
    """One word per claim: its parts' word when they agree, else MIXED; in the rows' order."""
    words: dict[int, tuple[Claim, set]] = {}
    for r in rows:
        words.setdefault(id(r.claim), (r.claim, set()))[1].add(r.word)
    return [(c, ws.pop() if len(ws) == 1 else MIXED) for c, ws in words.values()]


def _collapsing(sides: list[Side], cases: list[str]) -> list[str]:
    bad = set()
    for r in sides:
        if "status" in r.runs:
            bad |= set(r.runs[r.runs["status"].isin([COLLAPSED, NEAR_COLLAPSE])]["case"])
    return [c for c in cases if c in bad]


def _reference(sides: list[Side], cases: list[str]) -> str | None:
    """The first case with finished runs on every side (the sweep's baseline, by the sweep files' order): what a
    collapse is set against, whatever its own status (its z std is shown beside)."""
    for c in cases:
        if all(((r.runs["case"] == c) & (r.runs["status"] != UNFINISHED)).any() for r in sides):
            return c
    return None


def sites(sides: list[Side], cases: list[str], margins: dict, level: float = stats.LEVEL) -> list[SiteRow]:
    """The reference case (its z std per side), then each other case that collapses (or nearly) on some side: its
    backbone std against the reference case's at the same seed, and its z std, on each side, with the word for
    the backbone ratio's change from the first side to the last. [] when nothing collapses."""
    ref = _reference(sides, cases)
    collapsing = [c for c in _collapsing(sides, cases) if c != ref]
    if ref is None or not collapsing:
        return []
    z_ref = tuple(Cell(e, interval_text(e.at(level) if e else None, exp10=True), "")
                  for e in (log_z_estimate(r.runs, ref) for r in sides))
    out = [SiteRow(ref, ref, tuple(Cell(None, "1 (reference)", "") for _ in sides), z_ref, "-", "-")]
    for case in collapsing:
        ratios = [backbone_ratios(r.runs, case, ref) for r in sides]
        ests = [stats.mean_se(x).at(level) if x else None for x in ratios]
        zs = [log_z_estimate(r.runs, case) for r in sides]
        cells = tuple(Cell(e, interval_text(e), "") for e in ests)
        z_cells = tuple(Cell(e, interval_text(e.at(level) if e else None, exp10=True), "") for e in zs)
        if ests[0] is None or ests[-1] is None:
            out.append(SiteRow(case, ref, cells, z_cells, "-", NO_SPREAD))
            continue
        change = change_word(ests[0], ests[-1], -1, level, margins.get(BACKBONE))
        out.append(SiteRow(case, ref, cells, z_cells, interval_text(change.estimate), change.word))
    return out
