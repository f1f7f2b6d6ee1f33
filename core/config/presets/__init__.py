"""Named presets: the scale of a run (data, backbone, epochs), separate from what an ablation changes.

Each preset is a YAML file of overrides beside this module; `python -m sweeps.run --list-presets` shows them.
Besides its overrides and `description`, a preset may say that it is sized for a GPU (`gpu: true`: launched
without one it warns), its SLURM jobs' defaults (`slurm: {gpus_per_node: 1, time: ...}`, under a profile and the
flags), and how the Sec. 6 methods (core/config/method_definitions.yaml) run at its scale: `method_recipes: true`
applies the
methods' ImageNet recipes (batch 4096, LARS, ...), and `methods: {NAME: {key: value}}` sets values a method needs
at this scale (a queue that fits the data set). Both apply only to cases that select a method, so they change no
other run.
"""
from __future__ import annotations

from pathlib import Path

from core.config.hyperparameters import Config, ConfigError, apply_overrides
from core.config.named_files import names_in, read_named

PRESET_DIR = Path(__file__).resolve().parent


def list_presets() -> list[str]:
    return names_in(PRESET_DIR)


def preset_overrides(name: str) -> dict:
    return {k: v for k, v in _data(name).items() if k not in NOT_OVERRIDES}


NOT_OVERRIDES = ("description", "method_recipes", "methods", "gpu", "slurm")


def _data(name: str) -> dict:
    return read_named(PRESET_DIR, "preset", name)                # an unknown name fails here, with a suggestion


def preset_needs_gpu(name: str) -> bool:
    """Whether the preset is sized for a GPU (`gpu: true`): without one it warns before runs start."""
    return bool(_data(name).get("gpu", False))


def preset_slurm(name: str) -> dict:
    """The preset's SLURM defaults (`slurm:`, keys of sweeps.slurm.SlurmOptions), under a profile and the flags."""
    slurm = _data(name).get("slurm") or {}
    if not isinstance(slurm, dict):
        raise ConfigError(f"preset {name}: 'slurm' must be a mapping of SLURM options")
    return dict(slurm)


def preset_methods(name: str) -> tuple[bool, dict]:
    """(whether the methods' recipes apply at this preset, {method: overrides at this scale})."""
    data = _data(name)
    recipes, methods = data.get("method_recipes", False), data.get("methods") or {}
    if not isinstance(recipes, bool) or not isinstance(methods, dict):
        raise ConfigError(f"preset {name}: 'method_recipes' must be true or false and 'methods' a mapping")
    return recipes, methods


def preset_description(name: str) -> str:
    return _data(name).get("description", "")


def preset_config(name: str) -> Config:
    return apply_overrides(Config(), preset_overrides(name), f"preset {name}")
