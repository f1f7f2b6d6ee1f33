"""Run one prepared run directory: `python -m sweeps.worker RUN_DIR [--trust-checkpoint] [--restart-unreadable]`.
Used by the local executor, which passes sweeps.run's checkpoint flags on (core.runtime.checkpoint_policy).

Under torchrun (WORLD_SIZE > 1 in the environment) the processes train the run data-parallel:
    torchrun --nproc_per_node 2 -m sweeps.worker RUN_DIR

Progress: a bar on a terminal, plain lines elsewhere (sweeps.progress); under the local executor
(SIMSIAM_PROGRESS=events) events on stdout that the sweep's process draws. Ctrl-C, SIGTERM, SIGUSR1 or SIGUSR2
(core.schema.signals), sent to this process or to its whole process group (its DataLoader workers leave them to it),
stop the run at the next step boundary with its checkpoint saved (outside training, at once), and it ends with one
line, no traceback: where it stopped and the command that resumes it (under the local executor: a `stopped`
event, and the sweep says it). The exit code is then 128 + the signal; 2 for a checkpoint that cannot be used
(one line on stderr, nothing written; the run stays as it was); 1 for a failed run, 0 otherwise.
"""
from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from pathlib import Path

from core.runtime.checkpoint_policy import SAFE, CheckpointError, CheckpointPolicy, add_arguments


def run_one(run_dir: str, progress=None, log=None, checkpoints: CheckpointPolicy = SAFE) -> dict:
    from core.runtime.distributed import init_from_env
    from core.runtime.run_directory import RunDir
    from core.train.loop import resolve_device, train
    rd = RunDir(Path(run_dir))
    cfg = rd.read_config()
    init_from_env(resolve_device(cfg.run.device).type)
    return train(cfg, rd.path, rd.read_meta(), log=log or functools.partial(print, flush=True), progress=progress,
                 checkpoints=checkpoints)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m sweeps.worker", description="Train (or resume) one prepared run "
                                 "directory, as the local executor does; under torchrun, data-parallel.")
    ap.add_argument("run_dir", help="a run directory with its config.yaml (sweeps.run prepares it)")
    add_arguments(ap)
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    from core.runtime.stopping import InterruptOutside
    args = parse_args(argv)
    InterruptOutside().__enter__()          # for this process's life: outside training a stop signal interrupts at once
    return _main(args)


def _main(args: argparse.Namespace) -> int:
    from core.runtime.stopping import Preempted, StopFlag
    from sweeps.interrupts import INTERRUPTED_OUTSIDE
    from sweeps.progress import Display, EventProgress
    run_dir, checkpoints = args.run_dir, CheckpointPolicy.from_args(args)
    name = Path(run_dir).name
    rank0 = int(os.environ.get("RANK", "0")) == 0
    display = None
    if os.environ.get("SIMSIAM_PROGRESS") == "events":
        progress = EventProgress()
        log = functools.partial(print, flush=True)

        def tell(where):
            progress.emit({"kind": "stopped", "where": where})
    else:
        display = Display()
        progress, log = display.progress_for(name), display.write

        def tell(where):
            from sweeps.commands import module_command
            display.close()
            print(f"[{name}] {where}; the same command resumes it: "
                  f"{module_command('sweeps.worker', [run_dir, *checkpoints.flags()])}", file=sys.stderr, flush=True)
    try:
        result = run_one(run_dir, progress, log, checkpoints)
    except CheckpointError as err:
        if display is not None:
            display.close()
        if rank0:
            print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    except Preempted as stopped:
        _ignore_signals()                       # the run has stopped: a further signal changes nothing
        if rank0:
            tell(str(stopped))
        return 128 + (StopFlag.last_signal or signal.SIGTERM)
    except KeyboardInterrupt as stopped:
        _ignore_signals()
        if rank0:
            tell(INTERRUPTED_OUTSIDE + (f" ({stopped})" if str(stopped) else ""))
        return 128 + (StopFlag.last_signal or signal.SIGINT)
    finally:
        if display is not None:
            display.close()
    return 0 if result["status"] != "failed" else 1


def _ignore_signals() -> None:
    from core.schema.signals import STOP_SIGNALS
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
