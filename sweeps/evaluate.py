"""Evaluate a pre-trained run again, without training it again:

    python -m sweeps.evaluate RUN_DIR [--protocol paper] [--set eval.lincls_epochs=30] [--data-root DIR]

`--protocol paper` (the only one, and the default) is the paper's linear evaluation (App. A, official
main_lincls.py; core/eval/linear_eval.py) of the run's last.pt: a stage of its own in the run directory (linear.pt,
linear_eval.json) that resumes after a kill where it stopped, and is not run again once finished with the same
protocol. When it ends, result.json gains `linear_acc_paper`, `linear_acc_paper_best`, `linear_eval_s` and
`eval.linear_paper` (the protocol); `linear_acc` changes only for a run whose own eval.linear is paper, with
its own eval.lincls_* unchanged, so a number is never filed under a protocol that did not make it. `--set`
may change the protocol's hyper-parameters (eval.lincls_*) and where it runs (data.root, data.workers,
run.device, run.threads, run.logger), nothing that made the pre-trained weights. Under torchrun (WORLD_SIZE > 1)
it runs data-parallel. Bad input gets one line on stderr and exit code 2, a checkpoint that cannot be used too
(--trust-checkpoint, --restart-unreadable: docs/run-directory-safety.md); a stop signal (core.schema.signals)
saves linear.pt and exits 3 (outside the stage's epochs it stops at once and exits 128 + the signal).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from core.config.hyperparameters import Config, ConfigError, EvalConfig, apply_overrides
from core.config.overrides import parse_set
from core.runtime.checkpoint_policy import SAFE, CheckpointPolicy
from core.runtime.checkpoint_policy import add_arguments as add_checkpoint_flags
from core.schema.record import CONFIG, LINEAR_PAPER, TRAINED
from sweeps.cli_errors import one_line_errors
from sweeps import runlock

WHERE_KEYS = ("data.root", "data.workers", "run.device", "run.threads", "run.logger")


def changeable(key: str) -> bool:
    return key.startswith("eval.lincls_") or key in WHERE_KEYS


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m sweeps.evaluate", description=(
        "Evaluate a pre-trained run again, without training it again: the paper's linear evaluation (App. A, "
        "official main_lincls.py) of its last.pt, resumable, its numbers added to result.json."))
    ap.add_argument("run_dir", help="a run directory (runs/<sweep>/<run id>) whose pre-training has finished")
    ap.add_argument("--protocol", default=LINEAR_PAPER, choices=[LINEAR_PAPER],
                    help="paper: App. A / main_lincls.py (LARS, batch 4096, 90 epochs, augmented crops)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="eval.lincls_* or data.root, data.workers, run.device, run.threads, run.logger (repeatable)")
    ap.add_argument("--data-root", help="data directory (sets data.root)")
    add_checkpoint_flags(ap)     # --restart-unreadable: linear.pt only; last.pt is never replaced by an older one
    return ap.parse_args(argv)


def load(args) -> tuple[Config, bool, Path, dict]:
    """The run's config with the allowed overrides, whether that evaluation is the run's own eval.linear (paper,
    same hyper-parameters), its directory and its result; ConfigError if it cannot be evaluated."""
    run_dir = Path(args.run_dir)
    if not (run_dir / CONFIG).is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no {CONFIG})")
    from core.runtime.run_directory import RunDir
    rd = RunDir(run_dir)
    sets = parse_set(args.sets)
    if args.data_root:
        sets["data.root"] = args.data_root
    fixed = [k for k in sets if not changeable(k)]
    if fixed:
        raise ConfigError(f"--set {fixed[0]}: a re-evaluation may change eval.lincls_* and {', '.join(WHERE_KEYS)} "
                          "only (the rest made the pre-trained weights)")
    own = rd.read_config()
    cfg = apply_overrides(own, sets, "--set")
    result = rd.read_result()
    if result is None:
        raise ConfigError(f"{run_dir}: pre-training has not finished (no readable result.json); finish it with "
                          "its sweep first (python -m sweeps.run ... resumes it)")
    if result.get("status") not in TRAINED:
        raise ConfigError(f"{run_dir}: status {result.get('status')}: nothing trained to evaluate")
    if not any((run_dir / f).is_file() for f in ("last.pt", "prev.pt")):
        origin = rd.read_meta().get("copied_from")
        where = f"; it is a copy of {origin}: evaluate that run" if origin else ""
        raise ConfigError(f"{run_dir}: no checkpoint (last.pt){where}")
    check_data_and_sizes(cfg, run_dir)
    return cfg, own.eval.linear == LINEAR_PAPER and own.eval == cfg.eval, run_dir, result


def check_data_and_sizes(cfg: Config, run_dir: Path) -> None:
    """The data there and readable (--data-root), and the stage's sizes within it (core.config.sizes), before the
    stage starts; ConfigError otherwise."""
    from core.config.sizes import check_sizes, largest_need, test_need
    from sweeps.prepare import check_data
    n_train, n_test = check_data(cfg, largest_need(cfg, LINEAR_PAPER), test_need(cfg))
    check_sizes(cfg, n_train, str(run_dir), n_test, linear=LINEAR_PAPER)


def evaluate(cfg: Config, own: bool, run_dir: Path, result: dict, log=print,
             checkpoints: CheckpointPolicy = SAFE) -> dict:
    """Run (or resume) the stage and merge its keys into result.json (rank 0); the stage's record."""
    from core.eval.linear_eval import result_keys, run_stage
    from core.runtime.distributed import current, init_from_env
    from core.runtime.run_directory import FollowerRunDir, RunDir
    from core.train.loop import resolve_device
    device = resolve_device(cfg.run.device)
    init_from_env(device.type)
    dp = current()
    rd = RunDir(run_dir, cfg.run.logger) if dp.main else FollowerRunDir(run_dir)
    record = run_stage(cfg, rd, log if dp.main else (lambda *a: None), device, checkpoints=checkpoints)
    if dp.main:
        latest = rd.read_result() or result
        keys = result_keys(record, cfg.eval, own, latest.get("eval") or {})
        rd.write_result({**latest, **keys})
    return record


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg, own, run_dir, result = load(args)
    claim = runlock.new_claim("evaluate")
    held = runlock.acquire(run_dir, claim) if _rank() == 0 else None
    if held is not None:
        raise ConfigError(f"{run_dir}: {runlock.describe(held)} holds the run; try again when it is done")
    try:
        record = evaluate(cfg, own, run_dir, result, checkpoints=CheckpointPolicy.from_args(args))
    finally:
        if _rank() == 0:
            runlock.release(run_dir, claim)
    print(summary_line(run_dir, record, cfg, result.get("num_classes")))
    return 0


def summary_line(run_dir: Path, record: dict, cfg: Config, num_classes: int | None) -> str:
    """What the stage gave, with how many of the paper's epochs it ran and the chance level beside it."""
    from sweeps.words import plural
    paper = EvalConfig().lincls_epochs
    done, epochs = record["epochs_done"], cfg.eval.lincls_epochs
    ran = f"after {done} of {plural(epochs, 'epoch')}"
    if epochs < paper:
        ran += f" (eval.lincls_epochs {epochs}; the paper's protocol runs {paper}: not comparable with its numbers)"
    chance = f"; chance {100 / num_classes:.3g}%" if num_classes else ""
    return (f"{run_dir}: paper linear evaluation top-1 {record['top1']:.2f}% {ran} (best {record['top1_best']:.2f}% "
            f"at epoch {record['best_epoch']}; lr {record['protocol']['lr']:g}, batch {cfg.eval.lincls_batch}"
            f"{chance}); written to result.json and linear_eval.json")


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def cli(argv=None) -> int:
    from core.data.raw_images import DataError
    from core.eval.linear_eval import LinearEvalError
    from core.runtime.stopping import InterruptOutside, StopFlag
    from core.train.loop import Preempted
    with InterruptOutside():                # outside the stage's epochs a stop signal interrupts at once
        try:
            return one_line_errors(main, argv, (DataError, LinearEvalError))
        except Preempted as stopped:
            print(f"{stopped}: the same command resumes it", file=sys.stderr)
            return 3
        except KeyboardInterrupt:
            print("interrupted before the next step boundary (set-up, or a second Ctrl-C); linear.pt keeps the last "
                  "finished epoch: the same command resumes it", file=sys.stderr)
            return 128 + (StopFlag.last_signal or signal.SIGINT)


if __name__ == "__main__":
    sys.exit(cli())
