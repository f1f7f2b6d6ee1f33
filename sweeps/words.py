"""How the command line words counts and durations: '1 run', '2 runs', '45s', '3m05s', '2h10m'."""
from __future__ import annotations

import math


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 run', '2 runs', '0 runs'; `many` for an irregular plural ('1 was', '2 were' is not this)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def duration(seconds: float | None) -> str:
    """A duration as a person reads it: '?' for unknown, '45s', '3m05s', '2h10m', '3d04h' (rounded up to the
    last unit shown, so an ETA never reads shorter than it is by more than that unit)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = math.ceil(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    m = math.ceil(s / 60)
    if m < 24 * 60:
        return f"{m // 60}h{m % 60:02d}m"
    h = math.ceil(m / 60)
    return f"{h // 24}d{h % 24:02d}h"


def one_line(text: str | None, width: int = 200) -> str:
    """A message (a failure's reason) on one line: whitespace collapsed, cut at `width` characters."""
    flat = " ".join(str(text or "no reason recorded").split())
    return flat if len(flat) <= width else flat[:width - 3] + "..."
