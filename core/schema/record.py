"""The run record's schema, in one place for core, sweeps and analysis (imports no torch, nothing of ours).

A run directory holds:

    config.yaml    resolved config, written before step 0
    meta.json      sweep, case, seed, preset, git commit, numerics version, versions, host, start time
    metrics.jsonl  one JSON object per logging point (append-only; a torn last line is tolerated)
    result.json    final metrics and status, written atomically at the end
    error.txt      a failed run's traceback
    last.pt        rolling checkpoint (core.runtime.checkpoint); prev.pt the one before, kept after the run ends only
                   with run.keep_checkpoints 2 (a failed run keeps it too)
    linear_eval.json   eval.linear paper (or sweeps.evaluate): the stage's record; linear.pt its checkpoint
    tb/            run.logger tensorboard: event files mirroring metrics.jsonl (core.runtime.live_log)
    wandb/         run.logger wandb: the W&B run's local files (core.runtime.live_log)
    claim.json     the run's lock while a process or SLURM job has it (sweeps.runlock); claim.lock, the file
                   that lock is taken under; claim.log, every stale claim broken
    attempts.jsonl SLURM: one line per job attempt, for the retry bound (sweeps.slurm_job)
    failures.jsonl the failures before a retry (sweeps.run --retry-failed): each failed result and traceback

A run is finished when result.json exists and parses with a known status; anything else is unfinished: `partial`
once it has logged a step (or has a result.json that does not parse), `new` before. These are the words of
sweeps.status, which adds who holds an unfinished run (running, pending), and of the report.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

CONFIG, META, METRICS, RESULT = "config.yaml", "meta.json", "metrics.jsonl", "result.json"
LINEAR_EVAL, LIVE_LOG_DIR, WANDB_DIR = "linear_eval.json", "tb", "wandb"  # live logs (core.runtime.live_log)

# Result statuses, in the order tables list them. `near-collapse` sits between ok and collapsed: the output
# kept some spread, but less than half that of outputs spread evenly over the sphere (`collapse_status`).
OK, NEAR_COLLAPSE, COLLAPSED, DIVERGED, FAILED = "ok", "near-collapse", "collapsed", "diverged", "failed"
STATUSES = (OK, NEAR_COLLAPSE, COLLAPSED, DIVERGED, FAILED)
TRAINED = (OK, NEAR_COLLAPSE, COLLAPSED)          # statuses of a run that trained to its end (a result)

# Scalars of result.json that claims and tables may read. The monitors of the projector output z and of the
# backbone features (pool5) are measured the same way: per-channel std of the l2-normalized rows (1/sqrt(width)
# when spread evenly over the sphere, 0 for a constant output) and the entropy effective rank.
RESULT_METRICS = ("knn_acc", "linear_acc", "knn_acc_init", "z_std", "z_erank", "backbone_std", "backbone_erank",
                  "loss", "epoch", "wall_s", "train_s", "num_classes", "linear_acc_paper")

# Linear accuracy and its protocols. `linear_acc` comes from the run's own eval.linear, which result.json names
# under LINEAR_PROTOCOL (records made before the key existed had only the SGD probe); `linear_acc_paper` is always
# the paper's protocol (App. A, official main_lincls.py), whether the run configured it or it was added after
# pre-training by sweeps.evaluate.
LINEAR_PROTOCOL = "linear_protocol"
LINEAR_SGD, LINEAR_PAPER, LINEAR_NONE = "sgd", "paper", "none"

NUMERICS_KEY = "numerics"          # meta.json: core.schema.numerics.NUMERICS_VERSION of the code that trained the run
NUMERICS_BEFORE_KEY = 1            # records written before the key existed were made by version 1


def collapse_status(z_std: float, dim: int, collapse_frac: float, near_frac: float) -> str:
    """ok, near-collapse or collapsed from the final z std of a run of output dim d.

    collapsed: z_std < collapse_frac / sqrt(d); near-collapse: z_std < near_frac / sqrt(d); else ok.
    """
    sqrt_d = math.sqrt(dim)
    if z_std < collapse_frac / sqrt_d:
        return COLLAPSED
    if z_std < near_frac / sqrt_d:
        return NEAR_COLLAPSE
    return OK


def numerics_version(meta: dict) -> int:
    """The numerics version a run's meta.json records (version 1 before the key existed)."""
    value = meta.get(NUMERICS_KEY, NUMERICS_BEFORE_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) else NUMERICS_BEFORE_KEY


def read_json(path: Path) -> dict | None:
    """A JSON object from `path`, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file, skipping torn or garbled lines; [] if the file is missing."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def run_dirs(runs_dir: str | Path, sweep: str) -> list[Path]:
    """The run directories of `sweep` under `runs_dir` (<runs_dir>/<sweep>/<run_id>/ holding any record file;
    hidden ones such as .stale/ excluded), sorted."""
    root = Path(runs_dir) / sweep
    if not root.is_dir():
        return []
    marks = (META, CONFIG, METRICS, RESULT)
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and any((p / m).exists() for m in marks))


NEW, PARTIAL = "new", "partial"     # an unfinished run's state by its files (module docstring)


def unfinished_state(run_dir: Path) -> str:
    """PARTIAL or NEW for a run without its result (module docstring); sweeps.status and the report say it so."""
    return PARTIAL if any((Path(run_dir) / f).exists() for f in (METRICS, RESULT)) else NEW


def read_result(run_dir: Path) -> dict | None:
    """result.json of a finished run (a known status), else None (missing, torn, or no status)."""
    result = read_json(Path(run_dir) / RESULT)
    if result is None or result.get("status") not in STATUSES:
        return None
    return result
