"""Seeds until decided: `python -m sweeps.run SWEEP --until-decided [--max-seeds N]`, planned here (the runner
only trains what a look asks for: `run_looks` takes the training as a callback).

The rule, declared before any seed is added (analysis.stats): a claim's rows are looked at when they have
LOOKS[0], LOOKS[1], ... seeds (3, 6, 10). At each look every claim is judged; the rows of a claim that is
still inconclusive get the seeds of the next look (and so does the untrained network, the floor, when the
claim reads the scale's own units), up to --max-seeds. Claims that are decided, not testable at this scale
or without data get nothing. Every look, the sweep file's own seeds included, is judged at the level
analysis.stats.look_level gives (Bonferroni over the looks that can follow the sweep file's seed count), so
looking again does not inflate false calls: tests/analysis/test_sequential_error.py runs this loop on simulated claims
and measures the false-call rate and the power. A claim still inconclusive at the last look says how many
seeds a decision would need at its spread (with one seed a row, how many a first estimate of the spread needs).
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis import stats
from analysis.judge import judge_sweep
from analysis.report_page import undecided_text
from analysis.runs import UNFINISHED
from analysis.selection import ReportError
from analysis.verdicts import INCONCLUSIVE, Verdict
from core.schema.claims import FLOOR_SWEEP
from core.schema.sweep_format import Sweep


@dataclass(frozen=True)
class Look:
    """What one look asks for: per case, the seeds it must have; the floor's seeds; the claims still open."""
    seeds: dict[str, tuple[int, ...]]     # case -> every seed the case must have after this look
    floor_seeds: tuple[int, ...]          # seeds of the untrained network (FLOOR_SWEEP) the open claims read
    open_claims: tuple[Verdict, ...]      # inconclusive claims that get seeds now
    stuck: tuple[Verdict, ...]            # inconclusive claims already at --max-seeds


def next_look(n: int, max_seeds: int) -> int | None:
    """The seed count of the look after n seeds, capped at max_seeds; None when none is left."""
    later = [k for k in stats.LOOKS if k > n]
    if not later or n >= max_seeds:
        return None
    return min(later[0], max_seeds)


def seeds_for(existing: set[int], count: int) -> tuple[int, ...]:
    """`count` seeds: the existing ones first, then the smallest unused non-negative integers."""
    out, s = sorted(existing)[:count], 0
    while len(out) < count:
        if s not in existing:
            out.append(s)
        s += 1
    return tuple(sorted(out))


def _rows(v: Verdict) -> list[str]:
    c = v.claim
    return list(dict.fromkeys([*c.cases, *([c.other] if c.other else []), *([c.baseline] if c.baseline else [])]))


def plan_look(verdicts: list[Verdict], runs, max_seeds: int) -> Look:
    """The seeds each row needs for the next look of its open claims (module docstring)."""
    finished = runs[runs["status"] != UNFINISHED]
    have = {case: {int(s) for s in finished[finished["case"] == case]["seed"].dropna()}
            for case in set(finished["case"].dropna())}
    seeds: dict[str, set[int]] = {}
    floor: set[int] = set()
    opened, stuck = [], []
    for v in verdicts:
        if v.verdict != INCONCLUSIVE:
            continue
        rows = _rows(v)
        shared = set.intersection(*(have.get(r, set()) for r in rows))      # the seeds the claim is judged on
        target = next_look(len(shared), max_seeds)
        if target is None:
            stuck.append(v)
            continue
        opened.append(v)
        wanted = seeds_for(shared | set().union(*(have.get(r, set()) for r in rows)), target)
        for r in rows:
            seeds.setdefault(r, set()).update(wanted)
        if v.claim.in_gain or v.claim.floor_margin is not None:
            floor.update(wanted)
    missing = {case: tuple(sorted(s)) for case, s in seeds.items() if not s <= have.get(case, set())}
    return Look(missing, tuple(sorted(floor)), tuple(opened), tuple(stuck))


def look_now(sweep: Sweep, runs_dir, preset: str, level: float, max_seeds: int) -> tuple[Look, list[Verdict]]:
    """Judge the sweep's claims on what `runs_dir` holds and plan the next look."""
    try:
        verdicts, chosen = judge_sweep(sweep, runs_dir, preset, level)
    except ReportError:
        return Look({c: tuple(sweep.seeds) for c in sweep.cases}, (), (), ()), []
    return plan_look(verdicts, chosen, max_seeds), verdicts


def summary_lines(verdicts: list[Verdict], runs) -> list[str]:
    """Per claim: decided with how many seeds, or the seeds a decision would need."""
    finished = runs[runs["status"] != UNFINISHED] if runs is not None else None
    out = []
    for v in verdicts:
        n = max((finished[finished["case"] == r]["seed"].nunique() for r in _rows(v)), default=0) \
            if finished is not None else 0
        head = v.claim.paper[:70] + ("..." if len(v.claim.paper) > 70 else "")
        if v.verdict == INCONCLUSIVE:
            out.append(f"  undecided with {n} seed{'' if n == 1 else 's'} ({undecided_text(v)}): {head}")
        else:
            out.append(f"  {v.word} with {n} seeds: {head}")
    return out


def run_looks(sweep: Sweep, runs_dir, preset: str, level: float | None, max_seeds: int | None, train) -> list[str]:
    """Look, add the seeds the open claims need (train(sweep_name, cases, seeds) runs them), look again, until
    no claim is open or `max_seeds` is reached (None: the last look's); returns the summary lines, the first
    naming the rule."""
    level = stats.LEVEL if level is None else level
    max_seeds = stats.LOOKS[-1] if max_seeds is None else max_seeds
    if not 0.5 <= level < 1 or max_seeds < 1:
        raise ValueError(f"a level in [0.5, 1) and at least one seed, got {level} and {max_seeds}")
    verdicts: list[Verdict] = []
    for _ in range(len(stats.LOOKS) + 1):
        look, verdicts = look_now(sweep, runs_dir, preset, level, max_seeds)
        if not look.seeds and not look.floor_seeds:
            break
        by_seeds: dict[tuple[int, ...], list[str]] = {}
        for case, seeds in look.seeds.items():
            by_seeds.setdefault(seeds, []).append(case)
        if look.floor_seeds and sweep.name != FLOOR_SWEEP:
            train(FLOOR_SWEEP, None, look.floor_seeds)
        for seeds, cases in by_seeds.items():
            train(sweep.name, [c for c in sweep.cases if c in cases], seeds)
    try:
        _, runs = judge_sweep(sweep, runs_dir, preset, level)
    except ReportError:
        runs = None
    looks = stats.looks_from(len(sweep.seeds))
    head = (f"until decided (looks at {', '.join(map(str, looks))} seeds, at most {max_seeds}; {level:.0%} overall, "
            f"{stats.look_level(level, len(sweep.seeds)):.1%} at every look):")
    return [head] + summary_lines(verdicts, runs)
