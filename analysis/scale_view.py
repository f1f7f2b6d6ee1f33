"""Does a verdict move with scale? The same claims judged on the runs of two or more presets (rungs), set side by
side in the scale's own units, with one word per claim read from the intervals. Pure functions.

Each part of a claim is one number at each rung (the estimate a verdict reads: a gain in the scale's own units, a
loss, a z std, a difference in points), with its interval. The rungs are separate runs, so the change between
two rungs is an unpaired difference (stats.independent_difference: Welch). Its word:
- TOWARD: the change's interval excludes 0 on the side the paper's claim lies (a larger gap where the claim
  needs more than a bound, a lower value where it needs less, nearer the middle of a range it needs);
- AWAY: it excludes 0 on the other side;
- NO_CHANGE: it includes 0 (at this many seeds the two rungs cannot be told apart);
- NO_SPREAD: a rung has too few values for an interval.
Every number is shown with the interval its verdict read, at that verdict's level: a claim has one interval
wherever it appears. A status claim read by the spread rule is the mean over runs of log(z std x sqrt(d)),
shown as z std x sqrt(d) (a geometric mean; a collapse spans decades); one read by the share rule has no
number to set side by side (its share cannot move measurably at three seeds) and no row. A claim's word is its
parts' when they agree, else MIXED.

Where the collapse sits (analysis.collapse_site) is set side by side too: for each row that collapses at some
rung, its backbone's feature std against the reference row's at the same seed, per rung. The paper's collapsed
runs score 0.1% (chance) in linear evaluation, so their backbones' features collapsed too: a ratio that falls
with scale moves toward the paper.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from analysis import stats
from analysis.collapse_site import backbone_ratios
from analysis.runs import UNFINISHED
from analysis.parts import Part
from analysis.verdicts import NO_DATA, NOT_TESTABLE, Verdict
from core.schema.claims import Claim
from core.schema.record import COLLAPSED, NEAR_COLLAPSE

TOWARD, AWAY, NO_CHANGE, NO_SPREAD, MIXED = ("toward the paper", "away from the paper", "no measurable change",
                                             "no interval", "mixed")
WORDS = (TOWARD, AWAY, NO_CHANGE, NO_SPREAD, MIXED)
Z_UNITS = "z std × √d (geometric mean)"


@dataclass(frozen=True)
class Rung:
    """One preset's judgement of a sweep: its verdicts (in the sweep file's claim order) and the runs read."""
    preset: str
    verdicts: list[Verdict]
    runs: pd.DataFrame

    @property
    def done(self) -> pd.DataFrame:
        """The rung's finished runs."""
        return self.runs[self.runs["status"] != UNFINISHED] if "status" in self.runs else self.runs

    @property
    def steps(self) -> int | None:
        """The optimizer steps of the rung's finished runs (the most, where rows differ)."""
        done = self.done
        steps = pd.to_numeric(done["step"], errors="coerce").dropna() if "step" in done else pd.Series(dtype=float)
        return int(steps.max()) if len(steps) else None


@dataclass(frozen=True)
class Cell:
    estimate: stats.Estimate | None
    text: str                  # '0.46 [-0.46, 1.39]' (the interval at the part's level), '-' without data
    verdict: str               # the claim's verdict at this rung


@dataclass(frozen=True)
class ScaleRow:
    claim: Claim
    what: str                  # the part's number, as its verdict names it
    cells: tuple[Cell, ...]    # one per rung, in the rungs' order
    change: str                # the last rung minus the first, with its interval
    word: str


@dataclass(frozen=True)
class SiteRow:
    case: str
    reference: str
    cells: tuple[Cell, ...]    # backbone std / the reference's, per rung
    z_cells: tuple[Cell, ...]  # z std x sqrt(d), per rung
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


def change_word(first: stats.Estimate, last: stats.Estimate, sign: int, level: float) -> tuple[str, stats.Estimate]:
    """The word for the change from `first` to `last` (stats.independent_difference at `level`), and the change."""
    change = stats.independent_difference(first, last).at(level)
    if math.isnan(change.half_width):
        return NO_SPREAD, change
    if change.low <= 0 <= change.high or sign == 0:
        return NO_CHANGE, change
    moved_up = change.low > 0
    return (TOWARD if (sign > 0) == moved_up else AWAY), change


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
    """[(what, estimate, the bounds it needs, how its numbers are shown)] for each part of a verdict that reads an
    estimate, each at the level its verdict read it (one interval per claim, wherever it is shown): a status read
    by the spread rule is a mean of log(z std x sqrt(d)), shown as exp; a status read by the share rule has no
    estimate and no row."""
    out, unit = [], _per_unit(claim, runs)
    for p in parts:
        if p.est is None:
            continue
        if claim.test == "status":
            out.append((p.what, p.est, p.bounds, "exp"))
            continue
        est = replace(p.est, value=p.est.value * unit, se=p.est.se * unit)
        what = p.what + (" × √d" if unit != 1 else "")
        out.append((what, est, (p.bounds[0] * unit, p.bounds[1] * unit), ""))
    return out


def _judged(v: Verdict | None) -> bool:
    return v is not None and v.verdict not in (NO_DATA, NOT_TESTABLE)


def compare(rungs: list[Rung], level: float = stats.LEVEL) -> list[ScaleRow]:
    """One row per part of each claim judged at the first and the last rung (a claim without data at either is
    left out); the word reads the change from the first rung to the last."""
    first, last = rungs[0], rungs[-1]
    rows = []
    for i, v in enumerate(first.verdicts):
        w = last.verdicts[i] if i < len(last.verdicts) else None
        if not _judged(v) or not _judged(w):
            continue
        numbers = [_part_numbers(r.verdicts[i].claim, r.verdicts[i].parts, r.runs) for r in rungs]
        for j, (what, est0, bounds, shown) in enumerate(numbers[0]):
            ests = [n[j][1] if j < len(n) and n[j][0] == what else None for n in numbers]
            cells = tuple(Cell(e, interval_text(e, exp=shown == "exp"), r.verdicts[i].word)
                          for e, r in zip(ests, rungs))
            if est0 is None or ests[-1] is None:
                rows.append(ScaleRow(v.claim, what, cells, "-", NO_SPREAD))
                continue
            word, change = change_word(est0, ests[-1], toward_sign(bounds[0], bounds[1], est0.value), level)
            rows.append(ScaleRow(v.claim, what, cells, interval_text(change) + (" (log)" if shown else ""), word))
    return rows


def claim_words(rows: list[ScaleRow]) -> list[tuple[Claim, str]]:
    """One word per claim: its parts' word when they agree, else MIXED; in the rows' order."""
    words: dict[int, tuple[Claim, set]] = {}
    for r in rows:
        words.setdefault(id(r.claim), (r.claim, set()))[1].add(r.word)
    return [(c, ws.pop() if len(ws) == 1 else MIXED) for c, ws in words.values()]


def _collapsing(rungs: list[Rung], cases: list[str]) -> list[str]:
    bad = set()
    for r in rungs:
        if "status" in r.runs:
            bad |= set(r.runs[r.runs["status"].isin([COLLAPSED, NEAR_COLLAPSE])]["case"])
    return [c for c in cases if c in bad]


def _reference(rungs: list[Rung], cases: list[str]) -> str | None:
    """The first case with finished runs at every rung (the sweep's baseline, by the sweep files' order): what a
    collapse is set against, whatever its own status (its z std is shown beside)."""
    for c in cases:
        if all(((r.runs["case"] == c) & (r.runs["status"] != UNFINISHED)).any() for r in rungs):
            return c
    return None


def sites(rungs: list[Rung], cases: list[str], level: float = stats.LEVEL) -> list[SiteRow]:
    """The reference case (its z std per rung), then each other case that collapses (or nearly) at some rung: its
    backbone std against the reference case's at the same seed, and its z std, at each rung, with the word for
    the backbone ratio's change. [] when nothing collapses."""
    ref = _reference(rungs, cases)
    collapsing = [c for c in _collapsing(rungs, cases) if c != ref]
    if ref is None or not collapsing:
        return []
    z_ref = tuple(Cell(e, interval_text(e.at(level) if e else None, exp10=True), "")
                  for e in (log_z_estimate(r.runs, ref) for r in rungs))
    out = [SiteRow(ref, ref, tuple(Cell(None, "1 (reference)", "") for _ in rungs), z_ref, "-", "-")]
    for case in collapsing:
        ratios = [backbone_ratios(r.runs, case, ref) for r in rungs]
        ests = [stats.mean_se(x).at(level) if x else None for x in ratios]
        zs = [log_z_estimate(r.runs, case) for r in rungs]
        cells = tuple(Cell(e, interval_text(e), "") for e in ests)
        z_cells = tuple(Cell(e, interval_text(e.at(level) if e else None, exp10=True), "") for e in zs)
        if ests[0] is None or ests[-1] is None:
            out.append(SiteRow(case, ref, cells, z_cells, "-", NO_SPREAD))
            continue
        word, change = change_word(ests[0], ests[-1], -1, level)
        out.append(SiteRow(case, ref, cells, z_cells, interval_text(change), word))
    return out
