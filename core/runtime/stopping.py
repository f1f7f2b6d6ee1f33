"""Stopping a training run from outside: Ctrl-C (SIGINT), SIGTERM/SIGUSR1 (a scheduler's preemption) or
`request_stop()`.

The training loop holds a `StopFlag` while it trains and checks it between steps; when set it saves a
checkpoint and raises `Preempted`, whose message says where the run stopped, so the run can be requeued or
re-run and resume there. A second Ctrl-C does not wait for the step boundary: it raises KeyboardInterrupt at
once (what was checkpointed before stays).
"""
from __future__ import annotations

import signal
import threading


class Preempted(Exception):
    """Raised after a checkpoint was saved because a signal (or request_stop) asked the run to stop; the message
    says where it stopped, e.g. 'stopped at step 120 of 390 (epoch 3.08 of 10); last.pt saved'."""


class StopFlag:
    """Set by SIGINT/SIGTERM/SIGUSR1 (main thread only) or `request_stop()` while training; checked between
    steps. A second SIGINT raises KeyboardInterrupt at once."""
    active: "StopFlag | None" = None        # the flag of the training loop running in this process, if any
    last_signal: int | None = None          # the signal that set a flag last in this process (an exit code's)

    def __init__(self):
        self.set, self.interrupts, self._old = False, 0, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        StopFlag.active = self
        return self

    def _handle(self, signum, frame):
        StopFlag.last_signal = signum
        if signum == signal.SIGINT:
            self.interrupts += 1
            if self.interrupts > 1:                 # the second Ctrl-C: leave now, not at the next step
                raise KeyboardInterrupt
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
