"""What claims are judged on (analysis.verdicts): the runs of one group, the floor, the level, and the per-seed
values a test reads. A missing row or metric raises NoData, which the verdict reports as "no data yet"."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis import stats
from analysis.runs import UNFINISHED
from analysis.tables import metric_label


@dataclass
class Facts:
    """What claims are judged on: the finished and unfinished runs of one group (duplicates resolved), one row
    each with case, seed, status, dim and the result metrics; the preset; the chance accuracy (%); the
    untrained network's finished runs at this preset (the floor of `relative_to: gain`); the interval's
    level and the sweep file's own seed count (stats.look_level)."""
    runs: pd.DataFrame
    preset: str | None
    chance: float | None             # None: the data set's class count is not known
    floor: pd.DataFrame | None = None
    level: float = stats.LEVEL
    declared: int = stats.LOOKS[0]

    def level_for(self, n: int) -> float:
        """The level a claim with n seeds is judged at: the sequential design's (stats.look_level), the same at
        every look of a claim, so n does not move it."""
        return stats.look_level(self.level, self.declared)


class NoData(Exception):
    pass


def finished(facts: Facts, case: str) -> pd.DataFrame:
    mine = facts.runs[(facts.runs["case"] == case) & (facts.runs["status"] != UNFINISHED)]
    if mine.empty:
        raise NoData(f"no finished runs of '{case}'")
    return mine


def values_of(runs: pd.DataFrame, metric: str) -> dict:
    values = pd.to_numeric(runs[metric], errors="coerce") if metric in runs else pd.Series(dtype=float)
    return {int(s): float(v) for s, v in zip(runs["seed"], values) if not pd.isna(v) and not pd.isna(s)}


def per_seed(facts: Facts, case: str, metric: str) -> dict:
    """{seed: value} of a case's finished runs that have the metric."""
    out = values_of(finished(facts, case), metric)
    if not out:
        raise NoData(f"no {metric_label(metric)} for '{case}'")
    return out


def floor_per_seed(facts: Facts, metric: str) -> dict:
    """{seed: value} of the untrained network at this preset (the floor of the scale's own units)."""
    runs = facts.floor
    out = values_of(runs[runs["status"] != UNFINISHED], metric) if runs is not None and len(runs) else {}
    if not out:
        raise NoData(f"no untrained-network floor for {metric_label(metric)} at preset {facts.preset}: run "
                      f"python -m sweeps.run random_network --preset {facts.preset} (the same seeds)")
    return out
