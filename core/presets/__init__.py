"""Named presets: the scale of a run (data, backbone, epochs), separate from what an ablation changes.

Each preset is a YAML file of overrides beside this module; `python -m sweeps.run --list-presets` shows them.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from core.config import Config, ConfigError, apply_overrides
from core.config_checks import suggest

PRESET_DIR = Path(__file__).resolve().parent


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_overrides(name: str) -> dict:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"unknown preset '{name}'{suggest(name, list_presets())}; known: {', '.join(list_presets())}")
    data = yaml.safe_load(path.read_text()) or {}
    return {k: v for k, v in data.items() if k != "description"}


def preset_description(name: str) -> str:
    return (yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text()) or {}).get("description", "")


def preset_config(name: str) -> Config:
    return apply_overrides(Config(), preset_overrides(name), f"preset {name}")
