"""Write what the judge returns (analysis.judge, analysis.comparisons) as files: a sweep's report folder,
<out>/<sweep>/<group>/ (README.md, table.md, table.csv, table.tex, curves.png, [axis.png]), and with `write_all`
every sweep's folder and the index, <out>/README.md. The command line is analysis.report."""
from __future__ import annotations

from pathlib import Path

from analysis import stats
from analysis.axis_figures import axis_figure, numeric_axis
from analysis.collapse_site import diagnose, with_site
from analysis.comparison_text import column_header
from analysis.comparisons import Compared, Declared, compare_sweep
from analysis.figures import curves_figure, save_curves
from analysis.index import INDEX, Entry, index_markdown, no_data_verdicts
from analysis.judge import Judgement, judge_group
from analysis.recipe import differences, load_recipe, our_evaluation
from analysis.report_page import PAGE, SweepReport, page_markdown
from analysis.selection import ReportError, plotted_runs
from analysis.speed import load_benchmarks, speed_section
from analysis.table_files import header_lines, title_line, to_csv, to_latex, to_markdown
from analysis.tables import aggregate
from core.schema.record import META
from core.schema.sweep_format import ABLATIONS_DIR, Sweep, known_sweeps, load_sweep

OUTPUTS = ("table.md", "table.csv", "table.tex", "curves.png")
AXIS = "axis.png"      # only for a sweep along a numeric axis


def compared_for(sweep: Sweep, j: Judgement, declared: Declared | None) -> list[Compared]:
    """Every declared comparison of `sweep` that has a base side (analysis.comparisons)."""
    if declared is None:
        return []
    found = (compare_sweep(sweep, c, declared, j, j.runs_dir) for c in declared.comparisons)
    return [x for x in found if x is not None]


def _report(j: Judgement, compared: list[Compared]) -> SweepReport:
    sweep, done = j.sweep, j.done
    recipe, sites = load_recipe(), diagnose(done, sweep.cases)
    mine = [x for x in compared if x.on_report and x.comparison.column]
    rep = SweepReport(sweep, j.preset, aggregate(j.runs, sweep), j.runs,
                      header_lines(sweep, j.runs, j.picked.name, j.notes), j.verdicts,
                      differences(sweep, done, recipe), our_evaluation(done), recipe, figures=["curves.png"],
                      columns=[(column_header(x), x.cells()) for x in mine], level=j.level,
                      collapse_site=list(sites.values()), group=j.picked.name,
                      folder=f"{sweep.name}/{j.picked.slug}")
    rep.verdicts = [with_site(v, sites) for v in j.verdicts]
    return rep


def write_files(rep: SweepReport, j: Judgement, out_dir: str | Path) -> SweepReport:
    """The report folder of one judgement: tables, figures, page."""
    sweep, table = j.sweep, rep.table
    out = Path(out_dir) / rep.folder
    out.mkdir(parents=True, exist_ok=True)
    rep.paths = [out / name for name in OUTPUTS]
    rep.paths[0].write_text(to_markdown(table, sweep, rep.header))
    rep.paths[1].write_text(to_csv(table))
    rep.paths[2].write_text(to_latex(table, sweep, rep.header))
    plotted = plotted_runs(j.runs, table)
    groups = list(dict.fromkeys(zip(table["case"], table["grid_label"])))
    title = f"{title_line(sweep)} ({'preset ' if j.preset else ''}{j.picked.name})"
    mine = j.curves[j.curves["run_id"].isin(plotted["run_id"])]
    save_curves(curves_figure(mine, plotted, groups, title=title, paper=sweep.paper), rep.paths[3])
    key = numeric_axis(sweep)
    if key is not None:
        rep.paths.append(save_curves(axis_figure(table, j.done, sweep, key, title=title), out / AXIS))
        rep.figures.append(AXIS)
    page = out / PAGE
    page.write_text(page_markdown(rep))
    rep.paths.append(page)
    return rep


def write_sweep(sweep: Sweep, runs_dir: str | Path, out_dir: str | Path, preset: str | None = None,
                declared: Declared | None = None, group: str | None = None, run_ids=None,
                level: float = stats.LEVEL) -> tuple[SweepReport, list[Compared]]:
    """Judge one group and write its report folder, <out_dir>/<sweep>/<group>/; with the declared comparisons
    judged too. ReportError when there is nothing to report or the group is not clear."""
    j = judge_group(sweep, runs_dir, preset, level, group=group, run_ids=run_ids)
    compared = compared_for(sweep, j, declared)
    return write_files(_report(j, compared), j, out_dir), compared


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
                 declared: Declared | None = None, group: str | None = None, run_ids=None,
                 level: float = stats.LEVEL) -> list[Path]:
    """Write <out_dir>/<sweep>/<group>/ (table.md, table.csv, table.tex, curves.png, [axis.png], README.md);
    return their paths. The group: the one holding `run_ids` (what sweeps.run just ran), or named `group`, or
    that of `preset` (analysis.selection.pick_group). Raises ReportError (one-line message) for an unknown
    sweep, no runs, or a group that is not clear."""
    sweep = load_sweep(name_or_path, Path(ablations_dir))
    return write_sweep(sweep, runs_dir, out_dir, preset, declared, group, run_ids, level)[0].paths


def write_all(runs_dir: str | Path = "runs", out_dir: str | Path = "reports", preset: str | None = None,
              ablations_dir: str | Path = ABLATIONS_DIR, command: str = "",
              bench_dir: str | Path | None = None, declared: Declared | None = None,
              group: str | None = None, level: float = stats.LEVEL) -> tuple[list[Path], list[str]]:
    """Every sweep's report (one group each) and <out_dir>/README.md; returns (paths written, one-line problems).

    A sweep without runs (or without runs of `preset`, or whose group is not clear) is listed in the index, not
    an error; so is a file in `bench_dir` that is not a throughput record. Reports of other groups that an
    earlier run left under <out_dir>/<sweep>/ are removed: the index links only what this run wrote. The
    `declared` comparisons (analysis.comparisons) are judged for each sweep and set out in the index.
    """
    names = known_sweeps(Path(ablations_dir))
    if not names:
        raise ReportError(f"no sweep files in {ablations_dir}")
    entries, paths, problems = [], [], []
    for name in names:
        sweep = load_sweep(name, Path(ablations_dir))     # a malformed sweep file is an error: fix it
        try:
            rep, compared = write_sweep(sweep, runs_dir, out_dir, preset, declared, group, level=level)
        except ReportError as err:
            problems.append(f"{name}: {err}")
            remove_stale_pages(Path(out_dir) / name)
            entries.append(Entry(sweep, None, no_data_verdicts(sweep, "no runs to report"), str(err)))
            continue
        remove_stale_pages(Path(out_dir) / name, keep=Path(out_dir) / rep.folder)
        paths += rep.paths
        entries.append(Entry(sweep, rep, rep.verdicts, compared=compared))
    speed: list[str] = []
    if bench_dir is not None:
        records, bench_problems = load_benchmarks(bench_dir)
        problems += bench_problems
        speed = speed_section(records, bench_dir)
    command = command or (f"python -m analysis.report --all --runs-dir {runs_dir} --out {out_dir}"
                          + (f" --bench-dir {bench_dir}" if bench_dir is not None else ""))
    index = Path(out_dir) / INDEX
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(index_markdown(entries, command, speed, declared, level=level))
    return paths + [index], problems
