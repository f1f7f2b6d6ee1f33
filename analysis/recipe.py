"""How a report's runs differ from the paper's recipe (analysis/paper_recipe.py).

Our side is read from each finished run's resolved config.yaml, never from core's defaults.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from analysis.paper_recipe import RECIPE
from analysis.runs import UNFINISHED
from core.schema.checks import flatten
from core.schema.sweep_format import Sweep

DIFFERS, SAME, ABLATION, UNRECORDED = "differs", "same", "ablation", "not recorded"


@dataclass(frozen=True)
class Setting:
    label: str
    paper: str          # the paper's value as written
    ours: str           # our value(s) as found in config.yaml
    kind: str           # DIFFERS | SAME | ABLATION (set per row by the sweep) | UNRECORDED


def load_recipe() -> dict:
    return copy.deepcopy(RECIPE)


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return str(a).lower() == str(b).lower()


def _text(v) -> str:
    return str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)


def _config_values(runs: pd.DataFrame) -> list[dict]:
    done = runs[runs["status"] != UNFINISHED]
    configs = []
    for p in done["path"].dropna():
        try:
            data = yaml.safe_load((Path(p) / "config.yaml").read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict):
            configs.append(flatten(data, str(p)))
    return configs


def _applies(setting: dict, config: dict) -> bool:
    """A setting with `when` ({key: value}) is compared only over the runs whose config has those values."""
    return all(_same(config.get(k), v) for k, v in (setting.get("when") or {}).items())


def differences(sweep: Sweep, runs: pd.DataFrame, recipe: dict | None = None) -> list[Setting]:
    """Every setting of the recipe, compared with the values in the finished runs' config.yaml; a setting with
    `when` that no run meets is left out."""
    recipe = recipe or load_recipe()
    all_configs = _config_values(runs)
    swept = set(sweep.grid) | {k for o in sweep.overrides.values() for k in o}
    out = []
    for s in recipe["settings"]:
        key, paper = s["key"], s["paper"]
        configs = [c for c in all_configs if _applies(s, c)]
        if s.get("when") and not configs:
            continue
        shown = str(s.get("show", _text(paper)))
        values = []
        for c in configs:
            if key in c and not any(_same(c[key], v) for v in values):
                values.append(c[key])
        values.sort(key=lambda v: (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, str(v)))
        ours = ", ".join(_text(v) for v in values)
        if key in swept:
            kind = ABLATION
            ours = f"per row: {ours}" if len(values) > 1 else ours
        elif not values:
            kind, ours = UNRECORDED, "(not in config.yaml)"
        elif len(values) == 1 and _same(values[0], paper):
            kind = SAME
        else:
            kind = DIFFERS
            ours = f"varies: {ours}" if len(values) > 1 else ours
        out.append(Setting(str(s.get("label", key)), shown, ours, kind))
    return out


def our_evaluation(runs: pd.DataFrame) -> str:
    """The evaluation protocol recorded in result.json (linear probe, kNN), or ''."""
    if "eval" not in runs:
        return ""
    found = []
    for text in runs["eval"].dropna():
        try:
            e = json.loads(text)
        except ValueError:
            continue
        if not isinstance(e, dict):
            continue
        paper = e.get("linear_paper") if e.get("linear_paper") != e.get("linear") else None
        parts = [f"linear probe: {e['linear']}" if e.get("linear") else "",
                 f"also the paper's protocol (linear_acc_paper): {paper}" if paper else "",
                 f"kNN k={e['knn_k']}, t={e['knn_t']}" if "knn_k" in e and "knn_t" in e else ""]
        line = "; ".join(p for p in parts if p)
        if line and line not in found:
            found.append(line)
    return " / ".join(found)


def recipe_markdown(settings: list[Setting], recipe: dict, evaluation: str, preset: str | None) -> list[str]:
    """The "Recipe differences" block of a report page."""
    name = recipe.get("name", "the paper's recipe")
    out = [f"How these runs (preset {preset}) differ from {name}. Source: {' '.join(str(recipe['source']).split())}",
           "", "| setting | paper | ours |", "|:---|:---|:---|"]
    rows = [s for s in settings if s.kind in (DIFFERS, UNRECORDED)]
    out += [f"| {s.label} | {s.paper} | {s.ours} |" for s in rows]
    out.append(f"| evaluation | {' '.join(str(recipe.get('evaluation', '')).split())} | "
               f"{evaluation or '(not recorded)'} |")
    swept = [s for s in settings if s.kind == ABLATION]
    same = [s for s in settings if s.kind == SAME]
    if swept:
        out += ["", "Set by this ablation (its rows): " + "; ".join(f"{s.label} ({s.ours})" for s in swept) + "."]
    if same:
        out += ["", "Same as the paper: " + "; ".join(f"{s.label} {s.ours}" for s in same) + "."]
    return out


def differing_labels(settings: list[Setting]) -> list[str]:
    return [s.label for s in settings if s.kind == DIFFERS]
