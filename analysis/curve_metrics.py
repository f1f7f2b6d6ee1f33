"""Per-run numbers derived from metrics.jsonl, for claims the final result.json cannot test.

    loss_jitter   mean |change of the training loss| between consecutive logging points over the
                  second half of training: how much the loss oscillates once it has settled
                  (Table 3 (d): "the training is unstable and the loss oscillates")
"""
from __future__ import annotations

import math

import pandas as pd

DERIVED = ("loss_jitter",)


def loss_jitter(curve: pd.DataFrame) -> float:
    """`curve`: one run's rows with epoch and loss; NaN with fewer than three late points."""
    c = curve[["epoch", "loss"]].dropna().sort_values("epoch")
    if c.empty:
        return math.nan
    late = c[c["epoch"] >= c["epoch"].max() / 2]["loss"]
    return float(late.diff().abs().mean()) if len(late) >= 3 else math.nan


def add_curve_metrics(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """`runs` with a loss_jitter column from `curves` (load_curves rows), NaN where a run has none."""
    values = {rid: loss_jitter(c) for rid, c in curves.groupby("run_id")} if len(curves) else {}
    return runs.assign(loss_jitter=[values.get(r, math.nan) for r in runs["run_id"]])
