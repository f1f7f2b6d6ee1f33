"""Which runs a report shows: one group of runs (one preset, one numerics version, configs that differ only in the
cases' own settings and the seed, as each run's meta.json recorded it when the run was made: core.schema.group_record),
the sweep's cases, duplicates resolved; notes say what was left out. A report never judges runs of two groups
together: where the choice is not clear it refuses."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.runs import UNFINISHED, resolve_duplicates, select_preset
from core.schema.group_record import PRESET, Group, differences, differing_keys, group_names, group_slug, read_group
from core.schema.sweep_format import Sweep


class ReportError(Exception):
    """A user-facing error of the report (no runs, no runs of a preset): the CLI prints its one line."""


@dataclass(frozen=True)
class Picked:
    """The group a report shows, its readable name and its folder name."""
    group: Group
    name: str
    slug: str

    @property
    def preset(self) -> str | None:
        return self.group.preset


@dataclass(frozen=True)
class Like:
    """Pick the group that equals `group` but for `keys` (core.schema.group_record.differing_keys: dotted config
    keys, `preset`, `numerics`; the lr check: another base lr)."""
    group: Group
    keys: tuple


BACKFILL = "python -m sweeps.backfill_groups"     # records the group of runs made before runs recorded it
SHOWN = 10                                          # run ids a note names before it counts the rest


def with_groups(runs: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """`runs` of the sweep's cases, with a `group` column: the group each run's meta.json records
    (core.schema.group_record.Group), None where it records none."""
    known = runs[runs["case"].isin(sweep.cases)].copy()
    known["group"] = [read_group(m if isinstance(m, dict) else {}) for m in known["meta_json"]]
    return known


def _ungrouped(known: pd.DataFrame) -> str:
    """A note on the runs that record no group, and how to record it."""
    dirs = sorted({str(Path(p).parent.parent) for p in known["path"]})
    ids = sorted(str(r) for r in known["run_id"])
    listed = ", ".join(ids[:SHOWN]) + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")
    return (f"ignored {len(ids)} run(s) whose meta.json records no group (made before runs recorded it): "
            f"{listed}; {BACKFILL} {' '.join(dirs)} records it")


def _listing(known: pd.DataFrame, names: dict, groups) -> str:
    counts = known["group"].value_counts()
    return ", ".join(f"'{names[g]}' ({counts[g]} run{'s' if counts[g] > 1 else ''})" for g in groups)


def _differences(groups: list[Group]) -> str:
    """'optim.base_lr (1.5 / 0.05)': the settings (and presets, numerics) in which `groups` differ."""
    return ", ".join(f"{key} ({' / '.join(values)})" for key, values in differences(groups))


def _refuse(sweep: Sweep, runs_root: Path, known: pd.DataFrame, names: dict, groups: list[Group]):
    groups = sorted(groups, key=lambda g: names[g])
    return ReportError(f"the runs of '{sweep.name}' in {runs_root} are {len(groups)} groups that no verdict may "
                       f"judge together: they differ in {_differences(groups)}; report one with --group NAME "
                       f"(python -m analysis.report {sweep.name} --runs-dir {runs_root.parent} --group NAME), NAME "
                       f"one of {_listing(known, names, groups)}")


def _like(groups, like: Like) -> list[Group]:
    """The groups that differ from `like.group` in `like.keys` alone; where `preset` is among them, the keys either
    preset sets may differ too (they are what a preset is), while every other setting must be equal."""
    def allowed(g: Group) -> set:
        return set(like.keys) | (set(g.preset_values) | set(like.group.preset_values) if PRESET in like.keys else set())
    return [g for g in groups if g != like.group and set(differing_keys(g, like.group)) <= allowed(g)]


def pick_group(known: pd.DataFrame, sweep: Sweep, runs_root: Path, preset: str | None = None,
               group: str | None = None, run_ids=None, like: Like | None = None) -> Picked:
    """The group to report: the one holding `run_ids` (the runs a sweep just ran), or named `group` (its name or
    folder name), or like `like`; by default that of `preset` (or of the most recent run's preset). More than
    one group left is a ReportError naming what differs and how to pick one."""
    names = group_names(known["group"])
    groups = sorted(names, key=lambda g: names[g])
    if run_ids is not None:
        mine = list(dict.fromkeys(known.loc[known["run_id"].isin(list(run_ids)), "group"]))
        if len(mine) > 1:
            raise _refuse(sweep, runs_root, known, names, mine)
        if mine:
            return Picked(mine[0], names[mine[0]], group_slug(names[mine[0]]))
    if group is not None:
        found = [g for g in groups if group in (names[g], group_slug(names[g]))]
        if not found:
            raise ReportError(f"no group '{group}' among the runs of '{sweep.name}' in {runs_root}; its groups: "
                              f"{_listing(known, names, groups)}")
        return Picked(found[0], names[found[0]], group_slug(names[found[0]]))
    if like is not None:
        candidates = _like(groups, like)
        what = f"that differ from the reported group in {', '.join(like.keys)} alone"
    else:
        _, preset = select_preset(known, preset)
        candidates = [g for g in groups if g.preset == preset]
        what = f"with preset '{preset}'"
    if not candidates:
        found = sorted({str(p) for p in known["preset"].dropna()})
        raise ReportError(f"no runs {what} for sweep '{sweep.name}' in {runs_root} "
                          f"(presets found: {', '.join(found) or 'none'})")
    if len(candidates) > 1:
        raise _refuse(sweep, runs_root, known, names, candidates)
    return Picked(candidates[0], names[candidates[0]], group_slug(names[candidates[0]]))


def select_runs(runs: pd.DataFrame, sweep: Sweep, runs_root: Path, preset: str | None = None,
                group: str | None = None, run_ids=None, like: Like | None = None):
    """Runs to report (one group, known cases, duplicates resolved), the group (Picked), and notes."""
    notes = []
    no_meta = runs[runs["case"].isna()]
    if len(no_meta):
        notes.append(f"ignored {len(no_meta)} run dir(s) without a readable meta.json: "
                     + ", ".join(sorted(Path(p).name for p in no_meta["path"])))
    unknown = runs[runs["case"].notna() & ~runs["case"].isin(sweep.cases)]
    if len(unknown):
        cases = ", ".join(sorted({str(c) for c in unknown["case"]}))
        notes.append(f"ignored {len(unknown)} run(s) whose case is not in the sweep file: {cases}")
    known = with_groups(runs, sweep)
    ungrouped = known[known["group"].isna()]
    if len(ungrouped):
        notes.append(_ungrouped(ungrouped))
    known = known[known["group"].notna()]
    if known.empty:
        raise ReportError(f"no runs of the cases of sweep '{sweep.name}' in {runs_root}"
                          + (f" that record their group ({notes[-1]})" if len(ungrouped) else ""))
    picked = pick_group(known, sweep, runs_root, preset, group, run_ids, like)
    chosen = known[known["group"].map(lambda g: g == picked.group)]
    names = group_names(known["group"])
    others = sorted((g for g in names if g != picked.group), key=lambda g: names[g])
    if others:
        notes.append(f"other groups in {runs_root}, not judged with these: {_listing(known, names, others)}; "
                     "report one with --group NAME")
    chosen, dup_notes = resolve_duplicates(chosen)
    notes += dup_notes
    for _, r in chosen[chosen["status"] == UNFINISHED].iterrows():
        notes.append(f"unfinished, not counted: '{r['case']}' seed {r['seed']} ({r['run_id']})")
    return chosen, picked, notes


def plotted_runs(chosen: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Finished runs of each row; a row with none shows its unfinished runs instead."""
    parts = []
    for _, row in table.iterrows():
        mine = chosen[(chosen["case"] == row["case"]) & (chosen["grid_label"] == row["grid_label"])]
        done = mine[mine["status"] != UNFINISHED]
        parts.append(done if len(done) else mine)
    return pd.concat(parts) if parts else chosen.iloc[:0]
