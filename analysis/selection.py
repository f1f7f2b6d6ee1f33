"""Which runs a report shows: one preset, the sweep's cases, duplicates resolved; notes say what was left out."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.runs import UNFINISHED, resolve_duplicates, select_preset
from core.sweepfile import Sweep


class ReportError(Exception):
    """A user-facing error of the report (no runs, no runs of a preset): the CLI prints its one line."""


def select_runs(runs: pd.DataFrame, sweep: Sweep, runs_root: Path, preset: str | None):
    """Runs to report (one preset, known cases, duplicates resolved), the preset, and notes."""
    notes = []
    no_meta = runs[runs["case"].isna()]
    if len(no_meta):
        notes.append(f"ignored {len(no_meta)} run dir(s) without a readable meta.json: "
                     + ", ".join(sorted(Path(p).name for p in no_meta["path"])))
    unknown = runs[runs["case"].notna() & ~runs["case"].isin(sweep.cases)]
    if len(unknown):
        cases = ", ".join(sorted({str(c) for c in unknown["case"]}))
        notes.append(f"ignored {len(unknown)} run(s) whose case is not in the sweep file: {cases}")
    known = runs[runs["case"].isin(sweep.cases)]
    chosen, preset = select_preset(known if len(known) else runs, preset)
    if chosen.empty:
        found = sorted({str(p) for p in runs["preset"].dropna()})
        raise ReportError(f"no runs with preset '{preset}' for sweep '{sweep.name}' in {runs_root} "
                          f"(presets found: {', '.join(found) or 'none'})")
    chosen = chosen[chosen["case"].isin(sweep.cases)]
    others = known[known["preset"] != preset]["preset"].dropna().value_counts()
    if len(others):
        listing = ", ".join(f"{p} ({k} run{'s' if k > 1 else ''})" for p, k in others.items())
        notes.append(f"other presets in {runs_root}: {listing}; choose one with --preset")
    chosen, dup_notes = resolve_duplicates(chosen)
    notes += dup_notes
    for _, r in chosen[chosen["status"] == UNFINISHED].iterrows():
        notes.append(f"unfinished, not counted: '{r['case']}' seed {r['seed']} ({r['run_id']})")
    return chosen, preset, notes


def plotted_runs(chosen: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Finished runs of each row; a row with none shows its unfinished runs instead."""
    parts = []
    for _, row in table.iterrows():
        mine = chosen[(chosen["case"] == row["case"]) & (chosen["grid_label"] == row["grid_label"])]
        done = mine[mine["status"] != UNFINISHED]
        parts.append(done if len(done) else mine)
    return pd.concat(parts) if parts else chosen.iloc[:0]
