"""Live views of a run (`run.logger`): every row written to metrics.jsonl, mirrored to TensorBoard (`tensorboard`),
Weights & Biases (`wandb`) or both (`tensorboard+wandb`). metrics.jsonl stays the record; a mirror is a copy for
watching curves while runs train, off by default, each from an optional extra (`live`, `wandb`).

TensorBoard: each row's numeric values become scalars at the row's `step` (optimizer steps; `epoch` is one of the
scalars), in event files under RUN_DIR/tb/. Runs sit under runs/<sweep>/<run id>/, so `tensorboard --logdir
runs/<sweep>` shows a whole sweep in one view, each run under its id.

W&B: one W&B run per run directory, named by the run id and grouped by its sweep (project: $WANDB_PROJECT, else
simsiam-harness), its config the run's config.yaml; W&B's step is the row's `step`. The rows of the paper's linear
evaluation (linear_eval/*, one per epoch) follow pre-training on that axis and are plotted against their own
`linear_eval/epoch`. Its files are under RUN_DIR/wandb/ (W&B's own settings apply: WANDB_MODE=offline keeps the run
there for a later `wandb sync`). The W&B run's id is drawn once and kept in RUN_DIR/wandb/id, so a resumed run
continues the same W&B run. A W&B error (the network, the service) turns the mirror off with one warning; the run
trains on.

Resume-safe: no step is written twice. When a mirror opens it reads what it already holds (TensorBoard's event
files; the history records of W&B's run files, `wandb_history`) and then replays metrics.jsonl, so a resumed run
(whose killed process may have logged rows past its checkpoint, which metrics.jsonl then dropped and the resumed
run logs again) writes each step once: the first value written for a step is kept (on a CPU the re-logged value
is the same, bit for bit). A run started with the logger off and resumed with it on catches up the same way.

Only rank 0 writes a run directory (core.runtime.run_directory.FollowerRunDir has no mirror). `tensorboard` and
`wandb` are
imported here only when a mirror opens: with the logger off nothing of them is loaded.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import warnings
from pathlib import Path

from core.schema.record import LIVE_LOG_DIR as TB_DIR
from core.schema.record import WANDB_DIR

INSTALL_HINT = {"tensorboard": "pip install tensorboard (or the project's `live` extra: pip install -e '.[live]')",
                "wandb": "pip install wandb (or the project's `wandb` extra: pip install -e '.[wandb]')"}
TOOLS = {"none": (), "tensorboard": ("tensorboard",), "wandb": ("wandb",),
         "tensorboard+wandb": ("tensorboard", "wandb")}
LINEAR_PREFIX = "linear_eval/"


class LoggerUnavailable(RuntimeError):
    """run.logger names a tool whose package is not installed (or W&B without a way to log); the message says
    what to do."""


def check_available(logger: str) -> None:
    """Raise LoggerUnavailable when `logger` cannot open here (before any run starts)."""
    import importlib.util
    for tool in TOOLS[logger]:
        if importlib.util.find_spec(tool) is None:
            raise LoggerUnavailable(f"run.logger {logger} needs the {tool} package: {INSTALL_HINT[tool]}")
    if "wandb" in TOOLS[logger] and not wandb_can_log():
        raise LoggerUnavailable(f"run.logger {logger}: W&B has no credentials here (WANDB_API_KEY, or `wandb "
                                "login`); WANDB_MODE=offline keeps each run in RUN_DIR/wandb for a later `wandb sync`")


def wandb_can_log() -> bool:
    """Offline or disabled W&B needs nothing; online needs an API key (the environment, or ~/.netrc's entry)."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled") or os.environ.get("WANDB_API_KEY"):
        return True
    host = re.sub(r"^https?://", "", os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).split("/")[0]
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return host in netrc.read_text()
    except OSError:
        return False


def scalars(row: dict) -> dict[str, float]:
    """The row's finite numbers by name, `step` (the x axis) and booleans left out."""
    return {k: float(v) for k, v in row.items() if k != "step" and isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(v)}


# ---- TensorBoard -----------------------------------------------------------------------------------------
def written_steps(log_dir: Path) -> dict[str, int]:
    """The highest step of every scalar tag in the event files of `log_dir` ({} when there are none)."""
    if not any(Path(log_dir).glob("events.out.tfevents.*")):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})    # 0: keep every point
    acc.Reload()
    return {tag: max(e.step for e in acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}


class TensorBoardMirror:
    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter
        log_dir = Path(run_dir) / TB_DIR
        self.last = written_steps(log_dir)                       # tag -> highest step already written
        self.writer = SummaryWriter(str(log_dir))

    def write(self, row: dict) -> None:
        """Add the row's scalars at row['step'] (those of a step a tag already has are skipped); flush."""
        step = int(row.get("step") or 0)
        wrote = False
        for tag, value in scalars(row).items():
            if step > self.last.get(tag, -1):
                self.writer.add_scalar(tag, value, global_step=step)
                self.last[tag] = step
                wrote = True
        if wrote:
            self.writer.flush()                                  # a kill loses nothing already mirrored

    def close(self) -> None:
        self.writer.close()


# ---- Weights & Biases ------------------------------------------------------------------------------------
def wandb_records(path: Path):
    """The records (bytes) of one W&B run file (run-ID.wandb): a 7-byte header (':W&B', 0xBEE1, version), then
    LevelDB-log blocks of 32 KiB holding chunks (crc32c 4 bytes, length 2, type 1: full, first, middle, last).
    A chunk cut short by a kill ends the file."""
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        return
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:                              # a block's tail too short for a header: padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if len(chunk) < length or kind == 0:
            return
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk


def wandb_history(run_dir: Path) -> list[dict]:
    """Every history row W&B recorded for the run under RUN_DIR/wandb (all its sessions, oldest first), as
    {key: value} with W&B's own `_step`: what the mirror holds, read back from W&B's run files."""
    from wandb.proto import wandb_internal_pb2 as pb
    rows = []
    files = sorted(Path(run_dir, WANDB_DIR).glob("*run-*/run-*.wandb"), key=lambda p: p.parent.name.split("-", 2)[-1])
    for path in files:
        for data in wandb_records(path):
            record = pb.Record()
            try:
                record.ParseFromString(data)
            except Exception:                                   # a torn record: what follows is unreadable too
                break
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
    return rows


def wandb_run_info(run_dir: Path) -> list[dict]:
    """The run records of the W&B run files under RUN_DIR/wandb (one per session): id, name, group, project."""
    from wandb.proto import wandb_internal_pb2 as pb
    out = []
    for path in sorted(Path(run_dir, WANDB_DIR).glob("*run-*/run-*.wandb")):
        for data in wandb_records(path):
            record = pb.Record()
            record.ParseFromString(data)
            if record.WhichOneof("record_type") == "run":
                r = record.run
                out.append({"id": r.run_id, "name": r.display_name, "group": r.run_group, "project": r.project})
                break
    return out


def _wandb_id(run_dir: Path) -> str:
    """The W&B run id of this run directory: drawn once (the run id, made safe, and 6 random hex digits) and kept
    in RUN_DIR/wandb/id, so resuming continues the same W&B run and two runs directories never share one."""
    path = Path(run_dir, WANDB_DIR, "id")
    if path.exists():
        return path.read_text().strip()
    run_id = f"{re.sub(r'[^A-Za-z0-9_-]+', '-', Path(run_dir).name)[:57]}-{secrets.token_hex(3)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(run_id + "\n")
    return run_id


class WandbMirror:
    def __init__(self, run_dir: Path):
        import wandb
        import yaml
        run_dir = Path(run_dir)
        self.last = max((int(r.get("_step", -1)) for r in wandb_history(run_dir)), default=-1)
        self.pretrain_last = -1                                 # the last pre-training step seen (x of linear eval)
        meta = json.loads((run_dir / "meta.json").read_text()) if (run_dir / "meta.json").exists() else {}
        config = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").exists() else {}
        about = {"run_dir": str(run_dir), "meta": {k: meta.get(k) for k in ("sweep", "case", "seed", "preset")}}
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "simsiam-harness"), group=meta.get("sweep"),
                              name=run_dir.name, id=_wandb_id(run_dir), dir=str(run_dir), resume="allow",
                              config={**about, **config}, settings=wandb.Settings(console="off", reinit="create_new"))
        self.run.define_metric(LINEAR_PREFIX + "*", step_metric=LINEAR_PREFIX + "epoch")

    def write(self, row: dict) -> None:
        """Log the row's scalars at its step (a linear-evaluation row after pre-training's last step), unless W&B
        already holds that step."""
        step, values = int(row.get("step") or 0), scalars(row)
        if any(k.startswith(LINEAR_PREFIX) for k in values):
            values[LINEAR_PREFIX + "epoch"] = float(step)
            step = self.pretrain_last + step
        else:
            self.pretrain_last = max(self.pretrain_last, step)
        if step > self.last and values:
            self.run.log(values, step=step)
            self.last = step

    def close(self) -> None:
        """Finish the W&B run and stop this process's W&B service, which has then written the run's files in
        full (W&B buffers them until then): a later mirror of this run, in this process or another, reads them."""
        import wandb
        self.run.finish()
        wandb.teardown()


# ---- open, and keep going when a mirror fails -------------------------------------------------------------
MIRRORS = {"tensorboard": TensorBoardMirror, "wandb": WandbMirror}


class Mirrors:
    """The mirrors `run.logger` names, each caught up with metrics.jsonl when it opens. A mirror that fails (W&B
    off the network, say) is dropped with one warning: the run trains on, and metrics.jsonl keeps the record."""

    def __init__(self, logger: str, run_dir: Path, rows: list[dict]):
        self.mirrors = []
        for tool in TOOLS[logger]:
            check_available(tool)
            mirror = self._guard(tool, lambda: MIRRORS[tool](run_dir))
            if mirror is not None:
                self.mirrors.append((tool, mirror))
        for row in rows:
            self.write(row)

    def _guard(self, tool: str, call):
        try:
            return call()
        except LoggerUnavailable:
            raise
        except Exception as err:
            warnings.warn(f"run.logger {tool}: {type(err).__name__}: {err}; this live view is off from here "
                          "(metrics.jsonl keeps the record)")
            return None

    def write(self, row: dict) -> None:
        for tool, mirror in list(self.mirrors):
            if self._guard(tool, lambda: mirror.write(row) or True) is None:
                self.mirrors.remove((tool, mirror))

    def close(self) -> None:
        for tool, mirror in self.mirrors:
            self._guard(tool, mirror.close)
        self.mirrors = []


def open_mirror(logger: str, run_dir: Path, rows: list[dict]) -> Mirrors | None:
    """The mirrors `logger` names (None for "none"), caught up with `rows` (metrics.jsonl so far)."""
    if logger == "none":
        return None
    return Mirrors(logger, run_dir, rows)
