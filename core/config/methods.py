"""The methods of Sec. 6 (SimSiam, SimCLR, MoCo v2, BYOL, SwAV) as named sets of config values, read from
core/config/method_definitions.yaml (its header says what parts, recipe and budgets are).

A sweep case selects one with `method: NAME`; `method_overrides` turns it into dotted overrides, which the
case's own overrides then refine. The resolved config is what a run records and hashes, so a run's id does
not depend on whether a value came from the method or was spelled out. Imports no torch.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from core.config.hyperparameters import Config
from core.config.presets import list_presets, preset_methods
from core.schema.checks import ConfigError, suggest

METHODS_FILE = Path(__file__).resolve().parent / "method_definitions.yaml"
SECTIONS = ("title", "parts", "recipe", "budgets")


def _load() -> dict:
    data = yaml.safe_load(METHODS_FILE.read_text()) or {}
    for name, entry in data.items():
        unknown = set(entry) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"{METHODS_FILE}: method '{name}': unknown section(s) {sorted(unknown)}")
    return data


def list_methods() -> list[str]:
    """The method names, in Table 4's order."""
    return list(_load())


def method(name: str) -> dict:
    data = _load()
    if name not in data:
        raise ConfigError(f"unknown method '{name}'{suggest(str(name), list(data))}; known: {', '.join(data)}")
    return data[name]


def method_overrides(name: str, preset: str, paper_epochs: float) -> dict:
    """What `method: name` stands for in a case at `preset` whose schedule is `paper_epochs` paper epochs:
    the parts; then, where the preset applies the methods' recipes, the recipe and its budget's values; then
    the preset's own values for the method (its `methods:` section)."""
    entry = method(name)
    out = dict(entry.get("parts") or {})
    recipes, per_method = preset_methods(preset)
    if recipes:
        out.update(entry.get("recipe") or {})
        budgets = entry.get("budgets") or {}
        if budgets:
            if paper_epochs not in budgets:
                raise ConfigError(f"method '{name}' has recipes for {', '.join(map(str, budgets))} paper epochs, "
                                  f"not for optim.epochs {paper_epochs:g} ({METHODS_FILE.name}, budgets)")
            out.update(budgets[paper_epochs])
    out.update(per_method.get(name) or {})
    return out


def _cell(parts: dict, key: str, default) -> str:
    v = parts.get(key, default)
    return ("yes" if v else "no") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)


def methods_table() -> str:
    """Fig. 3 as a table: each method's parts side by side, then the recipes and budgets (Table 4)."""
    d = Config()
    rows = [("method", "objective", "negatives", "target encoder", "predictor", "stop-grad", "temperature")]
    for name in list_methods():
        p = method(name).get("parts") or {}
        m = p.get("target.momentum", d.target.momentum)
        target = "same network" if not m else f"momentum {m:g} ({p.get('target.momentum_schedule', 'constant')})"
        nce = p.get("loss.objective") in ("infonce", "swav")
        rows.append((name, _cell(p, "loss.objective", d.loss.objective), _cell(p, "loss.negatives", d.loss.negatives),
                     target, _cell(p, "model.predictor", d.model.predictor), _cell(p, "model.stop_grad", True),
                     _cell(p, "loss.temperature", d.loss.temperature) if nce else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append(f"(queue K {d.loss.queue_size}; SwAV: {d.loss.prototypes} prototypes, {d.loss.sinkhorn_iters} "
                 f"Sinkhorn-Knopp iterations, epsilon {d.loss.sinkhorn_epsilon:g}; presets may set other sizes)")
    lines.append("recipes (Table 4, App. C, footnote 6; applied at presets with method_recipes: true):")
    for name in list_methods():
        entry = method(name)
        lines.append(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in (entry.get("recipe") or {}).items()))
        for budget, values in (entry.get("budgets") or {}).items():
            lines.append(f"    at {budget} epochs: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    lines.append("per preset (core/config/presets/*.yaml):")
    for preset in list_presets():
        recipes, per_method = preset_methods(preset)
        at_scale = "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in overrides.items())
                             for name, overrides in per_method.items())
        lines.append(f"  {preset}: recipes {'applied' if recipes else 'not applied'}"
                     + (f"; {at_scale}" if at_scale else ""))
    return "\n".join(lines)
