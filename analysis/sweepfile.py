"""Find and read a sweep file (`ablations/<name>.yaml`): rows, labels, metrics, paper column.

Only the parts a report needs are read; the sweep runner owns the full meaning of the file.
"""
from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.claims import Claim, ClaimError, parse_claims

REPO_ROOT = Path(__file__).resolve().parent.parent
ABLATIONS_DIR = REPO_ROOT / "ablations"
DEFAULT_METRICS = ["knn_acc", "linear_acc", "z_std", "loss"]


class ReportError(Exception):
    """A user-facing error: the CLI prints its one-line message and exits non-zero."""


@dataclass
class Sweep:
    name: str                                   # file stem; also the folder under the runs root
    path: Path
    cases: list[str]                            # row labels in the paper's order
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    seeds: list = field(default_factory=list)
    grid: dict[str, list] = field(default_factory=dict)
    figure: str = ""
    title: str = ""
    paper_metric: str = ""
    paper: dict = field(default_factory=dict)    # case -> number or string ("67.7 ± 0.1", "unstable")
    notes: str = ""
    overrides: dict[str, dict] = field(default_factory=dict)   # case -> {dotted key: value}
    claims: list[Claim] = field(default_factory=list)           # the paper's claims (analysis.claims)

    def grid_points(self) -> list[dict]:
        """Every grid point in file order ([{}] when the sweep has no grid)."""
        keys = list(self.grid)
        return [dict(zip(keys, vals)) for vals in itertools.product(*(self.grid[k] for k in keys))]


def known_sweeps(ablations_dir: Path = ABLATIONS_DIR) -> list[str]:
    return sorted(p.stem for p in Path(ablations_dir).glob("*.yaml"))


def locate(name_or_path: str | Path, ablations_dir: Path = ABLATIONS_DIR) -> Path:
    """`stopgrad` -> ablations/stopgrad.yaml; an existing path is taken as is."""
    text = str(name_or_path)
    as_path = Path(text)
    if as_path.is_file():
        return as_path
    candidate = Path(ablations_dir) / f"{as_path.stem if text.endswith(('.yaml', '.yml')) else text}.yaml"
    if "/" not in text and candidate.is_file():
        return candidate
    known = known_sweeps(ablations_dir)
    listing = ", ".join(known) if known else "none yet"
    close = difflib.get_close_matches(as_path.stem, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ReportError(f"unknown sweep '{text}'{hint}; known sweeps in {ablations_dir}: {listing}")


def read_yaml(path: Path):
    """Parse a sweep file; a syntax error names the file, line and column."""
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        raise ReportError(f"{path}:{where} YAML syntax error: {getattr(err, 'problem', None) or err}") from None


def load_sweep(name_or_path: str | Path, ablations_dir: Path = ABLATIONS_DIR) -> Sweep:
    path = locate(name_or_path, ablations_dir)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a mapping at the top level")
    cases = data.get("cases")
    if not isinstance(cases, dict) or not cases:
        raise ReportError(f"{path}: 'cases' must be a non-empty mapping of row label -> overrides")
    metrics = data.get("metrics") or list(DEFAULT_METRICS)
    if isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics):
        raise ReportError(f"{path}: 'metrics' must be a list of result.json keys")
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
        raise ReportError(f"{path}: 'grid' must map dotted keys to lists of values")
    paper = data.get("paper") or {}
    if not isinstance(paper, dict):
        raise ReportError(f"{path}: 'paper' must map case labels to values")
    labels = [str(c) for c in cases]
    try:
        claims = parse_claims(data.get("claims"), labels)
    except ClaimError as err:
        raise ReportError(f"{path}: {err}") from None
    return Sweep(
        name=path.stem, path=path, cases=labels, metrics=list(metrics),
        seeds=list(data.get("seeds") or []), grid=grid,
        figure=str(data.get("figure") or ""), title=str(data.get("title") or ""),
        paper_metric=str(data.get("paper_metric") or ""),
        paper={str(k): v for k, v in paper.items()}, notes=str(data.get("notes") or "").strip(),
        overrides={str(c): dict(o or {}) if isinstance(o, dict) else {} for c, o in cases.items()},
        claims=claims,
    )
