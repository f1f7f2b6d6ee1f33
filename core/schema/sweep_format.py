"""The sweep-file parser, the one the runner and the analysis share (imports no torch, no config tree).

A sweep file, `ablations/<name>.yaml`, is data only:

    figure, title       which figure/table of the paper this reproduces
    metrics             result.json metrics the table shows, in order (core.schema.record.RESULT_METRICS)
    seeds               list of non-negative integer seeds
    cases               named rows in the paper's order; each an override mapping (dotted config keys),
                        optionally with `method: NAME`, a Sec. 6 method of core/config/method_definitions.yaml
    grid                optional: dotted key -> list of values (cartesian product with the cases)
    paper_metric        what the paper's numbers are (e.g. ImageNet linear top-1, 100 ep)
    paper               per case: the paper's number or word ("unstable")
    notes               free text: choices where the paper is silent
    claims              the paper's qualitative claims, each with a test (core.schema.claims); a claim that the
                        file's seeds cannot decide under any outcome is refused (core.schema.design)

This module checks the file's shape, names and claims; what the overrides mean (keys, types and choices of
the config, method names) is checked by sweeps.sweepfile against core.config.hyperparameters before any run starts.
Every error is a SweepFileError (a ConfigError) naming the file.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.schema.checks import ConfigError, suggest
from core.schema.claims import Claim, ClaimError, parse_claims
from core.schema.design import undecidable
from core.schema.record import RESULT_METRICS

REPO_ROOT = Path(__file__).resolve().parents[2]
ABLATIONS_DIR = REPO_ROOT / "ablations"
DEFAULT_METRICS = ["knn_acc", "linear_acc", "z_std", "loss"]
TOP_KEYS = ("figure", "title", "metrics", "seeds", "cases", "grid", "paper_metric", "paper", "notes", "claims")


class SweepFileError(ConfigError):
    """A malformed or unknown sweep file; the message names the file (and line, key, case or claim)."""


@dataclass(frozen=True)
class Sweep:
    name: str                                   # file stem; also the folder under the runs root
    path: Path
    cases: list[str]                            # row labels in the paper's order
    overrides: dict[str, dict]                  # case -> {dotted key: value} (and `method`)
    figure: str = ""
    title: str = ""
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    seeds: list[int] = field(default_factory=lambda: [0])
    grid: dict[str, list] = field(default_factory=dict)
    paper_metric: str = ""
    paper: dict = field(default_factory=dict)   # case -> number or string ("67.7 ± 0.1", "unstable")
    notes: str = ""
    claims: list[Claim] = field(default_factory=list)

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
    raise SweepFileError(f"unknown sweep '{text}'{suggest(as_path.stem, known)}; known sweeps in {ablations_dir}: "
                         f"{', '.join(known) if known else 'none yet'}")


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first, second):
        super().__init__(f"key '{key}' is written twice (first at line {first.line + 1}, column {first.column + 1}); "
                         "YAML would silently keep the last")
        self.problem_mark = second


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping, at any depth (YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:                               # an unhashable key: the constructor reports it
                continue
            if first is not key_node.start_mark:
                raise DuplicateKey(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep)


def read_yaml(path: Path):
    """Parse a sweep file, refusing a key written twice and a file with nothing in it; an error names the file,
    line and column."""
    try:
        data = yaml.load(Path(path).read_text(), Loader=UniqueKeyLoader)
    except DuplicateKey as err:
        raise SweepFileError(f"{path}: line {err.problem_mark.line + 1}, column {err.problem_mark.column + 1}: "
                             f"{err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        raise SweepFileError(f"{path}:{where} YAML syntax error: {getattr(err, 'problem', None) or err}") from None
    if data is None:
        raise SweepFileError(f"{path}: empty sweep file (nothing but blank lines or comments); a sweep file is a "
                             f"mapping with keys {', '.join(TOP_KEYS)} (figure, title and cases required)")
    return data


def check_seeds(seeds, source: str) -> None:
    if (not isinstance(seeds, list) or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)):
        raise SweepFileError(f"{source} must be a non-empty list of non-negative integers, got {seeds!r}")


def load_sweep(name_or_path: str | Path, ablations_dir: Path = ABLATIONS_DIR) -> Sweep:
    path = locate(name_or_path, ablations_dir)
    data, src = read_yaml(path), str(path)
    if not isinstance(data, dict):
        raise SweepFileError(f"{src}: a sweep file is a mapping with keys {', '.join(TOP_KEYS)}")
    for key in data:
        if key not in TOP_KEYS:
            raise SweepFileError(f"{src}: unknown key '{key}'{suggest(key, TOP_KEYS)}")
    for key in ("figure", "title", "cases"):
        if key not in data:
            raise SweepFileError(f"{src}: missing key '{key}'")
    cases = data["cases"]
    if not isinstance(cases, dict) or not cases:
        raise SweepFileError(f"{src}: 'cases' must map case names to override mappings")
    overrides = {}
    for case, case_overrides in cases.items():
        if case_overrides is not None and not isinstance(case_overrides, dict):
            raise SweepFileError(f"{src}: case '{case}' must be a mapping of overrides, got {case_overrides!r}")
        overrides[str(case)] = dict(case_overrides or {})
    labels = list(overrides)
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise SweepFileError(f"{src}: 'grid' must map dotted keys to non-empty lists of values")
    seeds = data.get("seeds", [0])
    check_seeds(seeds, f"{src}: 'seeds'")
    metrics = data.get("metrics") or list(DEFAULT_METRICS)
    if isinstance(metrics, str) or not isinstance(metrics, list):
        raise SweepFileError(f"{src}: 'metrics' must be a list of result.json keys")
    for m in metrics:
        if m not in RESULT_METRICS:
            raise SweepFileError(f"{src}: unknown metric '{m}'{suggest(m, RESULT_METRICS)}")
    paper = data.get("paper") or {}
    if not isinstance(paper, dict):
        raise SweepFileError(f"{src}: 'paper' must map case labels to values")
    for case in paper:
        if str(case) not in overrides:
            raise SweepFileError(f"{src}: 'paper' names case '{case}', which is not in 'cases'{suggest(case, labels)}")
    try:
        claims = parse_claims(data.get("claims"), labels)
    except ClaimError as err:
        raise SweepFileError(f"{src}: {err}") from None
    for claim in claims:
        why = undecidable(claim, len(seeds))
        if why:
            raise SweepFileError(f"{src}: claim '{claim.id}' ({claim.test}) cannot be decided at the file's seeds "
                                 f"under any outcome: {why}. Declare more seeds, or change the claim's test")
    return Sweep(name=path.stem, path=path, cases=labels, overrides=overrides, figure=str(data["figure"]),
                 title=str(data["title"]), metrics=list(metrics), seeds=list(seeds), grid=dict(grid),
                 paper_metric=str(data.get("paper_metric") or ""), paper={str(k): v for k, v in paper.items()},
                 notes=str(data.get("notes") or "").strip(), claims=claims)
