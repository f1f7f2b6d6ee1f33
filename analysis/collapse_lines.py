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
