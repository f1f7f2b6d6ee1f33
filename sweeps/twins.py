"""Runs that another sweep already made. The paper's tables share their baseline (Table 1's baseline is Fig.
2's run with stop-gradient, Table 3's default row, Sec. 4.5's cosine row, ...), and so do the sweep files: at
one preset those rows expand to the same config, hence the same config hash (seed included).

A run about to start whose twin (a run directory anywhere under the runs root with the same config hash,
finished ok or collapsed) exists takes a copy of the twin's record instead of training again: config.yaml
(its own, which differs at most in non-identity fields such as data.root), the twin's metrics.jsonl and
result.json, and a meta.json with this run's sweep, case and run id plus `copied_from`, and the twin's
commit, host and start time (where the numbers were computed). `sweeps.run --no-reuse` trains anyway.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from core.config.hyperparameters import ConfigError, config_hash
from core.runtime.run_directory import RunDir
from core.schema.numerics import NUMERICS_VERSION
from core.schema.record import TRAINED
from sweeps.expand import RunSpec
from sweeps.stale import version_of

REUSABLE = TRAINED                    # a failed or diverged twin is not a result worth copying


def find_twin(spec: RunSpec, runs_dir: Path, any_numerics: bool = False) -> Path | None:
    """A finished run directory under `runs_dir` with spec's config hash, other than spec's own, made under
    this code's training numerics (or any, with `any_numerics`); or None."""
    h = config_hash(spec.config)
    candidates = sorted(Path(runs_dir).glob(f"*/*-{h}"), key=lambda p: ("copied_from" in RunDir(p).read_meta(), p))
    for cand in candidates:                            # runs that trained before copies of them
        if cand.resolve() == Path(spec.run_dir).resolve():
            continue
        result = RunDir(cand).read_result()
        if not result or result.get("status") not in REUSABLE:
            continue
        if not any_numerics and version_of(cand) != NUMERICS_VERSION:
            continue
        try:
            if config_hash(RunDir(cand).read_config()) == h:
                return cand
        except (ConfigError, OSError):
            continue
    return None


def adopt(spec: RunSpec, twin: Path) -> None:
    """Make spec's run directory a copy of `twin`'s record (module docstring). result.json comes last, so a
    copy cut short is not a finished run."""
    rd, src = RunDir(spec.run_dir), RunDir(twin)
    rd.write_config(spec.config)
    origin = src.read_meta()
    kept = {k: v for k, v in origin.items() if k not in spec.meta()}
    rd.write_meta({**kept, **spec.meta(), "copied_from": origin.get("copied_from", f"{twin.parent.name}/{twin.name}")})
    shutil.copyfile(src.file("metrics.jsonl"), rd.file("metrics.jsonl"))
    rd.write_result(src.read_result())


def match_twins(specs: list[RunSpec], runs_dir: Path, any_numerics: bool = False) -> dict[str, Path]:
    """{run id: its twin} for every not-yet-started run of `specs` that has one; nothing is copied yet."""
    twins = {}
    for spec in specs:
        rd = RunDir(spec.run_dir)               # prepared (config and meta written) is not started
        started = any(rd.file(f).exists() for f in ("metrics.jsonl", "last.pt", "prev.pt", "result.json"))
        twin = None if started else find_twin(spec, runs_dir, any_numerics)
        if twin is not None:
            twins[spec.run_id] = twin
    return twins


def twin_line(spec: RunSpec, twin: Path, dry_run: bool) -> str:
    return (f"  {spec.run_id}: same config as {twin.parent.name}/{twin.name} (finished): "
            + ("would copy its record" if dry_run else "copied its record"))
