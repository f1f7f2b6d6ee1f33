"""The run directory: the complete record of one run (its files and statuses: core.schema.record), written here."""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from core.config import hyperparameters as C
from core.schema.host import cpu_name
from core.schema.numerics import NUMERICS_VERSION
from core.schema.record import NUMERICS_KEY, STATUSES, read_jsonl


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, flush to disk, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def finite_or_none(value):
    """JSON has no NaN: non-finite floats are recorded as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(obj: dict) -> str:
    return json.dumps({k: finite_or_none(v) for k, v in obj.items()}, allow_nan=False)


def git_commit() -> str:
    """HEAD of the repository holding this code, with '-dirty' if tracked files changed; 'unknown' outside git."""
    repo = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=10", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("-dirty" if dirty else "")) if sha else "unknown"


def base_meta() -> dict:
    import torch
    return {"commit": git_commit(), NUMERICS_KEY: NUMERICS_VERSION, "host": socket.gethostname(),
            "cpu": cpu_name(), "python": platform.python_version(), "torch": torch.__version__,
            "start_time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "argv": sys.argv}


class RunDir:
    def __init__(self, path: Path, logger: str = "none"):
        self.path = Path(path)
        self.logger = logger            # run.logger: a live mirror of metrics.jsonl (core.runtime.live_log), lazily
        self._mirror = None

    def file(self, name: str) -> Path:
        return self.path / name

    # ---- config and meta -------------------------------------------------------------------------
    def write_config(self, cfg: C.Config) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.file("config.yaml"), C.dump_yaml(cfg))

    def read_config(self) -> C.Config:
        return C.load_yaml(self.file("config.yaml").read_text(), str(self.file("config.yaml")))

    def write_meta(self, meta: dict) -> None:
        atomic_write_text(self.file("meta.json"), json.dumps(meta, indent=1, default=str))

    def read_meta(self) -> dict:
        p = self.file("meta.json")
        return json.loads(p.read_text()) if p.exists() else {}

    # ---- metrics ---------------------------------------------------------------------------------
    def append_metrics(self, row: dict) -> None:
        with open(self.file("metrics.jsonl"), "a") as fh:
            fh.write(to_json(row) + "\n")
            fh.flush()
        self.mirror_row(row)

    def mirror_row(self, row: dict) -> None:
        """Copy `row` to the live logger (run.logger), if one is on: every metrics row, and the rows of the
        linear-evaluation stage, which are not metrics.jsonl's. The mirror opens, caught up, at the first row."""
        if self.logger == "none":
            return
        if self._mirror is None:
            from core.runtime.live_log import open_mirror
            self._mirror = open_mirror(self.logger, self.path, self.read_metrics())
        self._mirror.write(row)

    def close_mirror(self) -> None:
        if self._mirror is not None:
            self._mirror.close()
            self._mirror = None

    def read_metrics(self) -> list[dict]:
        return read_jsonl(self.file("metrics.jsonl"))

    def discard_metrics(self) -> None:
        """Delete metrics.jsonl (a run killed before its first checkpoint starts over)."""
        self.file("metrics.jsonl").unlink(missing_ok=True)

    def write_error(self, text: str) -> None:
        """error.txt: the traceback of a failed run."""
        self.file("error.txt").write_text(text)

    def truncate_metrics(self, step: int) -> None:
        """Keep the rows up to `step` (the checkpoint's): rows logged after it will be logged again on resume."""
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        atomic_write_text(self.file("metrics.jsonl"), "".join(to_json(r) + "\n" for r in rows))

    # ---- result ----------------------------------------------------------------------------------
    def write_result(self, result: dict) -> None:
        """result.json, atomically; the run is over, so the live mirror is closed."""
        assert result["status"] in STATUSES, result["status"]
        self.write_json("result.json", result)
        self.close_mirror()

    def write_json(self, name: str, obj: dict) -> None:
        """A JSON record of the run directory (result.json, linear_eval.json), atomically; NaN/inf as null."""
        atomic_write_text(self.file(name), json.dumps(
            {k: finite_or_none(v) for k, v in obj.items()}, indent=1, allow_nan=False) + "\n")

    def read_result(self) -> dict | None:
        p = self.file("result.json")
        try:
            return json.loads(p.read_text()) if p.exists() else None
        except json.JSONDecodeError:
            return None

    def is_finished(self) -> bool:
        return self.read_result() is not None


class FollowerRunDir(RunDir):
    """Rank > 0 of a data-parallel run (core.runtime.distributed): reads the run directory, writes nothing; rank 0
    writes config, meta, metrics, checkpoints and the result."""

    def write_config(self, cfg: C.Config) -> None:
        pass

    def write_meta(self, meta: dict) -> None:
        pass

    def append_metrics(self, row: dict) -> None:
        pass

    def mirror_row(self, row: dict) -> None:
        pass

    def write_json(self, name: str, obj: dict) -> None:
        pass

    def truncate_metrics(self, step: int) -> None:
        pass

    def discard_metrics(self) -> None:
        pass

    def write_error(self, text: str) -> None:
        pass

    def write_result(self, result: dict) -> None:
        pass
