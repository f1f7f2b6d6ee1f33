"""Run one prepared run directory: `python -m sweeps.worker RUN_DIR`. Used by the local executor.

Under torchrun (WORLD_SIZE > 1 in the environment) the processes train the run data-parallel:
    torchrun --nproc_per_node 2 -m sweeps.worker RUN_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path


def run_one(run_dir: str) -> dict:
    from core.distributed import init_from_env
    from core.rundir import RunDir
    from core.train import resolve_device, train
    rd = RunDir(Path(run_dir))
    cfg = rd.read_config()
    init_from_env(resolve_device(cfg.run.device).type)
    return train(cfg, rd.path, rd.read_meta())


if __name__ == "__main__":
    result = run_one(sys.argv[1])
    sys.exit(0 if result["status"] != "failed" else 1)
