"""A run's group as its meta.json records it: which runs a verdict may judge together. No torch, nothing of core
but the schema: the analysis groups runs here and never re-derives a group from today's config files.

A sweep records the group when it creates a run (core.config.run_groups computes it: the run's resolved config
with its case's own settings set back to the preset's, the seed left out). meta.json holds it under GROUP_KEY:

    "group": {
     "name": "cpu, optim.base_lr=0.05",    the preset, then the settings where the run differs from the preset
     "key": "5d0c7e1a",                    a hash of the preset and of the comparable settings (`group_key`)
     "preset_values": {"optim.base_lr": 1.5, ...},  the preset's values that differ from the config's defaults
     "settings": {"optim.base_lr": 0.05},  where the run's comparable config differs from its preset (the name's)
     "over_case": ["model.stop_grad"],     settings that a --set changed after the case (only when there are any)
     "defaults": {"optim.base_lr": 0.05, ...},      the config's defaults of the keys above
     "derived": {"on": "2026-12-07", ...}  only for a record made before runs recorded their group (see below)
    }

Why this shape: a group is compared in the values it differs in, so the record keeps what differs from the
defaults, split where it was set (the preset, or the run beyond it) and the defaults themselves, as they were when
the run was made. That is about 20 keys at the cpu preset, against 110 in the whole config; it says for two
groups in which keys they differ and with what values, and whether a key is one the preset sets; and a field
added to the config later, at its default, changes no group (as it changes no run id). Its name is kept as it
was when the run was made, so a preset edited later renames no group.

Two runs are one group when they share the preset, the key and the numerics version (meta.json's own `numerics`,
core.schema.record: a copy of another sweep's run keeps the version of the run that computed its numbers).

Records made before runs recorded their group got the field afterwards, derived by today's rules from their
config.yaml and their sweep file (python -m sweeps.backfill_groups); `derived` says when and from what. A run with
no group recorded is in no group: a report leaves it out and says so.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from core.schema.numerics import NUMERICS_VERSION
from core.schema.record import numerics_version

GROUP_KEY = "group"                   # meta.json
PRESET, NUMERICS = "preset", "numerics"   # how a difference in the preset or the numerics version is named
DEFAULT = object()                    # a key at the config's default


def show(value) -> str:
    """A value as --set takes it: true/false, 0.05, 1e-06, fashion_mnist."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _canonical(value):
    """A value as groups compare it: 1 and 1.0 alike (a YAML int for a float key), a bool not a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def same_value(a, b) -> bool:
    return type(_canonical(a)) is type(_canonical(b)) and _canonical(a) == _canonical(b)


def comparable(preset_values: dict, settings: dict, defaults: dict, over_case=()) -> dict:
    """{key: value} of the run's comparable config that differs from the defaults (a --set over the case
    always counts, as it makes another run than the case describes)."""
    merged = {**preset_values, **settings}
    return {k: v for k, v in sorted(merged.items())
            if k in over_case or k not in defaults or not same_value(v, defaults[k])}


def group_key(preset: str | None, values: dict, over_case=()) -> str:
    """The group's hash: its preset and its comparable settings (`comparable`), read as groups compare them."""
    blob = json.dumps({PRESET: preset, "settings": {k: _canonical(v) for k, v in values.items()},
                       "over_case": sorted(over_case)}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:8]


def group_field(preset: str | None, name: str, preset_values: dict, settings: dict, over_case: list,
                defaults: dict) -> dict:
    """The value of meta.json's GROUP_KEY (module docstring)."""
    out = {"name": name, "key": group_key(preset, comparable(preset_values, settings, defaults, over_case),
                                          over_case),
           "preset_values": preset_values, "settings": settings}
    if over_case:
        out["over_case"] = sorted(over_case)
    return {**out, "defaults": defaults}


@dataclass(frozen=True)
class Group:
    """One recorded group; equal groups share preset, numerics version and key."""
    preset: str | None
    numerics: int
    key: str
    name: str = field(compare=False)              # as recorded, without the numerics version
    preset_values: dict = field(compare=False, default_factory=dict)
    settings: dict = field(compare=False, default_factory=dict)
    over_case: frozenset = field(compare=False, default=frozenset())
    defaults: dict = field(compare=False, default_factory=dict)

    @property
    def values(self) -> dict:
        """The comparable settings that differ from the defaults (`comparable`)."""
        return comparable(self.preset_values, self.settings, self.defaults, self.over_case)

    def value(self, key: str):
        """`key`'s value in the group's runs (the config's default where neither the preset nor the run set it);
        DEFAULT for a key at a default the record does not name."""
        return {**self.defaults, **self.preset_values, **self.settings}.get(key, DEFAULT)


def read_group(meta: dict) -> Group | None:
    """The group a run's meta.json records; None when it records none (or a malformed one)."""
    g = meta.get(GROUP_KEY)
    if not isinstance(g, dict) or not isinstance(g.get("key"), str) or not isinstance(g.get("name"), str):
        return None
    parts = [g.get(k, {}) for k in ("preset_values", "settings", "defaults")]
    if not all(isinstance(p, dict) for p in parts) or not isinstance(g.get("over_case", []), list):
        return None
    preset = meta.get(PRESET) if isinstance(meta.get(PRESET), str) else None
    return Group(preset, numerics_version(meta), g["key"], g["name"], parts[0], parts[1],
                 frozenset(g.get("over_case", [])), parts[2])


def _compared(group: Group, key: str):
    """`key` in `group` as groups compare it (repr: a value may be a list)."""
    if key in (PRESET, NUMERICS):
        return repr(getattr(group, key))
    value = group.values.get(key, DEFAULT)
    return "default" if value is DEFAULT else repr((_canonical(value), key in group.over_case))


def _shown(group: Group, key: str, defaults: dict) -> str:
    if key in (PRESET, NUMERICS):
        return show(getattr(group, key))
    value = group.values.get(key, DEFAULT)
    if value is DEFAULT:
        return show(defaults[key]) if key in defaults else "(absent)"
    return show(value) + (" over the case's value" if key in group.over_case else "")


def differences(groups) -> list[tuple[str, list[str]]]:
    """[(key, the value in each group)] for each key in which `groups` differ: `preset`, `numerics`, then the
    dotted config keys, e.g. [('optim.base_lr', ['1.5', '0.05'])]."""
    groups = list(groups)
    defaults = {k: v for g in groups for k, v in g.defaults.items()}
    keys = [PRESET, NUMERICS] + sorted({k for g in groups for k in g.values})
    return [(key, [_shown(g, key, defaults) for g in groups]) for key in keys
            if len({_compared(g, key) for g in groups}) > 1]


def differing_keys(a: Group, b: Group) -> list[str]:
    """The keys in which two groups differ: `preset`, `numerics` and dotted config keys; [] for one group."""
    return [key for key, _ in differences([a, b])]


def with_numerics(name: str, numerics: int) -> str:
    """A group's name with its numerics version where that is not this code's: 'cpu, numerics v1'."""
    return name if numerics == NUMERICS_VERSION else f"{name}, numerics v{numerics}"


def group_names(groups) -> dict[Group, str]:
    """{group: its name}: as recorded, with the numerics version where it is not this code's. Runs of one group
    recorded under different names (a preset edited between them) take the name most of them carry; two groups
    of one name (a preset edited between them) each get their key after it: 'cpu #5d0c7e1a'."""
    counts: dict[Group, dict[str, int]] = {}
    for g in groups:
        named = counts.setdefault(g, {})
        named[g.name] = named.get(g.name, 0) + 1
    names = {g: with_numerics(min(n, key=lambda s: (-n[s], s)), g.numerics) for g, n in counts.items()}
    taken: dict[str, int] = {}
    for name in names.values():
        taken[name] = taken.get(name, 0) + 1
    return {g: name if taken[name] == 1 else f"{name} #{g.key}" for g, name in names.items()}


def group_slug(name: str) -> str:
    """A group name as a folder name: 'cpu, optim.base_lr=0.05' -> 'cpu_optim.base_lr=0.05'."""
    text = re.sub(r"[^A-Za-z0-9.=_-]+", "-", name.replace(", ", "_")).strip("-.")
    return text[:120] or "group"
