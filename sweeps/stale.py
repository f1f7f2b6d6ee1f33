"""Runs made under other training numerics (core.schema.numerics) than this code's: never resumed, skipped as
finished, or copied as a twin without the user saying so.

`sweeps.run --stale` chooses: `refuse` (default: list them and stop before anything starts), `reuse` (keep
finished records as they are; the report names each row's numerics version), `rerun` (move each stale run
directory to <sweep>/.stale/ and train it anew). A partial run is never finished under other numerics.
"""
from __future__ import annotations

from pathlib import Path

from core.config.hyperparameters import ConfigError
from core.schema.numerics import NUMERICS_VERSION
from core.schema.record import META, METRICS, RESULT, numerics_version, read_json

CHOICES = ("refuse", "reuse", "rerun")
STARTED = (METRICS, "last.pt", "prev.pt", RESULT)


def started(run_dir: Path) -> bool:
    return any((Path(run_dir) / f).exists() for f in STARTED)


def version_of(run_dir: Path) -> int:
    return numerics_version(read_json(Path(run_dir) / META) or {})


def is_stale(run_dir: Path) -> bool:
    """Started (or finished) under a numerics version other than this code's."""
    return started(run_dir) and version_of(run_dir) != NUMERICS_VERSION


def move_aside(run_dir: Path) -> Path:
    """Move a stale run directory to <sweep>/.stale/<run_id>.numerics-v<N>[.k]; returns the new path."""
    run_dir = Path(run_dir)
    base = run_dir.parent / ".stale" / f"{run_dir.name}.numerics-v{version_of(run_dir)}"
    target, k = base, 1
    while target.exists():
        target, k = base.with_name(f"{base.name}.{k}"), k + 1
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(target)
    return target


def handle(run_dirs: list[Path], choice: str, finished, dry_run: bool = False) -> list[str]:
    """Apply `choice` to the stale runs among `run_dirs`; return lines saying what was done. `finished(dir)`
    tells a finished run from a partial one. Raises ConfigError for `refuse` (or a partial run with `reuse`)."""
    stale = [Path(d) for d in run_dirs if is_stale(d)]
    if not stale:
        return []
    listing = "; ".join(f"{d.name} (numerics v{version_of(d)}, {'finished' if finished(d) else 'partial'})"
                        for d in stale)
    if choice == "refuse" and not dry_run:
        raise ConfigError(f"{len(stale)} run(s) were made under other training numerics than this code's "
                          f"(v{NUMERICS_VERSION}): {listing}. Pass --stale rerun to move them to .stale/ and train "
                          "them again, or --stale reuse to keep the finished ones as they are")
    partial = [d for d in stale if not finished(d)]
    if choice == "reuse" and partial and not dry_run:
        raise ConfigError("a partial run cannot be finished under other numerics: "
                          + ", ".join(d.name for d in partial) + "; pass --stale rerun")
    if dry_run or choice == "refuse":
        return [f"  stale: {listing} (this code: v{NUMERICS_VERSION}; --stale decides)"]
    if choice == "reuse":
        return [f"  kept as they are (--stale reuse): {listing}"]
    return [f"  moved {d.name} to {move_aside(d)} (--stale rerun)" for d in stale]
