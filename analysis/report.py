"""Write a sweep's report, or every sweep's report and the index page.

    python -m analysis.report NAME [--runs-dir records/cpu] [--out reports] [--preset P]
    python -m analysis.report --all [--runs-dir records/cpu] [--out reports] [--preset P] [--bench-dir DIR]

The defaults regenerate the committed reproduction: reports/ from the run records in records/cpu/.
For your own runs: --runs-dir runs --out runs/reports (where sweeps.run writes its report).

NAME is a sweep name (ablations/NAME.yaml) or a path to a sweep file. Runs are read from
<runs-dir>/<sweep name>/; only one preset is reported (default: that of the most recently
started run). A report is <out>/<sweep>/: README.md (the page: table, figures, the paper's claims
with verdicts, recipe differences), table.md, table.csv, table.tex, curves.png and, for a numeric
axis (batch size, d), axis.png. --all also writes <out>/README.md, the index of every sweep in
ablations/; a sweep without runs is listed there with "nothing to report", and, from the throughput
records in --bench-dir (default: records/benchmarks with the default --runs-dir, none otherwise), a speed
table (analysis.speed). The sweep runner calls `write_report` in-process.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from analysis.axis_figures import axis_figure, numeric_axis
from analysis.curve_metrics import add_curve_metrics
from analysis.datasets import chance_acc
from analysis.figures import curves_figure, save_curves
from analysis.index import INDEX, Entry, index_markdown, no_data_verdicts
from analysis.recipe import differences, load_recipe, our_evaluation
from analysis.report_page import PAGE, SweepReport, page_markdown
from analysis.runs import UNFINISHED, load_curves, load_runs
from analysis.selection import plotted_runs, select_runs
from analysis.speed import load_benchmarks, speed_section
from analysis.sweepfile import ABLATIONS_DIR, ReportError, Sweep, known_sweeps, load_sweep
from analysis.table_files import header_lines, title_line, to_csv, to_latex, to_markdown
from analysis.tables import aggregate
from analysis.verdicts import Facts, judge_all

DEFAULT_RUNS = "records/cpu"      # the committed CPU-scale reproduction (records/README.md)
DEFAULT_BENCH = "records/benchmarks"   # the committed throughput records (python -m benchmarks.throughput --json)

OUTPUTS = ("table.md", "table.csv", "table.tex", "curves.png")


def _facts(chosen, sweep: Sweep, preset) -> Facts:
    """The table the claims are judged on: the sweep's metrics plus any metric a claim reads."""
    metrics = list(dict.fromkeys(sweep.metrics + sorted({m for c in sweep.claims for m in c.metrics()})))
    datasets = {str(d) for d in chosen["dataset"].dropna()}
    chance = chance_acc(next(iter(datasets)) if len(datasets) == 1 else "")
    return Facts(aggregate(chosen, replace(sweep, metrics=metrics)), chosen, preset, chance)


def write_sweep(sweep: Sweep, runs_dir: str | Path, out_dir: str | Path, preset: str | None = None) -> SweepReport:
    """Write one sweep's report directory; raise ReportError when there is nothing to report."""
    runs_root = Path(runs_dir) / sweep.name
    runs = load_runs(runs_dir, sweep.name)
    if runs.empty:
        raise ReportError(f"no runs found for sweep '{sweep.name}' in {runs_root}; "
                          f"create them with: python -m sweeps.run {sweep.name}")
    chosen, preset, notes = select_runs(runs, sweep, runs_root, preset)
    curves = load_curves(runs_dir, sweep.name, run_ids=list(chosen["run_id"]))
    chosen = add_curve_metrics(chosen, curves)
    table = aggregate(chosen, sweep)
    header = header_lines(sweep, chosen, preset, notes)
    verdicts = judge_all(sweep.claims, _facts(chosen, sweep, preset))
    recipe = load_recipe()
    done = chosen[chosen["status"] != UNFINISHED]
    rep = SweepReport(sweep, preset, table, chosen, header, verdicts, differences(sweep, done, recipe),
                      our_evaluation(done), recipe, figures=["curves.png"])

    out = Path(out_dir) / sweep.name
    out.mkdir(parents=True, exist_ok=True)
    rep.paths = [out / name for name in OUTPUTS]
    rep.paths[0].write_text(to_markdown(table, sweep, header))
    rep.paths[1].write_text(to_csv(table))
    rep.paths[2].write_text(to_latex(table, sweep, header))

    plotted = plotted_runs(chosen, table)
    groups = list(dict.fromkeys(zip(table["case"], table["grid_label"])))
    title = f"{title_line(sweep)} (preset {preset})" if preset else title_line(sweep)
    mine = curves[curves["run_id"].isin(plotted["run_id"])]
    save_curves(curves_figure(mine, plotted, groups, title=title), rep.paths[3])
    key = numeric_axis(sweep)
    if key is not None:
        rep.paths.append(save_curves(axis_figure(table, done, sweep, key, title=title), out / "axis.png"))
        rep.figures.append("axis.png")
    page = out / PAGE
    page.write_text(page_markdown(rep))
    rep.paths.append(page)
    return rep


def write_report(name_or_path: str | Path, runs_dir: str | Path = "runs", out_dir: str | Path = "reports",
                 preset: str | None = None, ablations_dir: str | Path = ABLATIONS_DIR) -> list[Path]:
    """Write <out_dir>/<sweep>/ (table.md, table.csv, table.tex, curves.png, [axis.png], README.md);
    return their paths. Raises ReportError (one-line message) for an unknown sweep or no runs."""
    sweep = load_sweep(name_or_path, Path(ablations_dir))
    return write_sweep(sweep, runs_dir, out_dir, preset).paths


def write_all(runs_dir: str | Path = "runs", out_dir: str | Path = "reports", preset: str | None = None,
              ablations_dir: str | Path = ABLATIONS_DIR, command: str = "",
              bench_dir: str | Path | None = None) -> tuple[list[Path], list[str]]:
    """Every sweep's report and <out_dir>/README.md; returns (paths written, one-line problems).

    A sweep without runs (or without runs of `preset`) is listed in the index, not an error; so is a file
    in `bench_dir` that is not a throughput record.
    """
    names = known_sweeps(Path(ablations_dir))
    if not names:
        raise ReportError(f"no sweep files in {ablations_dir}")
    entries, paths, problems = [], [], []
    for name in names:
        sweep = load_sweep(name, Path(ablations_dir))     # a malformed sweep file is an error: fix it
        try:
            rep = write_sweep(sweep, runs_dir, out_dir, preset)
        except ReportError as err:
            problems.append(f"{name}: {err}")
            entries.append(Entry(sweep, None, no_data_verdicts(sweep, "no runs to report"), str(err)))
            continue
        paths += rep.paths
        entries.append(Entry(sweep, rep, rep.verdicts))
    speed: list[str] = []
    if bench_dir is not None:
        records, bench_problems = load_benchmarks(bench_dir)
        problems += bench_problems
        speed = speed_section(records, bench_dir)
    command = command or (f"python -m analysis.report --all --runs-dir {runs_dir} --out {out_dir}"
                          + (f" --bench-dir {bench_dir}" if bench_dir is not None else ""))
    index = Path(out_dir) / INDEX
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(index_markdown(entries, command, speed))
    return paths + [index], problems


def _bench_dir(args) -> str | None:
    """--bench-dir, or the committed records' when the runs are the committed ones; None: no speed table."""
    if args.bench_dir is not None:
        return args.bench_dir or None                  # --bench-dir '' turns it off
    return DEFAULT_BENCH if args.runs_dir == DEFAULT_RUNS else None


def _command(args) -> str:
    parts = ["python -m analysis.report", "--all", "--runs-dir", args.runs_dir, "--out", args.out]
    if args.preset:
        parts += ["--preset", args.preset]
    if args.bench_dir is not None:
        parts += ["--bench-dir", args.bench_dir]
    return " ".join(shlex.quote(p) if i else p for i, p in enumerate(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="sweep name (ablations/NAME.yaml) or path to a sweep file")
    parser.add_argument("--all", action="store_true", help="every sweep in ablations/, plus the index page")
    parser.add_argument("--runs-dir", default=DEFAULT_RUNS, help=f"runs root (default: {DEFAULT_RUNS}, the committed records)")
    parser.add_argument("--out", default="reports", help="reports root (default: reports)")
    parser.add_argument("--preset", default=None,
                        help="report runs of this preset (default: that of the most recent run)")
    parser.add_argument("--bench-dir", default=None,
                        help=f"throughput records for the index's speed table (default: {DEFAULT_BENCH} with the "
                             "default --runs-dir, none otherwise; '' for none)")
    parser.add_argument("--ablations-dir", default=str(ABLATIONS_DIR), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if bool(args.name) == bool(args.all):
        parser.error("give a sweep NAME or --all")
    try:
        if args.all:
            paths, problems = write_all(args.runs_dir, args.out, args.preset, args.ablations_dir, _command(args),
                                        _bench_dir(args))
        else:
            paths, problems = write_report(args.name, args.runs_dir, args.out, args.preset, args.ablations_dir), []
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e} ({e.filename})" if e.filename else f"error: {e}", file=sys.stderr)
        return 1
    for p in paths:
        print(f"wrote {p}")
    for p in problems:
        print(f"not reported: {p}", file=sys.stderr)
    if not args.all:
        print()
        print(paths[0].read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
