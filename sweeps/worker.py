"""Run one prepared run directory: `python -m sweeps.worker RUN_DIR`. Used by the local executor."""
from __future__ import annotations

import sys
from pathlib import Path


def run_one(run_dir: str) -> dict:
    from core.rundir import RunDir
    from core.train import train
    rd = RunDir(Path(run_dir))
    return train(rd.read_config(), rd.path, rd.read_meta())


if __name__ == "__main__":
    result = run_one(sys.argv[1])
    sys.exit(0 if result["status"] != "failed" else 1)
