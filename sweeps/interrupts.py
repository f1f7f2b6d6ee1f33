"""Ctrl-C and SIGTERM to a sweep: its runs stop at a step boundary with their checkpoints saved, and the sweep
ends with one line saying where each stopped and the command that resumes them (sweeps.run), no traceback.

The sweep's own process holds `SweepSignals` while its executor runs: the first SIGINT or SIGTERM is noted
(the executor then asks its runs to stop and starts no more); a second SIGINT raises `Interrupted` at once,
and the executor kills its runs (what they had checkpointed stays). An executor ends a stopped sweep by
raising `Interrupted` with where each run stopped.
"""
from __future__ import annotations

import signal
import threading


class Interrupted(Exception):
    """A sweep stopped by a signal: `stopped` maps each run it stopped to where ('stopped at step 120 of 390
    (epoch 3.08 of 10); last.pt saved'); `at_once` after a second Ctrl-C."""

    def __init__(self, signum: int, stopped: dict[str, str] | None = None, at_once: bool = False):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum, self.stopped, self.at_once = signum, dict(stopped or {}), at_once

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class SweepSignals:
    """Notes the first SIGINT/SIGTERM (`signum`); a second SIGINT raises Interrupted(at_once=True)."""

    def __init__(self):
        self.signum: int | None = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise Interrupted(signal.SIGINT, at_once=True)
        self.signum = self.signum or signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def interrupted_line(stop: Interrupted, command: str) -> str:
    """One line: where each run stopped, and the command that resumes the sweep."""
    how = signal.Signals(stop.signum).name + (" twice" if stop.at_once else "")
    where = "; ".join(f"{run} {text}" for run, text in stop.stopped.items()) or "no run was training"
    return f"interrupted ({how}): {where}. The same command resumes the sweep: {command}"
