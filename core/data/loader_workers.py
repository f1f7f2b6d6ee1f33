"""DataLoader worker processes that leave the stop signals to the run's main process.

A cluster (and `timeout`, and a terminal's Ctrl-C) signals every process of a run at once: the main process and
its DataLoader workers. A worker that died of SIGTERM would fail the run ("DataLoader worker is killed by signal:
Terminated") before the main process could checkpoint at its next step boundary. So every worker ignores the stop
signals (core.schema.signals: SIGINT, SIGTERM, SIGUSR1, SIGUSR2) from its first instruction on: they stay blocked
from before the worker is forked until its init function has set them to be ignored (a signal that came in
between is dropped with them), and the main process, which gets the same signal, stops the run (core.runtime.stopping);
its workers are shut down with its loaders. A worker left behind by a main process that is gone exits by itself
(torch's watchdog). A worker that dies of anything else (SIGKILL from the out-of-memory killer, a crash) still
fails the run, with torch's message naming the signal.

Should a worker nonetheless end by a stop signal (a multiprocessing start method that forks elsewhere), the
loader raises `WorkerStopped`, a KeyboardInterrupt: the run is interrupted, its last checkpoint kept, not failed.
"""
from __future__ import annotations

import re
import signal
from contextlib import contextmanager
from typing import Iterator

import torch

from core.schema.signals import STOP_SIGNALS, exit_cause, signal_name


class WorkerStopped(KeyboardInterrupt):
    """A DataLoader worker ended by a stop signal: the run was interrupted, not failed."""


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A worker's init function: the stop signals ignored, then unblocked (see the module docstring)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextmanager
def stop_signals_blocked():
    """The stop signals blocked in this thread while it forks workers (they inherit the mask); a signal that comes
    meanwhile is delivered to this process when the block ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def loader(dataset, num_workers: int, **kwargs) -> torch.utils.data.DataLoader:
    """torch's DataLoader, its workers (if any) leaving the stop signals to this process; iterate it with
    `batches`."""
    init = ignore_stop_signals if num_workers > 0 else None
    return torch.utils.data.DataLoader(dataset, num_workers=num_workers, worker_init_fn=init, **kwargs)


def batches(data_loader: torch.utils.data.DataLoader) -> Iterator:
    """The loader's batches; its workers are started with the stop signals blocked (module docstring)."""
    if data_loader.num_workers == 0:
        yield from data_loader
        return
    with stop_signals_blocked():
        it = iter(data_loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except RuntimeError as err:
            raise worker_error(err, it) from None
        yield batch


def worker_error(err: RuntimeError, it) -> BaseException:
    """What a loader's error says, with how its dead worker ended: WorkerStopped for a stop signal; else torch's
    error, its message naming the worker and its exit ('killed by SIGKILL', which is also what the kernel's
    out-of-memory killer sends)."""
    dead = [(w.pid, w.exitcode) for w in getattr(it, "_workers", ()) if w.exitcode not in (None, 0)]
    codes = [-code for _, code in dead if code < 0] + [s for s in [stop_signal_of(str(err))] if s is not None]
    stopped = next((sig for sig in codes if sig in STOP_SIGNALS), None)
    if stopped is not None:
        return WorkerStopped(f"a DataLoader worker was stopped by {signal_name(stopped)}")
    if not dead:
        return err
    pid, code = dead[0]
    oom = " (out of memory? the kernel's out-of-memory killer sends SIGKILL)" if code == -signal.SIGKILL else ""
    return RuntimeError(f"DataLoader worker (pid {pid}) {exit_cause(code)}{oom}: {err}")


_KILLED = re.compile(r"DataLoader worker \(pid[^)]*\) is killed by signal: (.+?)\.?\s*$")


def stop_signal_of(message: str) -> int | None:
    """The stop signal torch's message says killed a worker ('... is killed by signal: Terminated.'), else None."""
    m = _KILLED.search(message.strip())
    if m is None:
        return None
    for sig in STOP_SIGNALS:
        if signal.strsignal(sig) == m.group(1).strip():
            return sig
    return None
