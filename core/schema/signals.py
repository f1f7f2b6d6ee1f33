"""The signals that stop a run, as a terminal, `kill`, `timeout` and a cluster send them: Ctrl-C (SIGINT), SIGTERM
(kill, timeout, scancel, a SLURM preemption or requeue) and SIGUSR1/SIGUSR2 (a scheduler's warning before its time
limit; submitit's is SIGUSR2). A cluster delivers them to every process of a run at once: its main process and its
DataLoader workers alike. The main process checkpoints and stops (core.runtime.stopping); a DataLoader worker leaves
them to it (core.data.loader_workers); the sweep's own process notes them and asks its runs to stop
(sweeps.interrupts). A run stopped by one of them is interrupted, not failed: the same command resumes it, and its
exit code is 128 + the signal. Imports nothing of ours and no torch.
"""
from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def signal_name(signum: int) -> str:
    """'SIGTERM' for 15; 'signal 99' for a number that names no signal."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_cause(returncode: int) -> str:
    """What a process's return code says about how it ended: 'killed by SIGKILL' (a negative code, as
    subprocess gives it, or 128 + the signal, as a shell does), 'exited with code 1', 'exited cleanly'."""
    if returncode < 0:
        return f"killed by {signal_name(-returncode)}"
    if returncode > 128 and returncode - 128 in {s.value for s in signal.Signals}:
        return f"stopped by {signal_name(returncode - 128)}"
    return "exited cleanly" if returncode == 0 else f"exited with code {returncode}"
