"""A stop signal to a sweep (Ctrl-C, SIGTERM, SIGUSR1 or SIGUSR2: core.schema.signals), to its process alone or to
its whole process group (its runs and their DataLoader workers too, as a terminal, `timeout` or a cluster send it):
its runs stop at a step boundary with their checkpoints saved, and the sweep ends with one line naming each run
that was training and where it stopped, and the command that resumes them (sweeps.run), no traceback.

The sweep's own process holds `SweepSignals` while its executor runs: the first stop signal is noted (the
executor then asks its runs to stop and starts no more); a second SIGINT raises `Interrupted` at once, and the
executor kills its runs (what they had checkpointed stays). An executor ends a stopped sweep by raising
`Interrupted` with where each run stopped; a run killed before it could say so is named with its state as
sweeps.status reads it from the run directory ('partial (epoch 2.5)').
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path

from core.schema.signals import STOP_SIGNALS, signal_name

INTERRUPTED_OUTSIDE = ("interrupted before its next step boundary (set-up, evaluation, or a second Ctrl-C); its last "
                       "checkpoint is kept")


class Interrupted(Exception):
    """A sweep stopped by a signal: `stopped` maps each run it stopped to where ('stopped at step 120 of 390
    (epoch 3.08 of 10); last.pt saved'); `at_once` after a second Ctrl-C."""

    def __init__(self, signum: int, stopped: dict[str, str] | None = None, at_once: bool = False):
        super().__init__(f"interrupted by {signal_name(signum)}")
        self.signum, self.stopped, self.at_once = signum, dict(stopped or {}), at_once

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class SweepSignals:
    """Notes the first stop signal (`signum`); a second SIGINT raises Interrupted(at_once=True)."""

    def __init__(self):
        self.signum: int | None = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise Interrupted(signal.SIGINT, at_once=True)
        self.signum = self.signum or signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def killed_at_once(run_dir: Path) -> str:
    """Where a run killed without a word stands: its state as sweeps.status reads it, and what is kept."""
    from sweeps.status import local_state
    state, detail = local_state(run_dir)
    return f"{state.text(detail)}, killed at once; its last checkpoint is kept"


def interrupted_line(stop: Interrupted, command: str) -> str:
    """One line: each run that was training and where it stopped, and the command that resumes the sweep."""
    how = signal_name(stop.signum) + (" twice" if stop.at_once else "")
    where = "; ".join(f"{run} {text}" for run, text in stop.stopped.items()) or "no run was training"
    return f"interrupted ({how}): {where}. The same command resumes the sweep: {command}"
