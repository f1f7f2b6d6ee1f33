"""The progress display of a sweep and its runs: one line per running run (phase, step, epoch, loss, steps/s,
ETA) and one for the sweep (runs done, running and queued, ETA from the finished runs).

On a terminal it draws tqdm bars; elsewhere (SLURM logs, CI, pipes) it prints plain lines: a run's line at its
first step and then every `every` seconds, the sweep's whenever a run starts or ends. Log lines go through the
display (`write`), so they print above the bars. A run reports through a core.runtime.progress_hooks.Progress:
`progress_for(name)` in this process, or, in a worker process of the local executor, `EventProgress`, whose
events (one JSON line each on the worker's stdout, marked with EVENT) the sweep's process reads and hands to
its display (`feed`).

Modes: bar, plain, off (log lines only), or auto (bar on a terminal when tqdm is installed, else plain); the
environment's SIMSIAM_PROGRESS and SIMSIAM_PROGRESS_EVERY give the defaults (a SLURM job's profile can set them).
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field

from core.runtime.progress_hooks import Progress
from sweeps.eta import rate, run_eta, sweep_eta
from sweeps.status import RunState
from sweeps.words import duration, plural

EVENT = "@simsiam-progress "          # marks a progress event on a worker's stdout (the rest are log lines)
MODES = ("auto", "bar", "plain", "off")
DEFAULT_EVERY = 30.0                   # seconds between a run's plain lines


def resolve_mode(mode: str | None, out) -> str:
    """bar, plain or off: `mode` (or SIMSIAM_PROGRESS, or auto); auto is bar on a terminal with tqdm, else plain."""
    mode = mode or os.environ.get("SIMSIAM_PROGRESS") or "auto"
    if mode not in MODES:
        mode = "auto"
    if mode != "auto":
        return mode
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return "plain"
    return "bar" if getattr(out, "isatty", lambda: False)() else "plain"


def default_every() -> float:
    try:
        return max(0.0, float(os.environ.get("SIMSIAM_PROGRESS_EVERY", DEFAULT_EVERY)))
    except ValueError:
        return DEFAULT_EVERY


@dataclass
class RunLine:
    """What is known about one run's progress, and its line. The rate is measured from the phase's first
    reported step on (the set-up before it is not training), at the time of the latest report."""
    name: str
    phase: str = ""
    step: int = 0
    total: int = 0
    spe: int = 1
    loss: float | None = None
    stage: str = ""
    began: float = field(default_factory=time.monotonic)     # when the run started (for the sweep's ETA)
    start_at: tuple[float, int] = (0.0, 0)                   # (time, step) the phase began at
    first_at: tuple[float, int] | None = None                # (time, step) of its first report
    last_t: float = 0.0                                      # time of the latest report

    def start(self, phase: str, step: int, total: int, spe: int, now: float) -> None:
        self.phase, self.step, self.total, self.spe, self.stage = phase, step, total, max(spe, 1), ""
        self.start_at, self.first_at, self.last_t, self.loss = (now, step), None, now, None

    def advance(self, step: int, loss: float | None, now: float) -> None:
        if self.first_at is None:
            self.first_at = (now, step)
        self.step, self.stage, self.last_t = step, "", now
        if loss is not None:
            self.loss = loss

    def rate(self) -> float | None:
        """Steps/s since the first report (before a second one: since the phase began)."""
        if self.first_at is not None and self.step > self.first_at[1]:
            return rate(self.step - self.first_at[1], self.last_t - self.first_at[0])
        return rate(self.step - self.start_at[1], self.last_t - self.start_at[0])

    def eta(self, now: float) -> float | None:
        if not self.total:
            return None
        eta = run_eta(self.total - self.step, self.rate())
        return None if eta is None else max(eta - (now - self.last_t), 0.0)

    def text(self, now: float) -> str:
        """'pretrain step 120/390, epoch 3.08/10, loss -0.8123, 4.52 steps/s, ETA 1m00s' (and the stage)."""
        if not self.total:
            return (self.stage + "...") if self.stage else "setting up (data, model)..."
        parts = [f"{self.phase} step {self.step}/{self.total}",
                 f"epoch {self.step / self.spe:.2f}/{self.total / self.spe:g}"]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        r = self.rate()
        parts += [f"{r:.2f} steps/s" if r else "- steps/s", f"ETA {duration(self.eta(now))}"]
        if self.stage:
            parts.append(self.stage + "...")
        return ", ".join(parts)


class Display:
    """Bars or plain lines for the runs of a sweep (sweep=None: a single run, no sweep line)."""

    def __init__(self, mode: str | None = None, every: float | None = None, out=None, sweep: str | None = None,
                 total_runs: int = 0, jobs: int = 1):
        self.out = out or sys.stdout
        self.mode = resolve_mode(mode, self.out)
        self.every = default_every() if every is None else every
        self.sweep, self.total_runs, self.jobs = sweep, total_runs, jobs
        self.runs: dict[str, RunLine] = {}
        self.durations: list[float] = []          # seconds each finished run took (this session)
        self.ended = 0                            # runs that ended (their result.json: done or failed) so far
        self.left: dict[str, int] = {}            # the runs gone from here without their result, by state
        self._printed: dict[str, float] = {}      # plain mode: when a run's line was last printed
        self._bars: dict[str, object] = {}
        self._sweep_bar = None

    # ---- lines of text ---------------------------------------------------------------------------
    def write(self, line: str) -> None:
        """A log line, above the bars when there are any."""
        if self._bars or self._sweep_bar is not None:
            from tqdm import tqdm
            tqdm.write(line, file=self.out)
        else:
            print(line, file=self.out, flush=True)

    # ---- runs of a sweep -------------------------------------------------------------------------
    def run_started(self, name: str) -> None:
        self.runs[name] = RunLine(name)
        if self.mode == "bar":
            self._show(self.runs[name], time.monotonic(), stepped=False)       # 'setting up' from the first second
        self._sweep_changed()

    def run_ended(self, name: str, state: RunState = RunState.DONE) -> None:
        """The run's process or call is over, or it was skipped, and `state` is where it stands (sweeps.status):
        only a run with its result (done, failed) has ended; a done one's time counts for the ETA. A run left
        without its result (partial, new; held by another process: running, pending) is counted by its state."""
        line = self.runs.pop(name, None)
        bar = self._bars.pop(name, None)
        if bar is not None:
            bar.close()
        if line is not None and state is RunState.DONE:
            self.durations.append(time.monotonic() - line.began)
        if state.finished:
            self.ended += 1
        else:
            word = state.value + (" elsewhere" if state.held else "")
            self.left[word] = self.left.get(word, 0) + 1
        self._sweep_changed(force=True)

    def sweep_text(self, now: float | None = None) -> str:
        """'1 of 4 runs ended, 2 running, 1 queued, ETA 5m10s' (and '1 partial' for a run stopped before its end)."""
        now = time.monotonic() if now is None else now
        running = len(self.runs)
        queued = max(self.total_runs - self.ended - running - sum(self.left.values()), 0)
        eta = sweep_eta(self.durations, [(now - r.began, r.eta(now)) for r in self.runs.values()], queued,
                        self.jobs)
        left = "".join(f", {n} {word}" for word, n in self.left.items())
        return (f"{self.ended} of {plural(self.total_runs, 'run')} ended{left}, {running} running, {queued} queued, "
                f"ETA {duration(eta)}")

    # ---- events of one run -----------------------------------------------------------------------
    def feed(self, name: str, event: dict) -> None:
        """An event of run `name` (EventProgress's, or progress_for's)."""
        now = time.monotonic()
        line = self.runs.get(name)
        if line is None:
            line = self.runs[name] = RunLine(name)
            if self.mode == "bar":
                self._bar(name)
        kind = event.get("kind")
        if kind == "start":
            line.start(event["phase"], event["step"], event["total"], event["spe"], now)
        elif kind == "advance":
            line.advance(event["step"], event.get("loss"), now)
        elif kind == "stage":
            line.stage = event["what"]
        elif kind == "stage_done":
            line.stage = ""
        self._show(line, now, stepped=kind == "advance")

    def progress_for(self, name: str) -> Progress:
        return _DisplayProgress(self, name)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
        if self._sweep_bar is not None:
            self._sweep_bar.close()
            self._sweep_bar = None

    # ---- drawing ---------------------------------------------------------------------------------
    def _show(self, line: RunLine, now: float, stepped: bool) -> None:
        """Redraw the run's bar; or, in plain mode, print its line after a step when `every` seconds have passed
        since the last (the first step's always, and the phase's last step's)."""
        if self.mode == "bar":
            bar = self._bars.get(line.name) or self._bar(line.name)
            bar.total, bar.status = max(line.total, 1), line.text(now)
            bar.n = line.step
            bar.refresh()
            self._sweep_changed()
        elif self.mode == "plain" and line.total and stepped:
            last = self._printed.get(line.name)
            if last is None or now - last >= self.every or line.step >= line.total:
                self._printed[line.name] = now
                print(f"[{line.name}] {line.text(now)}", file=self.out, flush=True)

    def _bar(self, name: str):
        taken = {b.slot for b in self._bars.values()}
        position = next(p for p in range(int(self.sweep is not None), len(taken) + 2) if p not in taken)
        bar = _make_bar(self.out, name, position=position)
        bar.slot = position
        self._bars[name] = bar
        return bar

    def _sweep_changed(self, force: bool = False) -> None:
        if self.sweep is None:
            return
        if self.mode == "bar":
            if self._sweep_bar is None:
                self._sweep_bar = _make_bar(self.out, f"sweep {self.sweep}", position=0, leave=True)
            self._sweep_bar.total, self._sweep_bar.n = max(self.total_runs, 1), self.ended
            self._sweep_bar.status = self.sweep_text()
            self._sweep_bar.refresh()
        elif self.mode == "plain" and force:
            print(f"[sweep {self.sweep}] {self.sweep_text()}", file=self.out, flush=True)


class _DisplayProgress(Progress):
    """A run in this process reporting to a Display."""

    def __init__(self, display: Display, name: str):
        self.display, self.name = display, name

    def start(self, phase, step, total, steps_per_epoch):
        self.display.feed(self.name, {"kind": "start", "phase": phase, "step": step, "total": total,
                                      "spe": steps_per_epoch})

    def advance(self, step, loss=None):
        self.display.feed(self.name, {"kind": "advance", "step": step, "loss": loss})

    def stage(self, what):
        self.display.feed(self.name, {"kind": "stage", "what": what})

    def stage_done(self, what, seconds):
        self.display.feed(self.name, {"kind": "stage_done", "what": what, "seconds": seconds})


class EventProgress(Progress):
    """A worker's progress as events on its stdout, for the sweep's display; `advance` at most every
    `min_interval` seconds (the first and the phase's last step always)."""

    def __init__(self, out=None, min_interval: float = 0.5):
        self.out, self.min_interval, self._last, self._total = out or sys.stdout, min_interval, None, 0

    def emit(self, event: dict) -> None:
        self.out.write(EVENT + json.dumps(event) + "\n")
        self.out.flush()

    def start(self, phase, step, total, steps_per_epoch):
        self._total, self._last = total, None
        self.emit({"kind": "start", "phase": phase, "step": step, "total": total, "spe": steps_per_epoch})

    def advance(self, step, loss=None):
        now = time.monotonic()
        if self._last is None or now - self._last >= self.min_interval or step >= self._total:
            self._last = now
            self.emit({"kind": "advance", "step": step, "loss": loss})

    def stage(self, what):
        self.emit({"kind": "stage", "what": what})

    def stage_done(self, what, seconds):
        self.emit({"kind": "stage_done", "what": what, "seconds": round(seconds, 3)})


def parse_event(line: str) -> dict | None:
    """The event a worker's stdout line carries, or None for a log line (or a garbled event)."""
    if not line.startswith(EVENT):
        return None
    try:
        event = json.loads(line[len(EVENT):])
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _make_bar(out, desc: str, position: int, leave: bool = False):
    from tqdm import tqdm

    class Bar(tqdm):
        status = ""

        @property
        def format_dict(self):                 # {status} in bar_format: our own text, right of the bar
            return {**super().format_dict, "status": self.status}

    try:
        sized = os.get_terminal_size(out.fileno()).columns > 0
    except (OSError, AttributeError, ValueError):
        sized = False
    return Bar(total=1, file=out, desc=desc, position=position, leave=leave, dynamic_ncols=sized,
               ncols=None if sized else 120, bar_format="{desc} {percentage:3.0f}% |{bar:12}| {status}",
               mininterval=0.2)
