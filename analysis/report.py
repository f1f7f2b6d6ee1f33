"""Write a sweep's report, or every sweep's report and the index page.

    python -m analysis.report NAME [--runs-dir records/cpu] [--out reports] [--preset P] [--group G]
    python -m analysis.report --all [--runs-dir records/cpu] [--out reports] [--preset P] [--group G]
                                    [--bench-dir DIR] [--lr-check DIR ...] [--rungs DIR ...]

The defaults regenerate the committed reproduction: reports/ from the run records in records/cpu/.
For your own runs: --runs-dir runs, whose report goes to runs/reports (where sweeps.run writes it) unless --out
says otherwise: without --out the report of any other runs directory goes to <runs-dir>/reports, never into the
committed reports/ (and the command refuses, in one line, where that would be inside reports/ or records/).

NAME is a sweep name (ablations/NAME.yaml) or a path to a sweep file. Runs are read from
<runs-dir>/<sweep name>/. A report judges one group of runs (core.config.run_groups): runs whose configs differ only
in their cases' own settings and the seed, of one preset and one numerics version. Runs of another preset,
other --set overrides or other numerics are another group, with a report of its own: --group NAME picks one;
by default the group of --preset (default: the preset of the most recently started run), and where that
leaves more than one the report refuses, naming what differs. A report is <out>/<sweep>/<group>/ (e.g.
reports/stopgrad/cpu/): README.md (the page: table, figures, the paper's claims
with verdicts, recipe differences), table.md, table.csv, table.tex, curves.png and, for a numeric
axis (batch size, d), axis.png. --all also writes <out>/README.md, the index of every sweep in
ablations/; a sweep without runs is listed there with "nothing to report", and, from the throughput
records in --bench-dir (default: records/benchmarks with the default --runs-dir, none otherwise), a speed
table (analysis.speed). --lr-check names run trees that differ from --runs-dir only in optim.base_lr
(default with the default --runs-dir: records/cpu-lr*); each claim is judged on them too (on the group of
each tree that differs from the reported group in optim.base_lr alone), and its page and the index say
whether the verdict holds at every lr tried (analysis.lr_check). --rungs names run trees of other presets
(default with the default --runs-dir: records/cpu_full, the second CPU rung); each claim is judged on them too,
and the index sets its effect at each rung side by side, with a word on how it moved (analysis.scale_view).
The sweep runner calls `write_report`
in-process, with the run ids it just ran, so its report is the group of those runs.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from analysis import lr_check, scale_view
from analysis.axis_figures import axis_figure, numeric_axis
from analysis.collapse_site import diagnose, with_site
from analysis.curve_metrics import add_curve_metrics
from analysis.datasets import chance_of
from analysis.figures import curves_figure, save_curves
from analysis.index import INDEX, Entry, index_markdown, no_data_verdicts
from analysis.recipe import differences, load_recipe, our_evaluation
from analysis.report_page import PAGE, SweepReport, page_markdown
from analysis.runs import UNFINISHED, load_curves, load_runs
from analysis.selection import Like, Picked, ReportError, plotted_runs, select_runs
from analysis.speed import load_benchmarks, speed_section
from analysis.table_files import header_lines, title_line, to_csv, to_latex, to_markdown
from analysis.tables import aggregate
from analysis import stats
from analysis.verdicts import Facts, Verdict, judge_all
from core.schema.claims import FLOOR_SWEEP
from core.schema.record import META
from core.schema.sweep_format import ABLATIONS_DIR, Sweep, SweepFileError, known_sweeps, load_sweep

DEFAULT_RUNS = "records/cpu"      # the committed CPU-scale reproduction (records/README.md)
DEFAULT_BENCH = "records/benchmarks"   # the committed throughput records (python -m benchmarks.throughput --json)
DEFAULT_LR_CHECK = "records/cpu-lr*"   # the committed lr check of the reproduction (scripts/reproduce_cpu.sh)
DEFAULT_RUNGS = ("records/cpu_full",)   # the committed second CPU rung (preset cpu_full; issue 26)

OUTPUTS = ("table.md", "table.csv", "table.tex", "curves.png")
LR_KEY = "optim.base_lr"          # what an lr check's tree may differ in from the reported group
AXIS = "axis.png"      # only for a sweep along a numeric axis


def floor_runs(runs_dir: str | Path, preset: str | None):
    """The untrained network's finished runs at `preset` under `runs_dir` (core.schema.claims.FLOOR_SWEEP), the floor
    of the claims read in the scale's own units; None when there are none."""
    runs = load_runs(runs_dir, FLOOR_SWEEP)
    if runs.empty:
        return None
    runs = runs[(runs["preset"] == preset) & (runs["status"] != UNFINISHED)]
    return runs if len(runs) else None


def _facts(chosen, preset, sweep: Sweep, floor, level: float) -> Facts:
    return Facts(chosen, preset, chance_of(chosen[chosen["status"] != UNFINISHED]), floor, level, len(sweep.seeds))


def _runs(sweep: Sweep, runs_dir: str | Path, preset: str | None, **pick):
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


def _lr_cells(sweep: Sweep, chosen, picked: Picked, verdicts: list[Verdict], lr_dirs, floor,
              level: float) -> list[str]:
    """Per claim, the lr check's summary over the trees in `lr_dirs` (analysis.lr_check); [] without any. Each
    tree is judged on its group that differs from `picked` in the base lr alone."""
    if not lr_dirs:
        return []
    others: list[list[lr_check.Tried]] = [[] for _ in verdicts]
    preset = picked.preset
    for d in lr_dirs:
        try:
            alt, _, _, _ = _runs(sweep, d, preset, like=Like(picked.group, (LR_KEY,)))
        except ReportError:
            continue                                   # no runs of the sweep that differ in the base lr alone
        for i, v in enumerate(judge_all(sweep.claims, _facts(alt, preset, sweep, floor, level))):
            others[i].append(lr_check.Tried(lr_check.lr_label(alt[alt["status"] != UNFINISHED]), v))
    main = lr_check.lr_label(chosen[chosen["status"] != UNFINISHED])
    return [lr_check.summarize(lr_check.Tried(main, v), o) for v, o in zip(verdicts, others)]


def _rungs(sweep: Sweep, rep: SweepReport, rung_dirs, level: float) -> list[scale_view.Rung]:
    """The report's own rung and the same sweep judged on each tree of `rung_dirs` (its group of the most recent
    run's preset there); a tree without runs of the sweep, or whose group is not clear, is left out."""
    rungs = [scale_view.Rung(str(rep.preset), rep.verdicts, rep.runs)]
    for d in rung_dirs:
        try:
            runs, _, picked, _ = _runs(sweep, d, None)
        except ReportError:
            continue
        if picked.preset == rep.preset:
            continue                                    # the same rung: nothing to set beside it
        verdicts = judge_all(sweep.claims, _facts(runs, picked.preset, sweep, floor_runs(d, picked.preset), level))
        rungs.append(scale_view.Rung(str(picked.preset), verdicts, runs))
    return rungs


def judge_sweep(sweep: Sweep, runs_dir: str | Path, preset: str | None = None, level: float = stats.LEVEL,
                group: str | None = None):
    """The verdicts of `sweep`'s claims on its runs under `runs_dir` (one group), and those runs; what
    `python -m sweeps.run --until-decided` reads between its looks. ReportError when there are no runs."""
    chosen, _, picked, _ = _runs(sweep, runs_dir, preset, group=group)
    floor = floor_runs(runs_dir, picked.preset)
    return judge_all(sweep.claims, _facts(chosen, picked.preset, sweep, floor, level)), chosen


def write_sweep(sweep: Sweep, runs_dir: str | Path, out_dir: str | Path, preset: str | None = None,
                lr_dirs: tuple = (), group: str | None = None, run_ids=None, level: float = stats.LEVEL) -> SweepReport:
    """Write one group's report directory, <out_dir>/<sweep>/<group>/; raise ReportError when there is nothing
    to report or the group is not clear (analysis.selection.pick_group)."""
    chosen, curves, picked, notes = _runs(sweep, runs_dir, preset, group=group, run_ids=run_ids)
    preset = picked.preset
    table = aggregate(chosen, sweep)
    header = header_lines(sweep, chosen, picked.name, notes)
    floor = floor_runs(runs_dir, preset)
    verdicts = judge_all(sweep.claims, _facts(chosen, preset, sweep, floor, level))
    recipe = load_recipe()
    done = chosen[chosen["status"] != UNFINISHED]
    sites = diagnose(done, sweep.cases)
    rep = SweepReport(sweep, preset, table, chosen, header, verdicts, differences(sweep, done, recipe),
                      our_evaluation(done), recipe, figures=["curves.png"],
                      lr_cells=_lr_cells(sweep, chosen, picked, verdicts, lr_dirs, floor, level), level=level,
                      collapse_site=list(sites.values()), group=picked.name, folder=f"{sweep.name}/{picked.slug}")
    rep.verdicts = [with_site(v, sites) for v in verdicts]

    out = Path(out_dir) / rep.folder
    out.mkdir(parents=True, exist_ok=True)
    rep.paths = [out / name for name in OUTPUTS]
    rep.paths[0].write_text(to_markdown(table, sweep, header))
    rep.paths[1].write_text(to_csv(table))
    rep.paths[2].write_text(to_latex(table, sweep, header))

    plotted = plotted_runs(chosen, table)
    groups = list(dict.fromkeys(zip(table["case"], table["grid_label"])))
    title = f"{title_line(sweep)} ({'preset ' if picked.preset else ''}{picked.name})"
    mine = curves[curves["run_id"].isin(plotted["run_id"])]
    save_curves(curves_figure(mine, plotted, groups, title=title, paper=sweep.paper), rep.paths[3])
    key = numeric_axis(sweep)
    if key is not None:
        rep.paths.append(save_curves(axis_figure(table, done, sweep, key, title=title), out / AXIS))
        rep.figures.append(AXIS)
    page = out / PAGE
    page.write_text(page_markdown(rep))
    rep.paths.append(page)
    return rep


def remove_stale_page(folder: Path) -> list[Path]:
    """Delete what an earlier report wrote in `folder` (a group that now has no runs), and the folder if
    that empties it, so no page of old numbers outlives its records; other files are left alone."""
    removed = [folder / name for name in (*OUTPUTS, AXIS, PAGE) if (folder / name).is_file()]
    for path in removed:
        path.unlink()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return removed


def remove_stale_pages(sweep_folder: Path, keep: Path | None = None) -> list[Path]:
    """Delete every report under <out>/<sweep>/ but `keep` (the one just written): the pages of groups
    reported before, and a page of the layout before groups (<out>/<sweep>/README.md). A folder holding a run
    record (meta.json) is never touched."""
    if not sweep_folder.is_dir():
        return []
    removed = []
    for sub in sorted(p for p in sweep_folder.iterdir() if p.is_dir()):
        if (keep is None or sub.resolve() != keep.resolve()) and not (sub / META).exists():
            removed += remove_stale_page(sub)
    return removed + remove_stale_page(sweep_folder)


def write_report(name_or_path: str | Path, runs_dir: str | Path = "runs", out_dir: str | Path = "reports",
                 preset: str | None = None, ablations_dir: str | Path = ABLATIONS_DIR,
                 lr_dirs: tuple = (), group: str | None = None, run_ids=None,
                 level: float = stats.LEVEL) -> list[Path]:
    """Write <out_dir>/<sweep>/<group>/ (table.md, table.csv, table.tex, curves.png, [axis.png], README.md);
    return their paths. The group: the one holding `run_ids` (what sweeps.run just ran), or named `group`, or
    that of `preset` (analysis.selection.pick_group). Raises ReportError (one-line message) for an unknown
    sweep, no runs, or a group that is not clear."""
    sweep = load_sweep(name_or_path, Path(ablations_dir))
    return write_sweep(sweep, runs_dir, out_dir, preset, lr_dirs, group, run_ids, level).paths


def write_all(runs_dir: str | Path = "runs", out_dir: str | Path = "reports", preset: str | None = None,
              ablations_dir: str | Path = ABLATIONS_DIR, command: str = "",
              bench_dir: str | Path | None = None, lr_dirs: tuple = (),
              group: str | None = None, level: float = stats.LEVEL,
              rung_dirs: tuple = ()) -> tuple[list[Path], list[str]]:
    """Every sweep's report (one group each) and <out_dir>/README.md; returns (paths written, one-line problems).

    A sweep without runs (or without runs of `preset`, or whose group is not clear) is listed in the index, not
    an error; so is a file in `bench_dir` that is not a throughput record. Reports of other groups that an
    earlier run left under <out_dir>/<sweep>/ are removed: the index links only what this run wrote. Each tree
    of `rung_dirs` (runs of another preset) is judged too, for the index's scale view (analysis.scale_view).
    """
    names = known_sweeps(Path(ablations_dir))
    if not names:
        raise ReportError(f"no sweep files in {ablations_dir}")
    entries, paths, problems = [], [], []
    for name in names:
        sweep = load_sweep(name, Path(ablations_dir))     # a malformed sweep file is an error: fix it
        try:
            rep = write_sweep(sweep, runs_dir, out_dir, preset, lr_dirs, group, level=level)
        except ReportError as err:
            problems.append(f"{name}: {err}")
            remove_stale_pages(Path(out_dir) / name)
            entries.append(Entry(sweep, None, no_data_verdicts(sweep, "no runs to report"), str(err)))
            continue
        remove_stale_pages(Path(out_dir) / name, keep=Path(out_dir) / rep.folder)
        paths += rep.paths
        entries.append(Entry(sweep, rep, rep.verdicts, rungs=_rungs(sweep, rep, rung_dirs, level)))
    speed: list[str] = []
    if bench_dir is not None:
        records, bench_problems = load_benchmarks(bench_dir)
        problems += bench_problems
        speed = speed_section(records, bench_dir)
    command = command or (f"python -m analysis.report --all --runs-dir {runs_dir} --out {out_dir}"
                          + (f" --bench-dir {bench_dir}" if bench_dir is not None else "")
                          + (" --lr-check " + " ".join(map(str, lr_dirs)) if lr_dirs else "")
                          + (" --rungs " + " ".join(map(str, rung_dirs)) if rung_dirs else ""))
    index = Path(out_dir) / INDEX
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(index_markdown(entries, command, speed, lr_checked=bool(lr_dirs), level=level))
    return paths + [index], problems


def _bench_dir(args) -> str | None:
    """--bench-dir, or the committed records' when the runs are the committed ones; None: no speed table."""
    if args.bench_dir is not None:
        return args.bench_dir or None                  # --bench-dir '' turns it off
    return DEFAULT_BENCH if args.runs_dir == DEFAULT_RUNS else None


def _lr_dirs(args) -> tuple:
    """--lr-check, or the committed lr check's trees when the runs are the committed ones."""
    if args.lr_check is not None:
        return tuple(args.lr_check)
    if args.runs_dir == DEFAULT_RUNS:
        return tuple(sorted(str(p) for p in Path(".").glob(DEFAULT_LR_CHECK) if p.is_dir()))
    return ()


def _rung_dirs(args) -> tuple:
    """--rungs, or the committed second rung's tree (if there) when the runs are the committed ones."""
    if args.rungs is not None:
        return tuple(args.rungs)
    if args.runs_dir == DEFAULT_RUNS:
        return tuple(d for d in DEFAULT_RUNGS if Path(d).is_dir())
    return ()


COMMITTED = ("reports", "records")      # the committed reports and run records (records/README.md)


def _out_dir(args) -> str:
    """--out; without it, reports/ for the committed records (DEFAULT_RUNS) and <runs-dir>/reports for any other
    runs directory, refused (ReportError) where that would write into the committed reports/ or records/; and
    never a path that is there but not a directory."""
    out = args.out
    if out is None:
        if Path(args.runs_dir).resolve() == Path(DEFAULT_RUNS).resolve():
            out = "reports"
        else:
            out = str(Path(args.runs_dir) / "reports")
            target = Path(out).resolve()
            for kept in COMMITTED:
                if target == Path(kept).resolve() or Path(kept).resolve() in target.parents:
                    raise ReportError(f"the report of --runs-dir {args.runs_dir} would go to {out}, inside the "
                                      f"committed {kept}/: name its folder with --out")
    if Path(out).exists() and not Path(out).is_dir():
        raise ReportError(f"--out {out} is not a directory")
    return out


def _command(args) -> str:
    parts = ["python -m analysis.report", "--all", "--runs-dir", args.runs_dir, "--out", args.out]
    if args.preset:
        parts += ["--preset", args.preset]
    if args.group:
        parts += ["--group", args.group]
    if args.bench_dir is not None:
        parts += ["--bench-dir", args.bench_dir]
    if args.lr_check is not None:
        parts += ["--lr-check", *args.lr_check]
    if args.rungs is not None:
        parts += ["--rungs", *args.rungs]
    if args.level != stats.LEVEL:
        parts += ["--level", f"{args.level:g}"]
    return " ".join(shlex.quote(p) if i else p for i, p in enumerate(parts))


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"a confidence level between 0.5 and 1, e.g. 0.95; got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="sweep name (ablations/NAME.yaml) or path to a sweep file")
    parser.add_argument("--all", action="store_true", help="every sweep in ablations/, plus the index page")
    parser.add_argument("--runs-dir", default=DEFAULT_RUNS,
                        help=f"runs root (default: {DEFAULT_RUNS}, the committed records)")
    parser.add_argument("--out", default=None, help="reports root (default: reports for the committed records, "
                        f"{DEFAULT_RUNS}; <runs-dir>/reports for any other runs directory)")
    parser.add_argument("--preset", default=None,
                        help="report runs of this preset (default: that of the most recent run)")
    parser.add_argument("--group", default=None, metavar="NAME",
                        help="report this group of runs (its name, e.g. 'cpu, optim.base_lr=0.05', or folder name); "
                             "needed where runs of one preset differ in more than their cases' own settings")
    parser.add_argument("--bench-dir", default=None,
                        help=f"throughput records for the index's speed table (default: {DEFAULT_BENCH} with the "
                             "default --runs-dir, none otherwise; '' for none)")
    parser.add_argument("--lr-check", nargs="*", default=None, metavar="DIR",
                        help="run trees that differ from --runs-dir only in optim.base_lr; every claim is judged "
                             f"on each too (default: {DEFAULT_LR_CHECK} with the default --runs-dir)")
    parser.add_argument("--rungs", nargs="*", default=None, metavar="DIR",
                        help="run trees of other presets (rungs of scale); the index sets each claim's effect "
                             "there beside ours, with a word on how it moved (default: "
                             f"{', '.join(DEFAULT_RUNGS)} with the default --runs-dir)")
    parser.add_argument("--level", type=_level, default=stats.LEVEL,
                        help=f"confidence level of every interval a verdict reads (default {stats.LEVEL:g})")
    parser.add_argument("--ablations-dir", default=str(ABLATIONS_DIR), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if bool(args.name) == bool(args.all):
        parser.error("give a sweep NAME or --all")
    try:
        args.out = _out_dir(args)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        if args.all:
            paths, problems = write_all(args.runs_dir, args.out, args.preset, args.ablations_dir, _command(args),
                                        _bench_dir(args), _lr_dirs(args), args.group, args.level,
                                        _rung_dirs(args))
        else:
            paths, problems = write_report(args.name, args.runs_dir, args.out, args.preset, args.ablations_dir,
                                           _lr_dirs(args), args.group, level=args.level), []
    except (ReportError, SweepFileError) as e:
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
