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

from dataclasses import dataclass, field
from pathlib import Path

from analysis import stats
from analysis.claim_tests import TESTS
from analysis.facts import Facts, NoData
from analysis.parts import Part
from analysis.runs import UNFINISHED
from analysis.verdict_words import (INCONCLUSIVE, NO_DATA, NOT_REPRODUCED, NOT_TESTABLE, OUTCOME,  # noqa: F401
                                    REPRODUCED, REVERSED, THRESHOLD_SENSITIVE, VERDICTS, WEAKER)
from core.schema.claims import Claim
from core.schema.design import undecidable


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


def run_ids(facts: Facts, claim: Claim) -> frozenset:
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
    except NoData as missing:
        parts, outcome, evidence = (), NO_DATA, str(missing)
    how = failure_kind(parts) if outcome == NOT_REPRODUCED else ""
    flags = (THRESHOLD_SENSITIVE,) if any(THRESHOLD_SENSITIVE in p.note for p in parts) else ()
    needed = [p.seeds_needed for p in parts if p.place in (stats.ACROSS, stats.TOO_FEW)]
    seeds = max(needed) if needed and None not in needed else None
    ids = run_ids(facts, claim) if len(facts.runs) and "path" in facts.runs else frozenset()
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
