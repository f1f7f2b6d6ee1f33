"""Which runs may be judged together: a run's group, worked out when a sweep creates the run and recorded in its
meta.json (core.schema.group_record, where the analysis reads it; sweeps.backfill_groups for records made before
runs recorded it). Imports no torch.

The rows of a sweep differ in their cases' own settings and the seed; anything else that differs between two
runs (another preset, a `--set` override, a 1-epoch run beside 10-epoch ones, other training numerics) makes
their numbers different experiments, which no verdict may compare.

A run's *comparable part* is its config with its case undone: the flattened identity config
(core.config.hyperparameters:
fields marked non-identity, and run.seed, left out; a key the record lacks reads as its default, a field added
since the record was made being at its default there) in which every key its case sets (the case's overrides,
its method's values at the preset, its grid point; schedule lengths scaled as the run's were) and that still
holds the case's value is set back to the preset's value. A key the case sets that holds another value was
changed after the case (`--set` wins over a case): it stays, marked `OverCase`. Two runs of a sweep belong to
one group when they share preset, numerics version (core.schema.numerics) and comparable part.

Undone rather than left out: the cases of a sweep set different keys ('w/ stop-grad' leaves model.stop_grad
alone, 'w/o stop-grad' sets it), so configs minus each case's own keys would never be equal across cases, and
configs minus every case's keys would not see a `--set` of a key that only some cases set.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

from core.config.cases import PAPER_EPOCHS, case_overrides, scale_schedule
from core.config.hyperparameters import Config, apply_overrides
from core.config.methods import method
from core.config.presets import preset_overrides
from core.schema.checks import ConfigError, flatten
from core.schema.group_record import group_field, show, with_numerics
from core.schema.record import numerics_version

SEED = "run.seed"
NAMED_KEYS = 4                      # a group name spells out at most this many settings, then counts the rest


@dataclass(frozen=True)
class OverCase:
    """A value a case sets, changed after the case (by --set): the run is not what the case describes."""
    value: object

    def __str__(self) -> str:
        return f"{show(self.value)} over the case's value"


@dataclass(frozen=True)
class RunGroup:
    preset: str | None
    numerics: int
    part: tuple                     # the comparable part as sorted (key, value) pairs

    @property
    def settings(self) -> dict:
        return dict(self.part)


@lru_cache(maxsize=None)
def _fields() -> tuple[dict, dict]:
    """({identity key: default} in config order, without run.seed; {key: {old name: new name}})."""
    defaults, aliases = {}, {}
    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(section.default):
            key = f"{section.name}.{f.name}"
            if f.metadata.get("identity", True) and key != SEED:
                defaults[key] = f.default
            if f.metadata.get("aliases"):
                aliases[key] = f.metadata["aliases"]
    return defaults, aliases


def _non_identity() -> set[str]:
    known = {f"{s.name}.{f.name}" for s in dataclasses.fields(Config) for f in dataclasses.fields(s.default)}
    return known - set(_fields()[0])


def _value(key: str, value):
    """A config value read the same way whatever wrote it: old choice names as new, '1e-4' as a number."""
    defaults, aliases = _fields()
    if isinstance(value, str):
        value = aliases.get(key, {}).get(value, value)
        if isinstance(defaults.get(key), float):
            try:
                value = float(value)
            except ValueError:
                pass
    return value


def identity_config(config: dict) -> dict:
    """A resolved config (config.yaml, nested) flattened to its identity keys, defaults filled in; keys the
    config tree no longer knows are kept (they were part of what the run computed)."""
    flat = flatten(config or {}, "config.yaml")
    defaults, _ = _fields()
    out = {k: _value(k, flat.get(k, d)) for k, d in defaults.items()}
    skip = _non_identity() | {SEED}
    out.update({k: _value(k, v) for k, v in sorted(flat.items()) if k not in out and k not in skip})
    return out


@lru_cache(maxsize=None)
def _preset_base(preset: str | None) -> tuple | None:
    if preset is None:
        return None
    try:
        cfg = apply_overrides(Config(), preset_overrides(preset), f"preset {preset}")
    except ConfigError:                                 # a preset this code does not know (any more)
        return None
    return tuple(identity_config(dataclasses.asdict(cfg)).items())


def preset_base(preset: str | None) -> dict | None:
    """The identity config of `preset` before any case or --set; None for an unknown preset."""
    base = _preset_base(preset)
    return None if base is None else dict(base)


@lru_cache(maxsize=None)
def _case_settings(overrides: str, preset: str | None, scale: float, grid: str) -> tuple:
    own = json.loads(overrides)
    try:
        _, values = case_overrides(own, preset)
    except ConfigError:                                 # an unknown preset or method: what the case names
        name = own.pop("method", None)
        try:
            values = {**(method(str(name)).get("parts") or {}), **own} if name else own
        except ConfigError:
            values = own
    values = {**scale_schedule(values, scale), **scale_schedule(json.loads(grid), scale)}
    return tuple((k, _value(k, v)) for k, v in values.items())


def case_settings(overrides: dict, preset: str | None, epoch_scale: float, grid: dict | None = None) -> dict:
    """Every key a case (and its grid point) sets at `preset`, with the value it sets."""
    blob = json.dumps(overrides or {}, sort_keys=True, default=str)
    return dict(_case_settings(blob, preset, float(epoch_scale), json.dumps(grid or {}, sort_keys=True)))


def comparable_part(config: dict, overrides: dict, preset: str | None, epoch_scale: float,
                    grid: dict | None = None) -> dict:
    """The run's config with its case undone (module docstring)."""
    flat = identity_config(config)
    base = preset_base(preset) or _fields()[0]
    case = case_settings(overrides, preset, epoch_scale, grid)
    out = {}
    for key, value in flat.items():
        if key not in case:
            out[key] = value
        elif _same(value, case[key]):
            out[key] = base.get(key, value)
        else:
            out[key] = OverCase(value)
    return out


def _numbers_equal(a, b) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool)
            and not isinstance(b, bool) and a == b)


def epoch_scale_of(meta: dict, config: dict, overrides: dict, preset: str | None) -> float:
    """The scale the run's schedule lengths were expanded with (meta.json's, or worked out for old records)."""
    scale = meta.get("epoch_scale")
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        return float(scale)
    if "optim.epochs" in (overrides or {}):
        epochs = (preset_base(preset) or _fields()[0])["optim.epochs"]
    else:
        epochs = identity_config(config)["optim.epochs"]
    return epochs / PAPER_EPOCHS


def run_group(config: dict, meta: dict, overrides: dict) -> RunGroup:
    """The group of a run from its config.yaml, its meta.json and its case's overrides in the sweep file."""
    preset = meta.get("preset") if isinstance(meta.get("preset"), str) else None
    grid = meta.get("grid") if isinstance(meta.get("grid"), dict) else {}
    scale = epoch_scale_of(meta, config, overrides, preset)
    part = comparable_part(config, overrides, preset, scale, grid)
    return RunGroup(preset, numerics_version(meta), tuple(sorted(part.items(), key=lambda kv: kv[0])))


def name_groups(groups) -> dict[RunGroup, str]:
    """A readable name per group: the preset, then `key=value` where its runs differ from the preset's own
    config (for a preset this code does not know: where the groups of that preset differ from each other),
    then the numerics version if it is not this code's. E.g. 'cpu', 'cpu, optim.base_lr=0.05'."""
    groups = list(dict.fromkeys(groups))
    return {g: with_numerics(_name(g, _named_keys(g, groups)), g.numerics) for g in groups}


def _named_keys(g: RunGroup, groups: list[RunGroup]) -> list[str]:
    """The keys a group's name spells out (name_groups)."""
    base, mine = preset_base(g.preset), g.settings
    if base is None:
        peers = [p.settings for p in groups if p.preset == g.preset]
        return [k for k in mine if len({repr(p.get(k)) for p in peers}) > 1]
    return [k for k, v in mine.items() if k not in base or not _same(v, base[k])]


def _same(a, b) -> bool:
    return (a == b and type(a) is type(b)) or _numbers_equal(a, b)


def _name(g: RunGroup, keys: list[str]) -> str:
    """The preset and `key=value` of `keys`: a group's name without its numerics version."""
    settings = [f"{k}={show(g.settings[k])}" for k in keys]
    if len(settings) > NAMED_KEYS:
        digest = hashlib.sha1(repr(g.part).encode()).hexdigest()[:6]
        settings = settings[:NAMED_KEYS - 1] + [f"{len(settings) - NAMED_KEYS + 1} more settings #{digest}"]
    return ", ".join([g.preset or "no preset", *settings])


def recorded_group(config: dict, meta: dict, overrides: dict) -> dict:
    """What meta.json records of a run's group (core.schema.group_record.group_field), from its config (as
    config.yaml holds it), its meta.json (preset, grid, epoch scale) and its case's overrides in the sweep file.
    Of a preset this code does not know (a fixture's, or one removed since a record was made), every setting
    counts as the run's own and the name is the preset's alone."""
    g = run_group(config, meta, overrides)
    defaults, mine, base = _fields()[0], g.settings, preset_base(g.preset)
    keys = _named_keys(g, [g]) if base is not None else [k for k in mine if k not in defaults
                                                          or not _same(mine[k], defaults[k])]
    preset_values = {k: v for k, v in (base or {}).items() if k not in defaults or not _same(v, defaults[k])}
    over = [k for k in keys if isinstance(mine[k], OverCase)]
    settings = {k: mine[k].value if k in over else mine[k] for k in keys}
    return group_field(g.preset, _name(g, keys if base is not None else []), preset_values, settings, over,
                       {k: defaults[k] for k in {**preset_values, **settings} if k in defaults})
