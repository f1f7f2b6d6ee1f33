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
calls, so every look past the sweep file's own seeds is judged at the Bonferroni level
1 - (1 - LEVEL) / len(LOOKS): over all looks of one claim, the chance of a false call stays below 1 - LEVEL
whatever rule chose to add seeds (the union bound needs no stopping rule). A claim at the sweep file's own
seeds (a fixed design, decided before the runs) is judged at LEVEL; the sequential rule's first look uses
the Bonferroni level too, so a claim it leaves alone is decided the same way at either level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from scipy import stats as _scipy

LEVEL = 0.95                 # the default confidence of every interval (analysis.report --level)
MIN_SEEDS = 3
LOOKS = (3, 6, 10)           # the sequential design's seed counts per row
MAJORITY = 0.5               # a status claim holds "as a rule": more than half the runs, at the level
INSIDE, OUTSIDE, ACROSS, TOO_FEW = "inside", "outside", "across", "too few seeds"


def t_quantile(level: float, df: float) -> float:
    """The two-sided Student t quantile: P(|T_df| < q) = level."""
    return float(_scipy.t.ppf(0.5 + level / 2, df))


def look_level(level: float, n: int, declared: int) -> float:
    """The level a claim with n seeds is judged at: `level` within the sweep file's own `declared` seeds (a
    fixed design); past them (seeds added sequentially) the Bonferroni level over the LOOKS."""
    return level if n <= declared else 1 - (1 - level) / len(LOOKS)


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


def seeds_needed(est: Estimate, bound: float, level: float, most: int = 1000) -> int | None:
    """The seeds a one-bound decision would need at the observed spread: the smallest n whose interval at
    `level` (df n - 1, SE = sd / sqrt(n)) clears `bound`; None when it takes more than `most` (or the
    estimate sits on the bound)."""
    if math.isnan(est.se) or est.n < 2:
        return None
    sd, gap = est.se * math.sqrt(est.n), abs(est.value - bound)
    if gap == 0:
        return None
    for n in range(max(est.n, 2), most + 1):
        if t_quantile(level, n - 1) * sd / math.sqrt(n) < gap:
            return n
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
