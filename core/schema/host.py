"""What a record says about the machine that made it: the CPU's model name. Bit-exactness of a CPU run holds
on one CPU type only (summation order differs between types), so a run's meta.json names its CPU."""
from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The first 'model name' of /proc/cpuinfo (Linux), else what platform knows, else 'unknown CPU'."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
