"""The judge: a sweep's claims on one group of its runs. Pure: it reads run directories and returns data, and
writes nothing (analysis.writer and analysis.report turn what it returns into files; analysis.comparisons
judges the same claims on sibling run trees; analysis.sequential reads it between the looks of --until-decided).

A judgement reads the runs of one group (analysis.selection: the runs whose configs differ only in their
cases' own settings and the seed), the untrained network's runs at the same preset (the floor of the claims
read in the scale's own units), and each claim's registered form (analysis.registered), and returns the
verdicts with the runs and curves they read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis import stats
from analysis.curve_metrics import add_curve_metrics
from analysis.datasets import chance_of
from analysis.facts import Facts
from analysis.registered import judge_all_registered, registered_forms_of
from analysis.runs import UNFINISHED, load_curves, load_runs
from analysis.selection import Picked, ReportError, select_runs
from analysis.verdicts import Verdict, judge_all
from core.schema.claims import FLOOR_SWEEP
from core.schema.sweep_format import Sweep


@dataclass
class Judgement:
    """One sweep judged on one group of runs under one runs directory."""
    sweep: Sweep
    runs_dir: Path
    runs: pd.DataFrame                  # the group's runs (duplicates resolved), with the curve metrics
    curves: pd.DataFrame                # their metrics.jsonl rows
    picked: Picked                      # the group
    notes: list[str]                    # what was left out, and why
    floor: pd.DataFrame | None          # the untrained network's finished runs at the group's preset
    verdicts: list[Verdict]
    level: float

    @property
    def preset(self) -> str | None:
        return self.picked.preset

    @property
    def done(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != UNFINISHED]


def floor_runs(runs_dir: str | Path, preset: str | None) -> pd.DataFrame | None:
    """The untrained network's finished runs at `preset` (None: at every preset) under `runs_dir`
    (core.schema.claims.FLOOR_SWEEP), the floor of the claims read in the scale's own units; None when there are
    none."""
    runs = load_runs(runs_dir, FLOOR_SWEEP)
    if runs.empty:
        return None
    runs = runs[((runs["preset"] == preset) | (preset is None)) & (runs["status"] != UNFINISHED)]
    return runs if len(runs) else None


def facts_for(runs: pd.DataFrame, preset: str | None, sweep: Sweep, floor, level: float) -> Facts:
    return Facts(runs, preset, chance_of(runs[runs["status"] != UNFINISHED]), floor, level, len(sweep.seeds))


def group_runs(sweep: Sweep, runs_dir: str | Path, preset: str | None, **pick):
    """The runs a report of `sweep` reads from `runs_dir` (one group, duplicates resolved, with the curve
    metrics), their curves, the group (Picked) and the notes on what was left out; ReportError if there are
    none, or if the group to report is not clear. `pick`: select_runs's group, run_ids or like."""
    runs_root = Path(runs_dir) / sweep.name
    runs = load_runs(runs_dir, sweep.name)
    if runs.empty:
        raise ReportError(f"no runs found for sweep '{sweep.name}' in {runs_root}; "
                          f"create them with: python -m sweeps.run {sweep.name}")
    chosen, picked, notes = select_runs(runs, sweep, runs_root, preset, **pick)
    curves = load_curves(runs_dir, sweep.name, run_ids=list(chosen["run_id"]))
    return add_curve_metrics(chosen, curves), curves, picked, notes


def judge_group(sweep: Sweep, runs_dir: str | Path, preset: str | None = None, level: float = stats.LEVEL,
                registered: bool = True, floors: dict | None = None, **pick) -> Judgement:
    """`sweep`'s claims judged on one group of its runs under `runs_dir` (`pick`: select_runs's group, run_ids
    or like); with `registered`, each claim under its registered form and every amendment too
    (analysis.registered). The floor is the untrained network's runs at the group's preset under `runs_dir`,
    else those `floors` holds for that preset (another tree's: the untrained network trains nothing, so no
    setting but the preset's moves it). ReportError when there is nothing to judge or the group is not clear."""
    runs, curves, picked, notes = group_runs(sweep, runs_dir, preset, **pick)
    floor = floor_runs(runs_dir, picked.preset)
    if floor is None:
        floor = (floors or {}).get(picked.preset)
    facts = facts_for(runs, picked.preset, sweep, floor, level)
    verdicts = (judge_all_registered(sweep, facts, registered_forms_of(sweep, runs_dir)) if registered
                else judge_all(sweep.claims, facts))
    return Judgement(sweep, Path(runs_dir), runs, curves, picked, notes, floor, verdicts, level)


def judge_sweep(sweep: Sweep, runs_dir: str | Path, preset: str | None = None, level: float = stats.LEVEL,
                group: str | None = None):
    """The verdicts of `sweep`'s claims on its runs under `runs_dir` (one group), and those runs; what
    `python -m sweeps.run --until-decided` reads between its looks. ReportError when there are no runs."""
    j = judge_group(sweep, runs_dir, preset, level, group=group)
    return j.verdicts, j.runs
