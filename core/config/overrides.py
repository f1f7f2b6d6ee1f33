"""Config overrides from the command line: `--set key=value`, as sweeps.run and benchmarks.throughput take them.

The values are read as YAML, so `--set optim.epochs=2` is the integer 2 and `--set model.stop_grad=false` the
boolean; the keys are checked later, by core.config.hyperparameters.apply_overrides, like those of any other override.
"""
from __future__ import annotations

from core.schema.checks import ConfigError


def parse_set(items: list[str]) -> dict:
    """['optim.epochs=2', 'model.stop_grad=false'] -> {'optim.epochs': 2, 'model.stop_grad': False}."""
    import yaml
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
