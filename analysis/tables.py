"""Aggregate runs into one row per case (x grid point), in the sweep file's order. Pure functions."""
from __future__ import annotations

import math
import re
from collections import Counter

import pandas as pd

from analysis.runs import UNFINISHED, grid_key, grid_label
from core.schema.record import LINEAR_NONE, LINEAR_PAPER, LINEAR_PROTOCOL, LINEAR_SGD, PARTIAL, STATUSES
from core.schema.sweep_format import Sweep

STATUS_ORDER = list(STATUSES)
MISSING = "missing"
METRIC_LABELS = {
    "knn_acc": "kNN acc (%)", "linear_acc": "linear acc (%)", "knn_acc_init": "kNN acc at init (%)",
    "z_std": "z std", "z_erank": "z eff. rank", "backbone_std": "backbone std",
    "backbone_erank": "backbone eff. rank", "loss": "loss", "wall_s": "wall (s)", "train_s": "train (s)",
    "epoch": "epochs", "linear_acc_paper": "linear acc, paper protocol (%)",
}
# what each linear protocol is (core.schema.record), for the header line above a table
LINEAR_PROTOCOLS = {
    LINEAR_SGD: "SGD probe on cached centre-crop features, no augmentation (the CPU protocol)",
    LINEAR_PAPER: "the paper's (App. A, main_lincls.py): LARS, augmented crops, frozen backbone with BN in eval mode",
}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def status_summary(statuses: list[str], unfinished: list[str] = ()) -> str:
    """['ok','ok'] -> 'ok'; ['ok','ok','collapsed'] -> '2 ok, 1 collapsed'; [] -> 'missing'; the runs without their
    result after it by state, sweeps.status's word: ([], ['partial']) -> 'missing; 1 partial'."""
    counts = Counter(statuses)
    if not counts:
        text = MISSING
    elif len(counts) == 1:
        text = next(iter(counts))
    else:
        order = sorted(counts, key=lambda s: (STATUS_ORDER.index(s) if s in STATUS_ORDER else 99, s))
        text = ", ".join(f"{counts[s]} {s}" for s in order)
    left = Counter(unfinished)
    return f"{text}; " + ", ".join(f"{n} {state}" for state, n in sorted(left.items())) if left else text


def linear_protocol_of(run: pd.Series) -> str | None:
    """Which protocol gave a run's linear_acc: the one its result.json names; for a record made before it named
    one, the SGD probe (the only protocol then) where it has a linear_acc; None where it has none."""
    value = run.get(LINEAR_PROTOCOL)
    if isinstance(value, str):
        return None if value == LINEAR_NONE else value
    acc = run.get("linear_acc")
    return LINEAR_SGD if acc is not None and acc == acc else None


def protocols_recorded(runs: pd.DataFrame) -> bool:
    """Whether any run names its linear protocol (records made before that never do)."""
    return LINEAR_PROTOCOL in runs and bool(runs[LINEAR_PROTOCOL].notna().any())


def linear_protocols(runs: pd.DataFrame) -> list[str]:
    return sorted({p for _, r in runs.iterrows() if (p := linear_protocol_of(r)) is not None})


def _decimals(metric: str, value: float) -> int | None:
    """Decimals to show: 1 for percents, ~3 significant digits otherwise (None = scientific)."""
    if metric.endswith("_acc") or metric.endswith("_acc_init"):
        return 1
    if metric in ("wall_s", "train_s", "epoch"):
        return 0
    if metric.endswith("_erank"):
        return 1
    if metric == "loss" or value == 0:   # negative cosine similarity lies in [-1, 1]
        return 3
    if abs(value) < 1e-3:
        return None
    return max(0, min(6, 2 - math.floor(math.log10(abs(value)))))


def format_value(value, metric: str, decimals: int | None = ...) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if decimals is ...:
        decimals = _decimals(metric, value)
    return f"{value:.2e}" if decimals is None else f"{value:.{decimals}f}"


def format_mean_std(mean, std, metric: str) -> str:
    """'67.5 ± 0.3'; just the mean when std is blank (n = 1); '' when there is no value."""
    text = format_value(mean, metric)
    if not text or std is None or (isinstance(std, float) and math.isnan(std)):
        return text
    return f"{text} ± {format_value(std, metric, _decimals(metric, mean))}"


def paper_number(value) -> float | None:
    """67.7 -> 67.7; '67.7 ± 0.1' -> 67.7; 'unstable' -> None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    m = re.match(r"\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)", str(value))
    return float(m.group(1)) if m else None


def paper_text(value) -> str:
    return "" if value is None else str(value)


def _row_keys(sweep: Sweep, runs: pd.DataFrame) -> list[tuple[str, dict]]:
    """(case, grid point) pairs: the sweep's grid in file order, then any extra points found in runs."""
    keys = [(c, g) for c in sweep.cases for g in sweep.grid_points()]
    seen = {(c, grid_key(g)) for c, g in keys}
    grid_cols = list(sweep.grid)
    for _, r in runs.iterrows():
        if r["case"] in sweep.cases and (r["case"], r["grid_key"]) not in seen:
            extra = {k: r[k] for k in grid_cols if k in r and not pd.isna(r[k])}
            seen.add((r["case"], r["grid_key"]))
            keys.append((r["case"], extra))
    order = {c: i for i, c in enumerate(sweep.cases)}
    return sorted(keys, key=lambda cg: order[cg[0]])  # stable: grid order kept within a case


def aggregate(runs: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """One row per (case, grid point) in sweep order.

    Columns: case, <grid keys>, grid_label, status, n, running, run_ids, then per metric
    <m>_mean, <m>_std (ddof=1, NaN when n<2), <m>_n, then paper (text) and paper_value (number); and
    linear_protocol (which gave linear_acc) when any run records it.
    `runs` should already be one group (analysis.selection) with duplicates resolved.
    """
    rows, recorded = [], protocols_recorded(runs)
    for case, grid in _row_keys(sweep, runs):
        sel = runs[(runs["case"] == case) & (runs["grid_key"] == grid_key(grid))]
        done = sel[sel["status"] != UNFINISHED]
        left = sel[sel["status"] == UNFINISHED]
        running = len(left)                                  # the unfinished runs (the column keeps its name)
        states = list(left["state"]) if "state" in left else [PARTIAL] * running
        versions = sorted({int(v) for v in done["numerics"].dropna()}) if "numerics" in done else []
        row = {"case": case, **grid, "grid_label": grid_label(grid),
               "status": status_summary(list(done["status"]), states),
               "n": len(done), "running": running, "run_ids": ";".join(done["run_id"]),
               "numerics": ", ".join(f"v{v}" for v in versions)}
        if recorded:
            row["linear_protocol"] = ", ".join(linear_protocols(done))
        for m in sweep.metrics:
            vals = pd.to_numeric(done[m], errors="coerce").dropna() if m in done else pd.Series(dtype=float)
            row[f"{m}_mean"] = float(vals.mean()) if len(vals) else math.nan
            row[f"{m}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
            row[f"{m}_n"] = len(vals)
        row["paper"] = paper_text(sweep.paper.get(case))
        row["paper_value"] = paper_number(sweep.paper.get(case))
        rows.append(row)
    return pd.DataFrame(rows)


def mixed_numerics(table: pd.DataFrame) -> bool:
    """Whether the table's rows were made under more than one training-numerics version (core.schema.numerics)."""
    versions = {v.strip() for text in table.get("numerics", []) for v in str(text).split(",") if v.strip()}
    return len(versions) > 1


def mixed_linear_protocols(table: pd.DataFrame) -> bool:
    """Whether the table's linear_acc numbers come from more than one protocol (core.schema.record)."""
    found = {p.strip() for text in table.get("linear_protocol", []) for p in str(text).split(",") if p.strip()}
    return len(found) > 1


PAPER_COLUMN = "paper"


def numeric_columns(sweep: Sweep) -> set[str]:
    """The columns of `display_rows` that hold numbers (right-aligned): n and the metrics."""
    return {"n", *(metric_label(m) for m in sweep.metrics)}


def display_rows(table: pd.DataFrame, sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    """Header and text cells shared by the markdown and LaTeX renderers. A table whose rows come from more
    than one numerics version gets a 'numerics' column, and one whose linear accuracies come from more than one
    protocol a 'linear protocol' column, so a reader sees which row is which. A sweep with no paper numbers (a
    reference sweep) has no 'paper' column."""
    mixed = mixed_numerics(table)
    protocols = "linear_acc" in sweep.metrics and mixed_linear_protocols(table)
    header = ["case", *sweep.grid, "status", "n", *(["numerics"] if mixed else []),
              *(["linear protocol"] if protocols else []), *(metric_label(m) for m in sweep.metrics),
              *([PAPER_COLUMN] if sweep.paper else [])]
    cells = []
    for _, r in table.iterrows():
        row = [r["case"], *(format_grid_cell(r.get(k)) for k in sweep.grid), r["status"], str(r["n"]),
               *([r["numerics"]] if mixed else []), *([r["linear_protocol"]] if protocols else [])]
        for m in sweep.metrics:
            text = format_mean_std(r[f"{m}_mean"], r[f"{m}_std"], m)
            if text and r[f"{m}_n"] != r["n"]:
                text += f" (n={r[f'{m}_n']})"   # some runs have no value for this metric (e.g. diverged)
            row.append(text)
        if sweep.paper:
            row.append(r["paper"])
        cells.append(row)
    return header, cells


def format_grid_cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)
