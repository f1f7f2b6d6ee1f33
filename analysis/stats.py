"""The statistics of a verdict, as small pure functions (no pandas).

Every number a claim is judged on is an estimate over seeds with a confidence interval (LEVEL, 95% by
default) from Student's t at the estimate's degrees of freedom:
- a row's metric: the mean over its n seeds, SE = sample std / sqrt(n), df = n - 1;
- a difference between two rows (or two metrics of one row), or a ratio of differences (a claim in the
  scale's own units): paired by seed when both sides have the same seeds (the same seed gives both rows the
  same initial weights and the same augmentation stream), over the seeds both sides have, from the per-seed
  values, df = n - 1; sides that share fewer than two seeds: Welch, SE = sqrt(sa^2/na + f^2 sb^2/nb), df by
  Welch-Satterthwaite;
- a share of runs (a status claim): exact (Clopper-Pearson) one-sided bounds of a binomial proportion.

`decide` places the interval against the range the claim needs (low, high): inside it is "reproduced",
entirely outside it is "not reproduced", across a bound the data cannot tell ("inconclusive"). With fewer
than MIN_SEEDS seeds the data cannot tell either. A tie is never inside a strict bound.

Seeds until decided (`python -m sweeps.run SWEEP --until-decided`): a claim's rows get seeds in the steps of
LOOKS (3, then 6, then 10), and the claim is judged again at each. Looking again must not inflate false
calls, so the looks a claim can have are one family: `looks_from(declared)` lists them (the sweep file's own
seed count, then every LOOKS entry above it), and `look_level` judges every one of them, the first
included, at the Bonferroni level 1 - (1 - level) / (number of those looks). Both live in core.schema.design,
with LEVEL, MIN_SEEDS, LOOKS and MAJORITY, because a sweep file's loader asks them too; this module
re-exports them, and the verdicts (analysis.verdicts.Facts.level_for), the seeds a decision would need, the
runner's summary and the pages ask nothing else. By the union bound (Boole's
inequality, as in Dunn 1961, "Multiple comparisons among means", JASA 56:52-64) the chance of any false call
over all looks of one claim stays below 1 - level whatever rule chose to add seeds and however the looks
depend on each other: it needs no stopping rule and no joint distribution of the t statistics. A sweep file
that declares 3 seeds is judged at 98.3% at every look; 6 seeds at 97.5%; 10 or more is a fixed design at
95%. tests/analysis/test_sequential_error.py measures the false-call rate and the power on the code that ships.
(Pocock's or O'Brien and Fleming's boundaries would spend the 5% less wastefully, but they are derived for
normal statistics; on t statistics at 2 to 9 df they hold only approximately: Jennison and Turnbull 2000,
"Group Sequential Methods with Applications to Clinical Trials", on group sequential t-tests.)
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _scipy

from core.schema.design import (LEVEL, LOOKS, MAJORITY, MIN_SEEDS,  # noqa: F401 (the design, re-exported)
                                 look_level, looks_from)

MOST_SEEDS = 1000            # seeds_needed looks no further
INSIDE, OUTSIDE, ACROSS, TOO_FEW = "inside", "outside", "across", "too few seeds"


def t_quantile(level: float, df: float) -> float:
    """The two-sided Student t quantile: P(|T_df| < q) = level."""
    return float(_scipy.t.ppf(0.5 + level / 2, df))


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float            # NaN with fewer than two values
    n: int
    paired: bool = False
    df: float = math.nan
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        if math.isnan(self.se) or math.isnan(self.df) or self.df <= 0:
            return math.nan
        return t_quantile(self.level, self.df) * self.se

    @property
    def low(self) -> float:
        return self.value - self.half_width

    @property
    def high(self) -> float:
        return self.value + self.half_width

    def at(self, level: float) -> "Estimate":
        return replace(self, level=level)


def _std(xs: list[float]) -> float:
    if len(xs) < 2:
        return math.nan
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def mean_se(values: list[float]) -> Estimate:
    """Mean of `values` with its standard error and df = n - 1 (NaN for one value)."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("no values")
    n = len(xs)
    return Estimate(sum(xs) / n, _std(xs) / math.sqrt(n), n, df=float(n - 1) if n > 1 else math.nan)


def welch_df(sa: float, na: int, sb: float, nb: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a - b, from the two standard errors and counts."""
    va, vb = sa ** 2, sb ** 2
    if va + vb == 0:
        return float(min(na, nb) - 1)
    return (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))


def difference(a: dict, b: dict, factor: float = 1.0) -> Estimate:
    """a - factor x b from per-seed values {seed: value}: paired over the seeds both have when they share at
    least two (a row with seeds the other lacks, e.g. a baseline given more seeds for another claim, pairs on
    the shared ones), else Welch. n is the number of pairs, or the smaller side's count."""
    if not a or not b:
        raise ValueError("no values")
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2:
        return replace(mean_se([a[s] - factor * b[s] for s in shared]), paired=True)
    ea, eb = mean_se(list(a.values())), mean_se(list(b.values()))
    if ea.n > 1 and eb.n > 1:
        sb = abs(factor) * eb.se
        se, df = math.sqrt(ea.se ** 2 + sb ** 2), welch_df(ea.se, ea.n, sb, eb.n)
    else:
        se, df = math.nan, math.nan
    return Estimate(ea.value - factor * eb.value, se, min(ea.n, eb.n), df=df)


def independent_difference(a: Estimate, b: Estimate) -> Estimate:
    """b - a for two estimates made on separate runs (the same claim at two scales): SE = sqrt(se_a^2 + se_b^2),
    df by Welch-Satterthwaite, n the smaller count; no interval (NaN SE) when either side has none."""
    if a.n < 2 or b.n < 2 or math.isnan(a.se) or math.isnan(b.se):
        return Estimate(b.value - a.value, math.nan, min(a.n, b.n), level=a.level)
    se = math.sqrt(a.se ** 2 + b.se ** 2)
    return Estimate(b.value - a.value, se, min(a.n, b.n), df=welch_df(a.se, a.n, b.se, b.n), level=a.level)


def gain_ratio(a: dict, b: dict | None, baseline: dict, floor: dict, factor: float = 1.0) -> Estimate:
    """A difference in the scale's own units: (a - factor x b) / (baseline - floor), or with b None
    (a - floor) / (baseline - floor), per seed over the seeds all of them share (paired by seed).

    0 is the untrained network (the floor) and 1 the baseline; a seed whose baseline does not beat its
    floor has no scale and is left out."""
    common = set(a) & set(baseline) & set(floor) & (set(b) if b is not None else set(a))
    ratios = []
    for s in sorted(common):
        span = baseline[s] - floor[s]
        if span <= 0:
            continue
        top = a[s] - (factor * b[s] if b is not None else floor[s])
        ratios.append(top / span)
    if not ratios:
        raise ValueError("no seed shared by the rows and the floor")
    return replace(mean_se(ratios), paired=True)


def decide(est: Estimate, low: float = -math.inf, high: float = math.inf) -> str:
    """Where the interval of `est` lies against the open range (low, high): INSIDE, OUTSIDE, ACROSS, or
    TOO_FEW (n < MIN_SEEDS, whatever the numbers)."""
    if est.n < MIN_SEEDS or math.isnan(est.half_width):
        return TOO_FEW
    if low < est.low and est.high < high:
        return INSIDE
    if est.high <= low or est.low >= high:
        return OUTSIDE
    return ACROSS


def rate_bounds(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """One-sided exact (Clopper-Pearson) bounds of a proportion from k successes in n trials: the share is
    above the first and below the second, each at `level`."""
    if n <= 0:
        raise ValueError("no trials")
    low = 0.0 if k == 0 else float(_scipy.beta.ppf(1 - level, k, n - k + 1))
    high = 1.0 if k == n else float(_scipy.beta.ppf(level, k + 1, n - k))
    return low, high


def decide_rate(k: int, n: int, level: float = LEVEL) -> str:
    """A status claim ("X collapses", "Y trains") says the status is the rule, a one-sided statement: INSIDE
    when the share of matching runs is above MAJORITY at `level` (its lower bound above it), OUTSIDE when it
    is below (its upper bound below it), ACROSS otherwise. With every run matching that takes 5 runs at 95%
    and 6 at a sequential look's 98.3%."""
    if n < MIN_SEEDS:
        return TOO_FEW
    low, high = rate_bounds(k, n, level)
    if low > MAJORITY:
        return INSIDE
    if high < MAJORITY:
        return OUTSIDE
    return ACROSS


def seeds_needed(est: Estimate, bound: float, level_at: Callable[[int], float], most: int = MOST_SEEDS) -> int | None:
    """The seeds a one-bound decision would need at the observed spread: the smallest n (at least MIN_SEEDS)
    whose interval at `level_at(n)` (df n - 1, SE = sd / sqrt(n)) clears `bound`; None without a spread
    (fewer than two values), when it takes more than `most`, or when the estimate sits on the bound."""
    if math.isnan(est.se) or est.n < 2:
        return None
    sd, gap = est.se * math.sqrt(est.n), abs(est.value - bound)
    if gap == 0:
        return None
    for start in range(max(est.n, MIN_SEEDS), most + 1, 64):          # 64 counts at a time, in one t.ppf call
        ns = np.arange(start, min(start + 64, most + 1))
        levels = np.array([level_at(int(n)) for n in ns])
        cleared = np.flatnonzero(_scipy.t.ppf(0.5 + levels / 2, ns - 1) * sd / np.sqrt(ns) < gap)
        if cleared.size:
            return int(ns[cleared[0]])
    return None


def rate_seeds_needed(k: int, n: int, level: float, most: int = 100) -> int | None:
    """The runs a status claim would need if every added run matched as the observed share does (rounded):
    the smallest total whose interval clears MAJORITY; None when the observed share is one half."""
    if n == 0 or 2 * k == n:
        return None
    share = k / n
    for total in range(n, most + 1):
        hits = round(share * total)
        if decide_rate(hits, total, level) in (INSIDE, OUTSIDE):
            return total
    return None
