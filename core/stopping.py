"""Stopping a training run from outside: SIGTERM/SIGUSR1 (a scheduler's preemption) or `request_stop()`.

The training loop holds a `StopFlag` while it trains and checks it between steps; when set it saves a
checkpoint and raises `Preempted`, so the run can be requeued and resume where it stopped.
"""
from __future__ import annotations

import signal
import threading


class Preempted(Exception):
    """Raised after a checkpoint was saved because SIGTERM/SIGUSR1 asked the run to stop."""


class StopFlag:
    """Set by SIGTERM/SIGUSR1 (main thread only) or `request_stop()` while training; checked between steps."""
    active: "StopFlag | None" = None        # the flag of the training loop running in this process, if any

    def __init__(self):
        self.set, self._old = False, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGUSR1):
                self._old[sig] = signal.signal(sig, self._handle)
        StopFlag.active = self
        return self

    def _handle(self, signum, frame):
        self.set = True

    def __exit__(self, *exc):
        StopFlag.active = None
        for sig, old in self._old.items():
            signal.signal(sig, old)


def request_stop() -> bool:
    """Ask the running training loop to checkpoint at its next step boundary and raise `Preempted`, as
    SIGTERM does. False when no loop is training (set-up, evaluation, or none). Safe in a signal handler."""
    flag = StopFlag.active
    if flag is None:
        return False
    flag.set = True
    return True
