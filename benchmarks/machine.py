"""What the benchmark records about the machine it ran on: how busy the CPUs were (the CPU's
name is core.schema.host's, as in a run's meta.json)."""
from __future__ import annotations

from pathlib import Path


def cpu_pressure() -> float | None:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI), in percent."""
    try:
        return float(Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None
