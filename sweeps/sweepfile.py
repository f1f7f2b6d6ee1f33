"""Sweep files (`ablations/<name>.yaml`): data only, validated strictly.

    figure, title       which figure/table of the paper this reproduces
    metrics             result.json metrics the table shows, in order
    seeds               list of integer seeds
    cases               named rows in the paper's order; each an override mapping (dotted keys)
    grid                optional: dotted key -> list of values (cartesian product with the cases)
    paper_metric        what the paper's numbers are (e.g. ImageNet linear top-1, 100 ep)
    paper               per case: the paper's number or word ("unstable")
    notes               free text: choices where the paper is silent
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.config import Config, ConfigError, apply_overrides
from core.config_checks import suggest

ABLATIONS_DIR = Path(__file__).resolve().parent.parent / "ablations"
TOP_KEYS = ("figure", "title", "metrics", "seeds", "cases", "grid", "paper_metric", "paper", "notes")
METRICS = ("knn_acc", "linear_acc", "z_std", "loss", "knn_acc_init", "wall_s")


@dataclass(frozen=True)
class Sweep:
    name: str
    path: Path
    figure: str
    title: str
    metrics: list
    seeds: list
    cases: dict                      # case name -> {dotted key: value}
    grid: dict = field(default_factory=dict)
    paper: dict = field(default_factory=dict)
    paper_metric: str = ""
    notes: str = ""


def known_sweeps() -> list[str]:
    return sorted(p.stem for p in ABLATIONS_DIR.glob("*.yaml"))


def locate(name_or_path: str) -> Path:
    """A sweep name from ablations/ or a path to a sweep file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    cand = ABLATIONS_DIR / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    raise ConfigError(f"unknown sweep '{name_or_path}'{suggest(name_or_path, known_sweeps())}; "
                      f"known sweeps: {', '.join(known_sweeps())} (or give a path to a .yaml file)")


def _read_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: YAML syntax error: {getattr(err, 'problem', err)}") from None


def load_sweep(name_or_path: str) -> Sweep:
    path = locate(name_or_path)
    data = _read_yaml(path)
    src = str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: a sweep file is a mapping with keys {', '.join(TOP_KEYS)}")
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"{src}: unknown key '{key}'{suggest(str(key), list(TOP_KEYS))}")
    for key in ("figure", "title", "cases"):
        if key not in data:
            raise ConfigError(f"{src}: missing key '{key}'")
    cases = data["cases"]
    if not isinstance(cases, dict) or not cases:
        raise ConfigError(f"{src}: 'cases' must map case names to override mappings")
    for case, overrides in cases.items():
        if overrides is None:
            cases[case] = {}
        elif not isinstance(overrides, dict):
            raise ConfigError(f"{src}: case '{case}' must be a mapping of overrides, got {overrides!r}")
        apply_overrides(Config(), cases[case], f"{src}: case '{case}'")  # validate keys, types and choices
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise ConfigError(f"{src}: 'grid' must map dotted keys to non-empty lists of values")
    for key, values in grid.items():
        for v in values:
            apply_overrides(Config(), {key: v}, f"{src}: grid")
    seeds = data.get("seeds", [0])
    check_seeds(seeds, f"{src}: 'seeds'")
    metrics = data.get("metrics", ["knn_acc", "linear_acc", "z_std"])
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"{src}: unknown metric '{m}'{suggest(str(m), list(METRICS))}")
    paper = data.get("paper") or {}
    for case in paper:
        if case not in cases:
            raise ConfigError(f"{src}: 'paper' names case '{case}', which is not in 'cases'{suggest(str(case), list(cases))}")
    return Sweep(name=path.stem, path=path, figure=str(data["figure"]), title=str(data["title"]), metrics=list(metrics),
                 seeds=list(seeds), cases=dict(cases), grid=dict(grid), paper=dict(paper),
                 paper_metric=str(data.get("paper_metric", "")), notes=str(data.get("notes", "")))


def check_seeds(seeds, source: str) -> None:
    if not isinstance(seeds, list) or not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"{source} must be a non-empty list of non-negative integers, got {seeds!r}")
