"""Whether a status claim's verdict hangs on where "collapsed" is drawn: each run's status again at other
collapse lines, z std < t / sqrt(d) for t in LINES, and under the loss test (a mean negative-cosine loss within
0.01 of its minimum -1, Fig. 2's reading), which reads only cosine-loss runs. Pure functions (analysis.verdicts
judges the shares)."""
from __future__ import annotations

import math

import pandas as pd

LINES = (0.05, 0.1, 0.25, 0.5)
LOSS_LINE = -0.99
COSINE_LOSS = "similarity/cosine"
COLLAPSE_STATUSES = {"ok", "near-collapse", "collapsed"}


def line_name(line: float | None) -> str:
    return f"z std < {line:g}/√d" if line is not None else f"loss < {LOSS_LINE:g}"


def matches(runs: pd.DataFrame, equals: tuple[str, ...], line: float | None) -> list[bool] | None:
    """Per run, whether it ends as `equals` says ("collapsed", or "ok": not collapsed) when the collapse line
    is `line` x 1/sqrt(d) (None: the loss test); None when the line does not apply (a status that is not
    about collapse, a run without z std or a cosine loss)."""
    wanted = set(equals)
    if not wanted <= COLLAPSE_STATUSES or wanted == {"near-collapse"} or {"ok", "collapsed"} <= wanted:
        return None
    wants_collapse = "collapsed" in wanted
    out = []
    for _, r in runs.iterrows():
        if r["status"] not in COLLAPSE_STATUSES:
            out.append(False)
            continue
        if line is None:
            if r.get("loss_kind") != COSINE_LOSS or pd.isna(r.get("loss")):
                return None
            collapsed = float(r["loss"]) < LOSS_LINE
        else:
            if pd.isna(r.get("z_std")) or pd.isna(r.get("dim")):
                return None
            collapsed = float(r["z_std"]) * math.sqrt(float(r["dim"])) < line
        out.append(collapsed == wants_collapse)
    return out


TINY = 1e-12            # a z std or a loss gap of exactly 0 is read as this, so that its log is finite


def log_spread(runs: pd.DataFrame) -> list[float] | None:
    """Per run, log(z std x sqrt(d)): how far its output ends from a collapse line t (at log t), on the scale
    the lines are drawn on; None when a run lacks z std or d."""
    out = []
    for _, r in runs.iterrows():
        if pd.isna(r.get("z_std")) or pd.isna(r.get("dim")):
            return None
        out.append(math.log(max(float(r["z_std"]) * math.sqrt(float(r["dim"])), TINY)))
    return out


def log_loss_gap(runs: pd.DataFrame) -> list[float] | None:
    """Per run, log(1 + loss): how far a negative-cosine loss ends from its minimum -1 (the loss line is at
    log 0.01); None when a run has no such loss."""
    out = []
    for _, r in runs.iterrows():
        if r.get("loss_kind") != COSINE_LOSS or pd.isna(r.get("loss")):
            return None
        out.append(math.log(max(1.0 + float(r["loss"]), TINY)))
    return out


def status_line(runs: pd.DataFrame, status: str) -> float:
    """The line a status is read against, in units of 1/sqrt(d): eval.collapse_frac for `collapsed`,
    eval.near_collapse_frac for `ok` (the runs' config; the defaults 0.1 and 0.5 where it is not recorded)."""
    key, default = ("collapse_frac", 0.1) if status == "collapsed" else ("near_collapse_frac", 0.5)
    for config in runs.get("config_yaml", pd.Series(dtype=object)):
        value = ((config or {}).get("eval") or {}).get(key) if isinstance(config, dict) else None
        if isinstance(value, (int, float)):
            return float(value)
    return default
