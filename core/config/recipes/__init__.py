"""Named recipes: a published code's choices as overrides, applied on top of a preset (its scale) and under a
sweep's cases (the ablation), as `python -m sweeps.run NAME --recipe official`.

A recipe is a YAML file beside this module: `description`, `overrides` (at every preset) and `presets`
({preset: overrides}), for values that depend on the preset's backbone. Every preset must be listed, so that a
recipe never runs at a scale it does not describe. A recipe changes what a case starts from, not the case: a
case that sets a key keeps its value, and `--set` wins over both (sweeps/expand.py). Not to be confused with a
method's `recipe` in core/config/method_definitions.yaml (how the paper trained another method). Imports no torch.
"""
from __future__ import annotations

from pathlib import Path

from core.config.named_files import names_in, read_named
from core.schema.checks import ConfigError

RECIPE_DIR = Path(__file__).resolve().parent
SECTIONS = ("description", "overrides", "presets")


def list_recipes() -> list[str]:
    return names_in(RECIPE_DIR)


def _load(name: str) -> dict:
    data = read_named(RECIPE_DIR, "recipe", name)
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"{RECIPE_DIR / f'{name}.yaml'}: unknown section(s) {sorted(unknown)}; a recipe has "
                          f"{', '.join(SECTIONS)}")
    return data


def recipe_description(name: str) -> str:
    return " ".join(str(_load(name).get("description", "")).split())


def recipe_overrides(name: str, preset: str) -> dict:
    """What recipe `name` sets at `preset`: its overrides, then its values for that preset."""
    data = _load(name)
    per_preset = data.get("presets") or {}
    if preset not in per_preset:
        raise ConfigError(f"recipe '{name}' does not say what it means at preset '{preset}' "
                          f"({RECIPE_DIR / name}.yaml, presets: {', '.join(per_preset) or 'none'})")
    return {**(data.get("overrides") or {}), **(per_preset[preset] or {})}
