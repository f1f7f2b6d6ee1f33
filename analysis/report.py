"""Write a sweep's report: table.md, table.csv, table.tex and curves.png.

    python -m analysis.report NAME [--runs-dir runs] [--out reports] [--preset P]

NAME is a sweep name (ablations/NAME.yaml) or a path to a sweep file. Runs are read from
<runs-dir>/<sweep name>/; only one preset is reported (default: that of the most recently
started run). The sweep runner calls `write_report` in-process.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis.figures import curves_figure, save_curves
from analysis.runs import UNFINISHED, load_curves, load_runs, resolve_duplicates, select_preset
from analysis.sweepfile import ABLATIONS_DIR, ReportError, Sweep, load_sweep
from analysis.table_files import header_lines, title_line, to_csv, to_latex, to_markdown
from analysis.tables import aggregate

OUTPUTS = ("table.md", "table.csv", "table.tex", "curves.png")


def _select(runs: pd.DataFrame, sweep: Sweep, runs_root: Path, preset: str | None):
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


def _plotted_runs(chosen: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Finished runs of each row; a row with none shows its unfinished runs instead."""
    parts = []
    for _, row in table.iterrows():
        mine = chosen[(chosen["case"] == row["case"]) & (chosen["grid_label"] == row["grid_label"])]
        done = mine[mine["status"] != UNFINISHED]
        parts.append(done if len(done) else mine)
    return pd.concat(parts) if parts else chosen.iloc[:0]


def write_report(name_or_path: str | Path, runs_dir: str | Path = "runs", out_dir: str | Path = "reports",
                 preset: str | None = None, ablations_dir: str | Path = ABLATIONS_DIR) -> list[Path]:
    """Write <out_dir>/<sweep>/{table.md,table.csv,table.tex,curves.png}; return their paths.

    Raises ReportError (one-line message) for an unknown sweep or when there is nothing to report.
    """
    sweep = load_sweep(name_or_path, Path(ablations_dir))
    runs_root = Path(runs_dir) / sweep.name
    runs = load_runs(runs_dir, sweep.name)
    if runs.empty:
        raise ReportError(f"no runs found for sweep '{sweep.name}' in {runs_root}; "
                          f"create them with: python -m sweeps.run {sweep.name}")
    chosen, preset, notes = _select(runs, sweep, runs_root, preset)
    table = aggregate(chosen, sweep)
    header = header_lines(sweep, chosen, preset, notes)

    out = Path(out_dir) / sweep.name
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in OUTPUTS]
    paths[0].write_text(to_markdown(table, sweep, header))
    paths[1].write_text(to_csv(table))
    paths[2].write_text(to_latex(table, sweep, header))

    plotted = _plotted_runs(chosen, table)
    curves = load_curves(runs_dir, sweep.name, run_ids=list(plotted["run_id"]))
    groups = list(dict.fromkeys(zip(table["case"], table["grid_label"])))
    title = f"{title_line(sweep)} (preset {preset})" if preset else title_line(sweep)
    save_curves(curves_figure(curves, plotted, groups, title=title), paths[3])
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="sweep name (ablations/NAME.yaml) or path to a sweep file")
    parser.add_argument("--runs-dir", default="runs", help="runs root (default: runs)")
    parser.add_argument("--out", default="reports", help="reports root (default: reports)")
    parser.add_argument("--preset", default=None,
                        help="report runs of this preset (default: that of the most recent run)")
    args = parser.parse_args(argv)
    try:
        paths = write_report(args.name, args.runs_dir, args.out, args.preset)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e} ({e.filename})" if e.filename else f"error: {e}", file=sys.stderr)
        return 1
    for p in paths:
        print(f"wrote {p}")
    print()
    print(paths[0].read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
