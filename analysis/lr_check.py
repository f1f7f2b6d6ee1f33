"""Does a verdict hang on the preset's base lr? The same claims judged on run trees that differ from the main
one only in optim.base_lr (`python -m analysis.report --all --lr-check DIR ...`), summed up per claim.

The cpu preset's base lr (1.5, 30x the paper's) was chosen so that the run without stop-gradient collapses
within ~400 steps; the check shows which other verdicts that choice decides.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.verdicts import NO_DATA, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, Verdict

HOLDS, FAILS, DEPENDS, UNSURE, NOT_TRIED = ("holds at every lr tried", "fails at every lr tried", "depends on lr",
                                            "inconclusive", "not tried at another lr")
SUMMARIES = (HOLDS, FAILS, DEPENDS, UNSURE, NOT_TRIED)


@dataclass(frozen=True)
class Tried:
    lr: str                     # the base lr(s) of the tree's runs, e.g. '0.5'
    verdict: Verdict


def lr_label(runs: pd.DataFrame) -> str:
    """The base lr of a tree's finished runs, e.g. '1.5' ('1.5, 0.5' if they differ; '?' if none recorded)."""
    values = sorted({float(v) for v in runs["base_lr"].dropna()}, reverse=True) if "base_lr" in runs else []
    return ", ".join(f"{v:g}" for v in values) or "?"


def summarize(main: Tried, others: list[Tried]) -> str:
    """One cell of the index's lr column for a claim: main verdict against the same claim at other lrs."""
    if main.verdict.verdict in (NOT_TESTABLE, NO_DATA):
        return "-"
    tried = [t for t in others if t.verdict.verdict not in (NO_DATA, NOT_TESTABLE)]
    if not tried:
        return NOT_TRIED
    every = [main] + tried
    kinds = {t.verdict.verdict for t in every}
    detail = "; ".join(f"{t.lr}: {t.verdict.verdict}" for t in every)
    if kinds == {REPRODUCED}:
        head = HOLDS
    elif kinds == {NOT_REPRODUCED}:
        head = FAILS
    elif {REPRODUCED, NOT_REPRODUCED} <= kinds:
        head = DEPENDS
    else:
        head = UNSURE
    return f"{head} ({detail})"


def summary_kind(cell: str) -> str:
    """The summary a cell starts with (for counting), or '-'."""
    return next((s for s in SUMMARIES if cell.startswith(s)), "-")
