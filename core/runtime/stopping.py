"""Stopping a training run from outside: the stop signals (core.schema.signals: Ctrl-C, SIGTERM, SIGUSR1, SIGUSR2,
as a terminal, `kill`, `timeout` or a cluster send them) or `request_stop()`.

While it trains, the training loop holds a `StopFlag` and checks it between steps; when set it saves a
checkpoint and raises `Preempted`, whose message says where the run stopped, so the run can be requeued or
re-run and resume there. A second Ctrl-C does not wait for the step boundary: it raises KeyboardInterrupt at
once (what was checkpointed before stays).

Outside the training loop (set-up, evaluation) a process that trains holds `InterruptOutside`: the first stop
signal raises KeyboardInterrupt at once (the last checkpoint is all there is to keep), and a signal that comes
once the run is stopping already (a sweep relays the signal its runs got too) changes nothing.

The signals reach the DataLoader workers too (a cluster signals every process of a job); they leave them to the
main process (core.data.loader_workers).
"""
from __future__ import annotations

import signal
import threading

from core.schema.signals import STOP_SIGNALS


class Preempted(Exception):
    """Raised after a checkpoint was saved because a signal (or request_stop) asked the run to stop; the message
    says where it stopped, e.g. 'stopped at step 120 of 390 (epoch 3.08 of 10); last.pt saved'."""


class StopFlag:
    """Set by a stop signal (main thread only) or `request_stop()` while training; checked between steps. A second
    SIGINT raises KeyboardInterrupt at once."""
    active: "StopFlag | None" = None        # the flag of the training loop running in this process, if any
    last_signal: int | None = None          # the stop signal this process got first (an exit code's); None: none
    twice: bool = False                     # the second Ctrl-C raised KeyboardInterrupt without waiting
    # signals another handler of this process takes and turns into request_stop() itself, left to it here
    # (sweeps.slurm_job: submitit's preemption signal, which must also requeue the job)
    others: frozenset = frozenset()

    def __init__(self):
        self.set, self.interrupts, self._old = False, 0, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            StopFlag.last_signal, StopFlag.twice = None, False     # none came before (set-up would have ended)
            for sig in STOP_SIGNALS:
                if sig not in StopFlag.others:
                    self._old[sig] = signal.signal(sig, self._handle)
        StopFlag.active = self
        return self

    def _handle(self, signum, frame):
        StopFlag.last_signal = StopFlag.last_signal or signum
        if signum == signal.SIGINT:
            self.interrupts += 1
            if self.interrupts > 1:                 # the second Ctrl-C: leave now, not at the next step
                StopFlag.twice = True
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


class InterruptOutside:
    """A training process's stop signals outside the training loop (module docstring): the first raises
    KeyboardInterrupt, a later one is only noted. Entering it starts afresh (StopFlag.last_signal = None);
    leaving it restores the handlers it replaced. Main thread only (elsewhere it does nothing)."""

    def __init__(self, signals=STOP_SIGNALS):
        self.signals, self._old = tuple(signals), {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            StopFlag.last_signal, StopFlag.twice = None, False
            for sig in self.signals:
                if sig not in StopFlag.others:
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    @staticmethod
    def _handle(signum, frame):
        if StopFlag.last_signal is not None:        # stopping already: a relayed or repeated signal
            return
        StopFlag.last_signal = signum
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
