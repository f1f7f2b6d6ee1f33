"""The YAML files a name picks from a folder (presets, recipes): the names there, and one file read with a
did-you-mean for a name that is not. Imports no torch."""
from __future__ import annotations

from pathlib import Path

import yaml

from core.schema.checks import ConfigError, suggest


def names_in(folder: Path) -> list[str]:
    return sorted(p.stem for p in Path(folder).glob("*.yaml"))


def read_named(folder: Path, kind: str, name: str) -> dict:
    """`folder`/`name`.yaml as a mapping; ConfigError naming the known ones for an unknown `name`."""
    path = Path(folder) / f"{name}.yaml"
    if not path.exists():
        known = names_in(folder)
        raise ConfigError(f"unknown {kind} '{name}'{suggest(name, known)}; known: {', '.join(known)}")
    return yaml.safe_load(path.read_text()) or {}
