"""How fast a run goes and when it, and its sweep, will be done: small pure functions the display calls."""
from __future__ import annotations


def rate(steps: int, seconds: float) -> float | None:
    """Steps per second over an interval; None before there is one to measure (no step, or no time)."""
    if steps <= 0 or seconds <= 0:
        return None
    return steps / seconds


def run_eta(steps_left: int, steps_per_s: float | None) -> float | None:
    """Seconds to go at the measured rate; 0 when nothing is left, None when the rate is unknown."""
    if steps_left <= 0:
        return 0.0
    if not steps_per_s:
        return None
    return steps_left / steps_per_s


def sweep_eta(finished: list[float], running: list[tuple[float, float | None]], queued: int,
              jobs: int) -> float | None:
    """Seconds until a sweep is done: `finished` the durations of its runs done so far, `running` (elapsed,
    own ETA or None) per running run, `queued` runs not started, `jobs` runs at a time.

    A run's length is the mean of the finished ones (else, of the running runs' elapsed + ETA); a running run
    still needs its own ETA (else that length minus its elapsed time, at least 0); the work left, spread over
    `jobs`, is the ETA. None while no run says how long a run takes."""
    known = finished or [e + t for e, t in running if t is not None]
    if not known:
        return None if (queued or any(t is None for _, t in running)) else 0.0
    length = sum(known) / len(known)
    left = sum(t if t is not None else max(length - e, 0.0) for e, t in running) + queued * length
    return left / max(jobs, 1)
