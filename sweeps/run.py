"""Run a sweep: `python -m sweeps.run NAME [--preset cpu] [--executor local] [--seeds 0 1] [--set k=v] ...`

Expands the sweep file at the preset, skips finished runs, resumes partial ones, runs the rest, and ends by
writing the sweep's report (analysis.report). Bad input gets one line on stderr and exit code 2.
With `--executor slurm` it submits the unfinished runs as one job array and returns; `--status` (or
`python -m sweeps.status NAME`) follows them, and `python -m analysis.report NAME` writes the report after.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.config import ConfigError
from core.presets import list_presets, preset_description
from sweeps import slurm
from sweeps.executors import EXECUTORS
from sweeps.expand import expand, parse_set
from sweeps.state import is_done
from sweeps.status import format_table, summary, sweep_status
from sweeps.sweepfile import check_seeds, known_sweeps, load_sweep


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m sweeps.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep", nargs="?", help="sweep name from ablations/ or path to a sweep file")
    ap.add_argument("--preset", default="cpu", help="scale preset (default: cpu); see --list-presets")
    ap.add_argument("--executor", default="local", choices=sorted(EXECUTORS), help="where runs execute (default: local)")
    ap.add_argument("--jobs", type=int, default=1, help="local executor: runs at a time (default 1)")
    ap.add_argument("--seeds", type=int, nargs="+", help="override the sweep file's seeds")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every run, e.g. --set optim.epochs=2 (repeatable)")
    ap.add_argument("--data-root", help="data directory (sets data.root)")
    ap.add_argument("--runs-dir", default="runs", help="root of run directories (default: runs/)")
    ap.add_argument("--report-dir", default="reports", help="where the report is written (default: reports/)")
    ap.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    ap.add_argument("--dry-run", action="store_true", help="list the runs and their state (and with --executor "
                    "slurm the sbatch file); start nothing")
    ap.add_argument("--status", action="store_true", help="per run: state, SLURM job id, last epoch; start nothing")
    ap.add_argument("--list", action="store_true", help="list the known sweeps")
    ap.add_argument("--list-presets", action="store_true", help="list the presets")
    slurm.add_arguments(ap)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        for name in known_sweeps():
            sw = load_sweep(name)
            print(f"{name:16s} {sw.figure}: {sw.title}")
        return 0
    if args.list_presets:
        for name in list_presets():
            print(f"{name:10s} {preset_description(name)}")
        return 0
    if not args.sweep:
        raise ConfigError("name a sweep (python -m sweeps.run --list shows them)")
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if args.seeds is not None:
        check_seeds(args.seeds, "--seeds")
    sweep = load_sweep(args.sweep)
    sets = parse_set(args.sets)
    if args.data_root:
        sets["data.root"] = args.data_root
    specs = expand(sweep, args.preset, Path(args.runs_dir), args.seeds, sets)

    options = slurm.options_from(args) if args.executor == "slurm" else None
    print(f"{sweep.figure}: {sweep.title} | preset {args.preset} | {len(specs)} runs in {Path(args.runs_dir) / sweep.name}")
    rows = sweep_status([s.run_dir for s in specs])
    if args.status:
        print(format_table(rows))
        print(summary(rows))
        return 0
    for spec, row in zip(specs, rows):
        job = f"  (job {row['job_id']})" if row["state"] in ("pending", "running") and row["job_id"] != "-" else ""
        print(f"  {spec.run_id:40s} {spec.case:20s} seed {spec.seed}  {row['state']}{job}")
    busy = {r["run_id"] for r in rows if r["state"].startswith(("pending", "running"))}
    pending = [s for s in specs if not is_done(s.run_dir) and s.run_id not in busy]
    if args.dry_run:
        print(f"{len(pending)} of {len(specs)} runs would start or resume (dry run: nothing started)")
        if pending and options is not None:
            slurm.submit(pending, options, dry_run=True)
        return 0
    if pending:
        from sweeps.prepare import check_all, prepare
        check_all(pending, Path(args.runs_dir))
        if options is not None:
            slurm.check_options(options)
        for spec in pending:
            prepare(spec)
        if options is not None:
            slurm.submit(pending, options)
            return 0
        t0 = time.time()
        EXECUTORS[args.executor](pending, jobs=args.jobs)
        print(f"{len(pending)} runs finished in {time.time() - t0:.0f} s")
    elif busy:
        print(f"nothing to start: {len(busy)} runs are queued or running elsewhere")
    else:
        print("all runs are finished; nothing to start")

    rows = sweep_status([s.run_dir for s in specs])
    states = {r["run_id"]: r["state"] for r in rows}
    elsewhere = [rid for rid, st in states.items() if st.startswith(("pending", "running"))]
    if elsewhere:
        print(f"{len(elsewhere)} runs are held by another process or job: " + ", ".join(elsewhere))
    failed = [rid for rid, st in states.items() if not st.startswith("done") and rid not in elsewhere]
    if not args.no_report:
        from analysis.report import write_report
        for path in write_report(str(sweep.path), Path(args.runs_dir), Path(args.report_dir), args.preset):
            print(f"wrote {path}")
    if failed:
        print(f"{len(failed)} runs did not finish cleanly: " + ", ".join(f"{r} ({states[r]})" for r in failed), file=sys.stderr)
        return 1
    return 0


def cli(argv=None) -> int:
    try:
        return main(argv)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
