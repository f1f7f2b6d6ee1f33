"""Expand a sweep (cases x grid x seeds) at a preset into run specs. Needs no torch.

Override order, later wins: config defaults < preset < case < grid point < --set < seed.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from core.config import Config, apply_overrides, config_hash
from core.presets import preset_overrides
from sweeps.sweepfile import Sweep


@dataclass(frozen=True)
class RunSpec:
    sweep: str
    case: str
    seed: int
    grid: dict
    preset: str
    config: Config
    run_id: str
    run_dir: Path

    def meta(self) -> dict:
        return {"sweep": self.sweep, "case": self.case, "seed": self.seed, "grid": self.grid,
                "preset": self.preset, "run_id": self.run_id, "config_hash": config_hash(self.config)}


def slug(text: str) -> str:
    """'w/o stop-grad' -> 'wo-stop-grad': safe in a directory name."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9.=_-]+", "-", text.replace("/", ""))).strip("-").lower() or "case"


def parse_set(items: list[str]) -> dict:
    """['optim.epochs=2', 'model.stop_grad=false'] -> {'optim.epochs': 2, 'model.stop_grad': False} (YAML values)."""
    import yaml
    from core.config import ConfigError
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set: expected key=value, got '{item}'")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def expand(sweep: Sweep, preset: str, runs_dir: Path, seeds: list[int] | None = None,
           cli_overrides: dict | None = None) -> list[RunSpec]:
    base = apply_overrides(Config(), preset_overrides(preset), f"preset {preset}")
    grid_keys = list(sweep.grid)
    specs = []
    for case, overrides in sweep.cases.items():
        case_cfg = apply_overrides(base, overrides, f"{sweep.path}: case '{case}'")
        for values in itertools.product(*(sweep.grid[k] for k in grid_keys)):
            point = dict(zip(grid_keys, values))
            cfg = apply_overrides(case_cfg, point, f"{sweep.path}: grid")
            if cli_overrides:
                cfg = apply_overrides(cfg, cli_overrides, "--set")
            for seed in (seeds if seeds is not None else sweep.seeds):
                run_cfg = apply_overrides(cfg, {"run.seed": seed}, "--seeds")
                label = slug(case) + "".join(f"_{k.split('.')[-1]}={v}" for k, v in point.items())
                run_id = f"{label}-s{seed}-{config_hash(run_cfg)}"
                specs.append(RunSpec(sweep.name, case, seed, point, preset, run_cfg, run_id, Path(runs_dir) / sweep.name / run_id))
    return specs
