"""Sweep files (`ablations/<name>.yaml`): data only, validated strictly.

    figure, title       which figure/table of the paper this reproduces
    metrics             result.json metrics the table shows, in order
    seeds               list of integer seeds
    cases               named rows in the paper's order; each an override mapping (dotted keys), optionally
                        with `method: NAME`, a Sec. 6 method of core/methods.yaml (sweeps/expand.py)
    grid                optional: dotted key -> list of values (cartesian product with the cases)
    paper_metric        what the paper's numbers are (e.g. ImageNet linear top-1, 100 ep)
    paper               per case: the paper's number or word ("unstable")
    notes               free text: choices where the paper is silent
    claims              the paper's qualitative claims with a machine-checkable test each (analysis/claims.py)

Validation here covers the config side (keys, types, choices of every override); the report side (metrics,
paper column, claims) is checked by analysis.sweepfile, called from here too, so a bad claim fails before
any run starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analysis import sweepfile as report_sweepfile
from core.config import Config, ConfigError, apply_overrides
from core.config_checks import suggest
from core.methods import method
from core.record import RESULT_METRICS

TOP_KEYS = ("figure", "title", "metrics", "seeds", "cases", "grid", "paper_metric", "paper", "notes", "claims")


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
    return report_sweepfile.known_sweeps()


def _read(name_or_path: str) -> tuple[Path, object]:
    """Locate and parse a sweep file (shared with analysis), turning its errors into ConfigError."""
    try:
        path = report_sweepfile.locate(name_or_path)
        return path, report_sweepfile.read_yaml(path)
    except report_sweepfile.ReportError as err:
        raise ConfigError(str(err)) from None


def load_sweep(name_or_path: str) -> Sweep:
    path, data = _read(name_or_path)
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
        rest = dict(cases[case])
        if "method" in rest:
            try:
                method(str(rest.pop("method")))              # a known method name, or an error with a suggestion
            except ConfigError as err:
                raise ConfigError(f"{src}: case '{case}': {err}") from None
        apply_overrides(Config(), rest, f"{src}: case '{case}'", check=False)  # keys, types, choices
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise ConfigError(f"{src}: 'grid' must map dotted keys to non-empty lists of values")
    for key, values in grid.items():
        for v in values:
            apply_overrides(Config(), {key: v}, f"{src}: grid", check=False)
    seeds = data.get("seeds", [0])
    check_seeds(seeds, f"{src}: 'seeds'")
    metrics = data.get("metrics", report_sweepfile.DEFAULT_METRICS)
    for m in metrics:
        if m not in RESULT_METRICS:
            raise ConfigError(f"{src}: unknown metric '{m}'{suggest(str(m), list(RESULT_METRICS))}")
    paper = data.get("paper") or {}
    for case in paper:
        if case not in cases:
            raise ConfigError(f"{src}: 'paper' names case '{case}', which is not in 'cases'"
                              f"{suggest(str(case), list(cases))}")
    try:
        report_sweepfile.load_sweep(path)                 # claims and the report's view of the file
    except report_sweepfile.ReportError as err:
        raise ConfigError(str(err)) from None
    return Sweep(name=path.stem, path=path, figure=str(data["figure"]), title=str(data["title"]), metrics=list(metrics),
                 seeds=list(seeds), cases=dict(cases), grid=dict(grid), paper=dict(paper),
                 paper_metric=str(data.get("paper_metric", "")), notes=str(data.get("notes", "")))


def check_seeds(seeds, source: str) -> None:
    if (not isinstance(seeds, list) or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)):
        raise ConfigError(f"{source} must be a non-empty list of non-negative integers, got {seeds!r}")
