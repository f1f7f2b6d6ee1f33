"""The statistical design every verdict is made under, as data and closed forms (no torch, no scipy): the
confidence level, the fewest seeds a verdict reads, the looks of the sequential rule and the level of each
look, and whether a claim's declared seeds can decide it at all. analysis.stats computes the intervals;
core.schema.sweep_format refuses, when a sweep file is loaded, a claim that its declared seeds cannot decide
under any outcome.

The sequential rule (`python -m sweeps.run SWEEP --until-decided`) looks at a claim at the sweep file's
declared seed count and again at each of LOOKS above it (3, 6, 10). Every look of that plan is judged at the
Bonferroni level 1 - (1 - LEVEL) / (number of looks the plan can make), the declared look included: over all
of them the chance of a false call stays at or below 1 - LEVEL, whatever rule decides to look again (the union
bound). A sweep that declares 10 seeds or more is a fixed design, judged at LEVEL.
"""
from __future__ import annotations

import math

LEVEL = 0.95                 # the family-wise confidence of a claim's verdict over all its looks
MIN_SEEDS = 3                # the fewest seeds a row needs before any verdict
LOOKS = (3, 6, 10)           # the sequential rule's seed counts per row
MAJORITY = 0.5               # a status holds "as a rule": more than half the runs


def looks_from(declared: int) -> tuple[int, ...]:
    """The seed counts a claim can be looked at, from the sweep file's `declared` seeds on."""
    return (declared,) + tuple(k for k in LOOKS if k > declared)


def look_level(level: float, declared: int) -> float:
    """The level of every look of a claim whose sweep file declares `declared` seeds (Bonferroni over
    looks_from(declared))."""
    return 1 - (1 - level) / len(looks_from(declared))


def share_runs_needed(level: float) -> int:
    """The fewest runs with which the share rule can decide a status either way at `level`: with all n runs
    matching, the one-sided exact (Clopper-Pearson) lower bound of the share is (1 - level)^(1/n), which must
    lie above MAJORITY (and with none matching, symmetrically, the upper bound below it)."""
    return math.floor(math.log(1 - level) / math.log(MAJORITY)) + 1


def undecidable(claim, declared: int, level: float = LEVEL) -> str:
    """Why a claim (core.schema.claims.Claim) cannot be decided at its sweep file's `declared` seeds under any
    outcome, with the seeds it needs; '' when some outcome decides it."""
    if declared < MIN_SEEDS:
        return f"a verdict needs at least {MIN_SEEDS} seeds a row; the file declares {declared}"
    if claim.test == "status" and claim.rule == "share":
        need = share_runs_needed(look_level(level, declared))
        if declared < need:
            while need > declared and share_runs_needed(look_level(level, need)) > need:
                need += 1
            return (f"the share rule cannot make a status the rule with {declared} runs a row at "
                    f"{look_level(level, declared):.1%} (all {declared} matching leave the share's lower bound at "
                    f"{(1 - look_level(level, declared)) ** (1 / declared):.2f}); it needs {need} seeds"
                    + ("; a status read on z std can use 'rule: spread'" if set(claim.equals) <= {"ok", "collapsed"}
                       and len(claim.equals) == 1 else ""))
    return ""
