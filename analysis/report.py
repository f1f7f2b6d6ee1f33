"""Write a sweep's report, or every sweep's report and the index page: the command line of analysis.writer.

    python -m analysis.report NAME [--runs-dir records/cpu] [--out reports] [--preset P] [--group G]
    python -m analysis.report --all [--runs-dir records/cpu] [--out reports] [--preset P] [--group G]
                                    [--bench-dir DIR] [--comparisons FILE]

The defaults regenerate the committed reproduction: reports/ from the run records in records/cpu/.
For your own runs: --runs-dir runs, whose report goes to runs/reports (where sweeps.run writes it) unless --out
says otherwise: without --out the report of any other runs directory goes to <runs-dir>/reports, never into the
committed reports/ (and the command refuses, in one line, where that would be inside reports/ or records/).

NAME is a sweep name (ablations/NAME.yaml) or a path to a sweep file. Runs are read from
<runs-dir>/<sweep name>/. A report judges one group of runs (analysis.judge, analysis.selection): runs whose
configs differ only in their cases' own settings and the seed, of one preset and one numerics version. Runs of
another preset, other --set overrides or other numerics are another group, with a report of its own: --group
NAME picks one; by default the group of --preset (default: the preset of the most recently started run), and
where that leaves more than one the report refuses, naming what differs. A report is <out>/<sweep>/<group>/
(e.g. reports/stopgrad/cpu/): README.md (the page: table, figures, the paper's claims with verdicts, recipe
differences), table.md, table.csv, table.tex, curves.png and, for a numeric axis (batch size, d), axis.png.
--all also writes <out>/README.md, the index of every sweep in ablations/; a sweep without runs is listed
there with "nothing to report", and, from the throughput records in --bench-dir (default: records/benchmarks
with the default --runs-dir, none otherwise), a speed table (analysis.speed). --comparisons names a file of
comparisons (default with the default --runs-dir: records/comparisons.yaml; analysis.comparisons): the same
claims judged on sibling run trees that differ in one declared key (the base lr, the preset), set beside
ours on the pages and in the index. The sweep runner calls `write_report` in-process, with the run ids it just
ran, so its report is the group of those runs.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from analysis import stats
from analysis.comparisons import COMPARISONS, load_comparisons
from analysis.selection import ReportError
from analysis.writer import write_all, write_report
from core.schema.checks import ConfigError
from core.schema.sweep_format import ABLATIONS_DIR, SweepFileError

DEFAULT_RUNS = "records/cpu"      # the committed CPU-scale reproduction (records/README.md)
DEFAULT_BENCH = "records/benchmarks"   # the committed throughput records (python -m benchmarks.throughput --json)


def _bench_dir(args) -> str | None:
    """--bench-dir, or the committed records' when the runs are the committed ones; None: no speed table."""
    if args.bench_dir is not None:
        return args.bench_dir or None                  # --bench-dir '' turns it off
    return DEFAULT_BENCH if args.runs_dir == DEFAULT_RUNS else None


def _declared(args):
    """--comparisons, or the committed file when the runs are the committed ones; None: no comparisons."""
    path = args.comparisons if args.comparisons is not None else (str(COMPARISONS) if args.runs_dir == DEFAULT_RUNS
                                                                  else "")
    return load_comparisons(path) if path else None


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
    if args.comparisons is not None:
        parts += ["--comparisons", args.comparisons]
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
    parser.add_argument("--comparisons", default=None, metavar="FILE",
                        help="comparisons to judge beside the report: run trees that differ in one declared key "
                             "(default: records/comparisons.yaml with the default --runs-dir; '' for none)")
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
                                        _bench_dir(args), _declared(args), args.group, args.level)
        else:
            paths, problems = write_report(args.name, args.runs_dir, args.out, args.preset, args.ablations_dir,
                                           _declared(args), args.group, level=args.level), []
    except (ReportError, SweepFileError, ConfigError) as e:
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
