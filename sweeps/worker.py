"""Run one prepared run directory: `python -m sweeps.worker RUN_DIR [--trust-checkpoint] [--restart-unreadable]`.
Used by the local executor, which passes sweeps.run's checkpoint flags on (core.checkpoint_policy).

Under torchrun (WORLD_SIZE > 1 in the environment) the processes train the run data-parallel:
    torchrun --nproc_per_node 2 -m sweeps.worker RUN_DIR

Exit code: 0 (a result.json written, any status but failed), 1 (failed), 2 (a checkpoint that cannot be used:
one line on stderr, nothing written; the run stays as it was).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.checkpoint_policy import SAFE, CheckpointError, CheckpointPolicy, add_arguments


def run_one(run_dir: str, checkpoints: CheckpointPolicy = SAFE) -> dict:
    from core.distributed import init_from_env
    from core.rundir import RunDir
    from core.train import resolve_device, train
    rd = RunDir(Path(run_dir))
    cfg = rd.read_config()
    init_from_env(resolve_device(cfg.run.device).type)
    return train(cfg, rd.path, rd.read_meta(), checkpoints=checkpoints)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sweeps.worker", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        result = run_one(args.run_dir, CheckpointPolicy.from_args(args))
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    return 0 if result["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
