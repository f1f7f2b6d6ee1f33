"""Validation helpers for the config tree: flattening, type coercion, suggestions."""
from __future__ import annotations

import difflib
import typing


class ConfigError(ValueError):
    """A user-facing configuration error; its message names the source and key."""


def suggest(key: str, known: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest known key, or ''."""
    key, known = str(key), [str(k) for k in known]
    # compare both full dotted keys and the leaf names, so 'stopgrad' finds 'model.stop_grad'
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not match:
        leaves = {k.split(".", 1)[-1]: k for k in known}
        leaf = difflib.get_close_matches(key.split(".")[-1], list(leaves), n=1, cutoff=0.6)
        match = [leaves[leaf[0]]] if leaf else []
    return f" (did you mean '{match[0]}'?)" if match else ""


def flatten(d: dict, source: str, prefix: str = "") -> dict:
    """{'model': {'dim': 8}, 'optim.epochs': 2} -> {'model.dim': 8, 'optim.epochs': 2}."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(d).__name__}")
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, source, key + "."))
        else:
            out[key] = v
    return out


def coerce_value(value, ftype, key: str, source: str, owner: type):
    """Check `value` against the field's annotation; ints are accepted for floats."""
    if isinstance(ftype, str):  # postponed annotations: resolve against the dataclass
        ftype = typing.get_type_hints(owner)[key.split(".", 1)[1]]
    origin = typing.get_origin(ftype)
    if origin is typing.Literal:
        choices = typing.get_args(ftype)
        if value not in choices:
            raise ConfigError(f"{source}: '{key}' must be one of {list(choices)}, got {value!r}"
                              f"{suggest(str(value), [str(c) for c in choices])}")
        return value
    if ftype is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if ftype is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{key}' must be an integer, got {value!r}")
        return value
    if ftype is float:
        if isinstance(value, str):  # YAML 1.1 reads '1e-4' (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{key}' must be a number, got {value!r}")
        return float(value)
    if ftype is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {ftype} for {key}")  # a bug in core/config/hyperparameters.py
