"""Where each run of a sweep stands, from its run directory alone (and squeue, when there is one):

    python -m sweeps.status NAME [--runs-dir runs]       (also: python -m sweeps.run NAME --status)

Per run: case, seed, state, SLURM job id, last logged epoch. The state (`RunState`) is one of
    new | partial (epoch E)          nobody is working on it (a re-run or re-submission resumes it)
    pending                          its SLURM job is queued (or requeued)
    running                          its SLURM job, or a local process, is training it
    pending or running (no squeue)   a SLURM job holds it, and there is no squeue here to say which
    done: STATUS | failed: REASON    result.json exists: the run is finished and is not run again
It needs no torch and no submitit, and works after the submitting shell is gone: the run's lock
(sweeps.runlock) names the job, attempts.jsonl the jobs that ran it, metrics.jsonl the progress.
"""
from __future__ import annotations

import argparse
import enum
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from core.schema.checks import suggest
from core.schema.record import (FAILED, META, METRICS, NEW, PARTIAL, RESULT, read_json, read_jsonl, read_result,
                                run_dirs, unfinished_state)
from sweeps import runlock
from sweeps.words import one_line, plural

SLURM_RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING"}


class RunState(enum.Enum):
    NEW = NEW                        # nothing logged yet (core.schema.record's words, which the report uses too)
    PARTIAL = PARTIAL                # started, no result, nobody on it
    PENDING = "pending"              # its SLURM job is queued
    RUNNING = "running"              # a SLURM job or a local process is training it
    HELD = "pending or running"      # a SLURM job holds it; no squeue to tell which
    DONE = "done"                    # result.json with any status but failed
    FAILED = "failed"                # result.json with status failed

    @property
    def finished(self) -> bool:
        """Has its result.json: never trained again."""
        return self in (RunState.DONE, RunState.FAILED)

    @property
    def held(self) -> bool:
        """Queued or training under another process's or job's lock."""
        return self in (RunState.PENDING, RunState.RUNNING, RunState.HELD)

    def text(self, detail: str = "") -> str:
        """'done: ok', 'failed: REASON', 'partial (epoch 3)', 'new', ..."""
        if not detail:
            return self.value
        return f"{self.value}: {detail}" if self.finished else f"{self.value} ({detail})"


def last_epoch(run_dir: Path) -> float | None:
    """The latest logged epoch in metrics.jsonl (torn lines skipped), or None if nothing was logged."""
    epochs = []
    for row in read_jsonl(Path(run_dir) / METRICS):
        try:
            epochs.append(float(row["epoch"]))
        except (KeyError, TypeError, ValueError):
            continue
    return max(epochs, default=None)


def local_state(run_dir: Path) -> tuple[RunState, str]:
    """The state the run directory's files say, leaving its lock aside, and its detail: the result's status
    (done), its reason (failed), how far it got (partial)."""
    run_dir = Path(run_dir)
    if (run_dir / RESULT).exists():
        result = read_result(run_dir)                # the one finished rule: core.schema.record.read_result
        if result is None:
            return RunState.PARTIAL, f"unreadable {RESULT}"
        if result["status"] == FAILED:
            return RunState.FAILED, one_line(result.get("reason"), 300)
        return RunState.DONE, str(result["status"])
    state = RunState(unfinished_state(run_dir))
    return state, f"epoch {last_epoch(run_dir) or 0.0:g}" if state is RunState.PARTIAL else ""


def is_finished(run_dir: Path) -> bool:
    """The run has its result.json (any status, failed included): it is not trained again."""
    return local_state(run_dir)[0].finished


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    case: str
    seed: object
    state: RunState
    detail: str                      # see RunState.text
    job_id: str                      # the SLURM job that holds the run or ran it last; '-' for none
    epoch: float | None              # the last logged epoch
    preset: str = "?"                # meta.json's preset
    group: str = "-"                 # the runs a verdict may judge together (core.config.run_groups), e.g. 'cpu'

    @property
    def text(self) -> str:
        return self.state.text(self.detail)


def last_job(run_dir: Path) -> str | None:
    """The job id of the latest attempt (attempts.jsonl), else the one meta.json records."""
    job = (read_json(Path(run_dir) / META) or {}).get("slurm_job_id")
    for row in read_jsonl(Path(run_dir) / "attempts.jsonl"):
        job = row.get("job_id") or job
    return job


def run_status(run_dir: Path, queue: runlock.Queue) -> RunStatus:
    run_dir = Path(run_dir)
    meta = read_json(run_dir / META) or {}
    (state, detail), job = local_state(run_dir), None
    claim = runlock.read(run_dir)
    if claim is not None and not state.finished and runlock.stale_reason(claim, queue) is None:
        job = claim.get("job_id")
        if job is None:
            state, detail = (RunState.RUNNING if claim.get("kind") == "local" else RunState.PENDING), ""
        else:
            slurm_state = queue.state(job)           # a live job (stale_reason said so), or None: no squeue
            state, detail = ((RunState.RUNNING, "") if slurm_state in SLURM_RUNNING
                             else (RunState.PENDING, "") if slurm_state else (RunState.HELD, "no squeue"))
    return RunStatus(run_dir.name, str(meta.get("case", "?")), meta.get("seed", "?"), state, detail,
                     job or last_job(run_dir) or "-", last_epoch(run_dir), str(meta.get("preset", "?")))


def sweep_status(dirs: list[Path]) -> list[RunStatus]:
    queue = runlock.Queue()
    queue.prefetch((runlock.read(d) or {}).get("job_id") for d in dirs)
    return [run_status(d, queue) for d in dirs]


def run_dirs_of(sweep: str, runs_dir: Path) -> list[Path]:
    """The run directories under runs_dir/SWEEP (a sweep file's path names its sweep by its stem)."""
    return run_dirs(runs_dir, Path(sweep).stem if sweep.endswith((".yaml", ".yml")) else sweep)


def format_table(rows: list[RunStatus]) -> str:
    """One line per run; a failed run's state is 'failed' here, its reason in `failures` below the table."""
    head = ("run", "case", "seed", "group", "state", "job", "epoch")
    body = [(r.run_id, r.case, str(r.seed), r.group if r.group != "-" else r.preset,
             r.state.value if r.state is RunState.FAILED else r.text,
             str(r.job_id), "-" if r.epoch is None else f"{r.epoch:g}") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *body])


def group_names(dirs: list[Path], sweep: str) -> dict[str, str]:
    """{run dir name: its group's name} (core.config.run_groups: preset, numerics and the config but for the case's
    own settings); {} when the sweep file cannot be read."""
    import yaml
    from core.config.run_groups import name_groups, run_group
    from core.schema.checks import ConfigError
    from core.schema.record import CONFIG
    from core.schema.sweep_format import load_sweep
    try:
        cases = load_sweep(sweep).overrides
    except ConfigError:
        return {}
    groups = {}
    for d in dirs:
        meta = read_json(Path(d) / META) or {}
        try:
            config = yaml.safe_load((Path(d) / CONFIG).read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if meta.get("case") in cases and isinstance(config, dict):
            groups[Path(d).name] = run_group(config, meta, cases[meta["case"]])
    names = name_groups(set(groups.values()))
    return {run: names[g] for run, g in groups.items()}


def failures(rows: list[RunStatus]) -> list[str]:
    """Each failed run's reason, one line each, and how to retry them; [] when none failed."""
    failed = [r for r in rows if r.state is RunState.FAILED]
    if not failed:
        return []
    return ([f"{plural(len(failed), 'run')} failed (python -m sweeps.run SWEEP --retry-failed trains them again, "
             "from their checkpoints):"] + [f"  {r.run_id}: {r.detail}" for r in failed])


def summary(rows: list[RunStatus]) -> str:
    """'1 done, 2 running, 1 new': how many runs are in each state, in the order they first appear."""
    counts: dict[RunState, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return ", ".join(f"{n} {state.value}" for state, n in counts.items()) or "no runs"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sweeps.status", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep", help="sweep name (or its file)")
    ap.add_argument("--runs-dir", default="runs", help="root of run directories (default: runs/)")
    ap.add_argument("--preset", help="only the runs made at this preset (default: every preset's)")
    args = ap.parse_args(argv)
    dirs = run_dirs_of(args.sweep, Path(args.runs_dir))
    if not dirs:
        print(f"error: {no_runs(args.sweep, Path(args.runs_dir))}", file=sys.stderr)
        return 2
    names = group_names(dirs, args.sweep)
    rows = [replace(r, group=names.get(r.run_id, "-")) for r in sweep_status(dirs)]
    presets = sorted({r.preset for r in rows})
    if args.preset is not None:
        rows = [r for r in rows if r.preset == args.preset]
        if not rows:
            print(f"error: no runs at preset '{args.preset}'{suggest(args.preset, presets)}; the sweep's runs are "
                  f"at {', '.join(presets)}", file=sys.stderr)
            return 2
    groups = sorted({r.group for r in rows if r.group != "-"})
    print(f"{Path(args.sweep).stem} under {args.runs_dir}: {plural(len(rows), 'run')} at preset "
          f"{', '.join(sorted({r.preset for r in rows}))}"
          + (f"; {plural(len(groups), 'group')} a verdict may judge apart: {'; '.join(groups)}" if groups else ""))
    print(format_table(rows))
    print(summary(rows))
    for line in failures(rows):
        print(line.replace("SWEEP", Path(args.sweep).stem))
    return 0


def no_runs(sweep: str, runs_dir: Path) -> str:
    """Why there is nothing to show, with a did-you-mean among the sweeps that have runs here (or are known)."""
    from core.schema.sweep_format import known_sweeps
    name = Path(sweep).stem
    here = sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and run_dirs(runs_dir, p.name)) \
        if runs_dir.is_dir() else []
    hint = suggest(name, here) or suggest(name, known_sweeps())
    where = f"sweeps with runs there: {', '.join(here)}" if here else f"{runs_dir} holds no runs yet"
    return f"no run directories under {runs_dir / name}{hint}; {where}"


if __name__ == "__main__":
    sys.exit(main())
