"""A live view of a run for TensorBoard (`run.logger: tensorboard`): every row written to metrics.jsonl, mirrored.

metrics.jsonl stays the record; the mirror is a copy for watching curves while runs train. Each row's numeric
values become scalars at the row's `step` (optimizer steps; `epoch` is one of the scalars), in event files
under RUN_DIR/tb/. Runs sit under runs/<sweep>/<run id>/, so `tensorboard --logdir runs/<sweep>` shows a
whole sweep in one view, each run under its id.

Resume-safe: a tag never gets a step at or below one it already has. When the mirror opens it reads the event
files already there and then replays metrics.jsonl, so a resumed run (whose killed process may have logged
rows past its checkpoint, which metrics.jsonl then dropped and the resumed run logs again) writes each step
once: the first value written for a step is kept (on a CPU the re-logged value is the same, bit for bit). A
run started with the logger off and resumed with it on catches up from metrics.jsonl the same way.

Only rank 0 writes a run directory (core.rundir.FollowerRunDir has no mirror). `tensorboard` is imported
here only when a mirror opens: with the logger off nothing of it is loaded.
"""
from __future__ import annotations

import math
from pathlib import Path

INSTALL_HINT = "pip install tensorboard (or the project's `live` extra: pip install -e '.[live]')"


class LoggerUnavailable(RuntimeError):
    """run.logger names a tool whose package is not installed; the message says how to install it."""


def check_available(logger: str) -> None:
    """Raise LoggerUnavailable when `logger` cannot open here (before any run starts)."""
    if logger == "tensorboard":
        import importlib.util
        if importlib.util.find_spec("tensorboard") is None:
            raise LoggerUnavailable(f"run.logger tensorboard needs the tensorboard package: {INSTALL_HINT}")


def scalars(row: dict) -> dict[str, float]:
    """The row's finite numbers by name, `step` (the x axis) and booleans left out."""
    return {k: float(v) for k, v in row.items() if k != "step" and isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(v)}


def written_steps(log_dir: Path) -> dict[str, int]:
    """The highest step of every scalar tag in the event files of `log_dir` ({} when there are none)."""
    if not any(Path(log_dir).glob("events.out.tfevents.*")):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})    # 0: keep every point
    acc.Reload()
    return {tag: max(e.step for e in acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}


class TensorBoardMirror:
    def __init__(self, log_dir: Path):
        check_available("tensorboard")
        from torch.utils.tensorboard import SummaryWriter
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


def open_mirror(logger: str, log_dir: Path, rows: list[dict]) -> TensorBoardMirror | None:
    """The mirror `logger` names (None for "none"), caught up with `rows` (metrics.jsonl so far)."""
    if logger == "none":
        return None
    mirror = TensorBoardMirror(log_dir)
    for row in rows:
        mirror.write(row)
    return mirror
