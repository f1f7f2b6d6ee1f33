"""Comparisons as data: the same claims judged on sibling run trees, each differing from the tree it is set against
in one declared key (records/comparisons.yaml). One mechanism for every axis: the base lr, the preset (a rung of
scale), and later a batch size, a machine or a numerics version, each a line in the file, not a module.

An entry names the key, the base tree and the sibling trees (folders under the file's own folder), why the
comparison is made, and the word for a value of the key ('lr'). For each sweep the base tree's group is judged
(the reported group when the base is the tree being reported, else the group of the base tree's most recent
preset), then each sibling tree's group that differs from the base group in that key: for a config key, the
group equal to the base's in every other setting (analysis.selection.Like); for `preset`, the group of another
preset. What else differs is named beside the comparison, never hidden.

Two readings per claim come out (pure; analysis.comparison_text writes them):
- the verdict on every side, summed up in one cell (`summarize`): holds at every value tried, fails at every
  value tried, depends on the value, inconclusive, or not tried at another value;
- each part's number on both sides and the word for its change (analysis.changes), where "no measurable
  change" needs the change's interval inside the equivalence margin the file declares for the number's unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from analysis.changes import ChangeRow, Side, SiteRow, compare, sites
from analysis.judge import Judgement, floor_runs, judge_group
from analysis.selection import Like, ReportError
from analysis.verdicts import NO_DATA, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, Verdict
from core.schema.checks import ConfigError, suggest
from core.schema.sweep_format import REPO_ROOT, Sweep

COMPARISONS = REPO_ROOT / "records" / "comparisons.yaml"
ENTRY_KEYS = ("name", "key", "base", "trees", "why", "noun", "column")
TOP_KEYS = ("equivalence", "comparisons")
PRESET = "preset"


@dataclass(frozen=True)
class Comparison:
    name: str                  # 'base lr': the column 'across base lr', the section 'Across base lr'
    key: str                   # 'optim.base_lr' (a dotted config key) or 'preset'
    base: str                  # the tree the others are set against, under the file's folder ('cpu')
    trees: tuple[str, ...]     # the sibling trees ('cpu-lr0.5', ...)
    why: str                   # which claims are compared, and why
    noun: str                  # a value of the key, in words: 'lr', 'preset'
    column: bool = False       # a column on the pages of the base tree's reports (and a line in the index)


@dataclass(frozen=True)
class Declared:
    """records/comparisons.yaml: the comparisons, the equivalence margin per unit, the folder the trees are in."""
    comparisons: tuple[Comparison, ...]
    equivalence: dict
    root: Path

    def tree(self, name: str) -> Path:
        return self.root / name


def load_comparisons(path: str | Path = COMPARISONS) -> Declared:
    """Parse and check the file; a ConfigError names what is wrong (an unknown key with a suggestion)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read the comparisons: {err}") from None
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"{path}: unknown key '{key}'{suggest(key, TOP_KEYS)}")
    out = []
    for i, entry in enumerate(data.get("comparisons") or [], start=1):
        where = f"{path}: comparison {i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: a mapping with {', '.join(ENTRY_KEYS)}")
        for key in entry:
            if key not in ENTRY_KEYS:
                raise ConfigError(f"{where}: unknown key '{key}'{suggest(key, ENTRY_KEYS)}")
        missing = [k for k in ENTRY_KEYS if k not in entry and k != "column"]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}")
        trees = entry["trees"] if isinstance(entry["trees"], list) else [entry["trees"]]
        out.append(Comparison(str(entry["name"]), str(entry["key"]), str(entry["base"]), tuple(map(str, trees)),
                              " ".join(str(entry["why"]).split()), str(entry["noun"]), entry.get("column") is True))
    margins = data.get("equivalence") or {}
    if not isinstance(margins, dict) or any(not isinstance(v, (int, float)) or v <= 0 for v in margins.values()):
        raise ConfigError(f"{path}: 'equivalence' maps a unit to a positive margin")
    return Declared(tuple(out), {str(k): float(v) for k, v in margins.items()}, path.parent)


def value_label(runs: pd.DataFrame, key: str) -> str:
    """The value(s) of `key` in a tree's finished runs, e.g. '1.5' ('1.5, 0.5' where they differ; '?' if none)."""
    if key == PRESET:
        values = sorted({str(v) for v in runs["preset"].dropna()}) if "preset" in runs else []
        return ", ".join(values) or "?"
    found = set()
    for config in runs.get("config_yaml", []):
        node = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            found.add(node)
    numbers = sorted((v for v in found if isinstance(v, (int, float))), reverse=True)
    return ", ".join([f"{v:g}" for v in numbers] + sorted(str(v) for v in found - set(numbers))) or "?"


@dataclass
class Compared:
    """One comparison of one sweep: the base side and each sibling side that has a group to compare."""
    comparison: Comparison
    sweep: Sweep
    base: Judgement
    siblings: list[Judgement] = field(default_factory=list)
    on_report: bool = False    # the base side is the report's own group

    def side(self, j: Judgement, with_steps: bool = False) -> Side:
        label = value_label(j.done, self.comparison.key)
        if with_steps:
            steps = Side(label, j.verdicts, j.runs).steps
            label = f"{j.preset} ({steps} steps, lr {value_label(j.done, 'optim.base_lr')})" if steps else label
        return Side(label, j.verdicts, j.runs)

    def cells(self) -> list[str]:
        """Per claim, the verdicts on every side summed up in one cell (`summarize`)."""
        base = self.side(self.base)
        others = [self.side(j) for j in self.siblings]
        return [summarize((base.label, v), [(o.label, o.verdicts[i]) for o in others], self.comparison.noun)
                for i, v in enumerate(self.base.verdicts)]

    def changes(self, margins: dict) -> list[ChangeRow]:
        """Every part of every claim judged on the base side and a sibling, with the word for its change."""
        base = self.side(self.base, True)
        return [row for j in self.siblings for row in compare(base, self.side(j, True), margins)]

    def sites(self, margins: dict) -> list[SiteRow]:
        return sites([self.side(self.base, True)] + [self.side(j, True) for j in self.siblings], self.sweep.cases,
                     margins, self.base.level) if self.siblings else []


def _floors(declared: Declared, reported_dir: Path | None) -> dict:
    """The untrained network's finished runs per preset, from the reported tree and every declared tree (the first
    tree that has a preset's): the floor of a side whose own tree has none."""
    out: dict = {}
    for tree in ([Path(reported_dir)] if reported_dir is not None else []) + [declared.root / t for t in
                                                                             _all_trees(declared)]:
        runs = floor_runs(tree, None) if tree.is_dir() else None
        for preset, mine in (runs.groupby("preset") if runs is not None else []):
            out.setdefault(preset, mine)
    return out


def _all_trees(declared: Declared) -> list[str]:
    return list(dict.fromkeys(t for c in declared.comparisons for t in (c.base, *c.trees)))


def _sibling(sweep: Sweep, tree: Path, base: Judgement, key: str, floors: dict) -> Judgement | None:
    """The group of `tree` that differs from the base group in `key` alone (analysis.selection.Like): for a config
    key, equal to the base's in every other setting; for `preset`, another preset, with every setting equal but
    those the two presets set. None when the tree has no such group (or more than one)."""
    try:
        return judge_group(sweep, tree, None if key == PRESET else base.preset, base.level, registered=False,
                           floors=floors, like=Like(base.picked.group, (key,)))
    except ReportError:
        return None


def compare_sweep(sweep: Sweep, comparison: Comparison, declared: Declared, reported: Judgement | None = None,
                  reported_dir: Path | None = None) -> Compared | None:
    """`comparison` for `sweep`: its base side (the reported judgement when the base tree is the reported one)
    and its siblings; None when the base tree has nothing of the sweep to judge."""
    base_dir = declared.tree(comparison.base)
    floors = _floors(declared, reported_dir)
    on_report = reported is not None and reported_dir is not None and Path(reported_dir).resolve() == \
        base_dir.resolve()
    if on_report:
        base = reported
    else:
        try:
            base = judge_group(sweep, base_dir, None, reported.level if reported else 0.95, registered=False,
                               floors=floors)
        except ReportError:
            return None
    siblings = [j for t in comparison.trees
                if (j := _sibling(sweep, declared.tree(t), base, comparison.key, floors))]
    return Compared(comparison, sweep, base, siblings, on_report)


def summary_words(noun: str) -> tuple[str, ...]:
    return (f"holds at every {noun} tried", f"fails at every {noun} tried", f"depends on {noun}", "inconclusive",
            f"not tried at another {noun}")


def summarize(main: tuple[str, Verdict], others: list[tuple[str, Verdict]], noun: str) -> str:
    """One cell for a claim: its verdict on the base side against the same claim on the other sides."""
    holds, fails, depends, unsure, not_tried = summary_words(noun)
    if main[1].verdict in (NOT_TESTABLE, NO_DATA):
        return "-"
    tried = [t for t in others if t[1].verdict not in (NO_DATA, NOT_TESTABLE)]
    if not tried:
        return not_tried
    every = [main] + tried
    kinds = {v.verdict for _, v in every}
    detail = "; ".join(f"{label}: {v.verdict}" for label, v in every)
    head = (holds if kinds == {REPRODUCED} else fails if kinds == {NOT_REPRODUCED} else
            depends if {REPRODUCED, NOT_REPRODUCED} <= kinds else unsure)
    return f"{head} ({detail})"


def summary_kind(cell: str, noun: str) -> str:
    """The summary a cell starts with (for counting), or '-'."""
    return next((s for s in summary_words(noun) if cell.startswith(s)), "-")
