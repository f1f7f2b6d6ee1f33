"""The statistics of a verdict, as small pure functions (no pandas).

Every number a claim is judged on is an estimate with a standard error over seeds:
- a row's metric: the mean over its seeds, SE = sample std / sqrt(n);
- a difference between two rows (or two metrics of one row): paired by seed when both have the same seeds
  (the same seed gives both rows the same initial weights and the same augmentation stream, so the per-seed
  differences carry less noise), SE = std of the per-seed differences / sqrt(n); otherwise Welch's
  SE = sqrt(sa^2/na + f^2 sb^2/nb).

`decide` places the estimate's interval, value +- Z x SE, against the range the claim needs (low, high):
inside it is "reproduced", entirely outside it is "not reproduced", across a bound the data cannot tell
("inconclusive"). With fewer than MIN_SEEDS seeds on a side the data cannot tell either: one seed has no
spread, and the seed noise of these runs (several points of accuracy at the cpu preset) is larger than
most differences the paper reports. A tie is never inside a strict bound.

Z = 2 is "about two standard errors". With three seeds and a paired difference (2 degrees of freedom), the
interval value +- 2 SE covers the true difference about 82% of the time (Student's t), so a "reproduced"
at n = 3 is a moderate statement; more seeds make the same Z a stricter one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

Z = 2.0
MIN_SEEDS = 3
INSIDE, OUTSIDE, ACROSS, TOO_FEW = "inside", "outside", "across", "too few seeds"


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float            # NaN with fewer than two values
    n: int
    paired: bool = False

    @property
    def low(self) -> float:
        return self.value - Z * self.se

    @property
    def high(self) -> float:
        return self.value + Z * self.se


def _std(xs: list[float]) -> float:
    if len(xs) < 2:
        return math.nan
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def mean_se(values: list[float]) -> Estimate:
    """Mean of `values` with its standard error (NaN for one value)."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("no values")
    return Estimate(sum(xs) / len(xs), _std(xs) / math.sqrt(len(xs)), len(xs))


def difference(a: dict, b: dict, factor: float = 1.0) -> Estimate:
    """a - factor x b from per-seed values {seed: value}: paired when both have the same seeds, else Welch.
    n is the number of pairs, or the smaller side's count."""
    if not a or not b:
        raise ValueError("no values")
    if set(a) == set(b):
        return Estimate(**{**mean_se([a[s] - factor * b[s] for s in sorted(a)]).__dict__, "paired": True})
    ea, eb = mean_se(list(a.values())), mean_se(list(b.values()))
    se = math.sqrt(ea.se ** 2 + (factor * eb.se) ** 2) if ea.n > 1 and eb.n > 1 else math.nan
    return Estimate(ea.value - factor * eb.value, se, min(ea.n, eb.n))


def decide(est: Estimate, low: float = -math.inf, high: float = math.inf) -> str:
    """Where the interval est +- Z SE lies against the open range (low, high): INSIDE, OUTSIDE, ACROSS,
    or TOO_FEW (n < MIN_SEEDS, whatever the numbers)."""
    if est.n < MIN_SEEDS or math.isnan(est.se):
        return TOO_FEW
    if low < est.low and est.high < high:
        return INSIDE
    if est.high <= low or est.low >= high:
        return OUTSIDE
    return ACROSS
