"""Read run directories (`<runs_dir>/<sweep>/<run_id>/`) into pandas frames.

Every file is optional: a run without a readable result.json with a known status (core.schema.record.read_result)
is `unfinished`, a torn or unreadable line or file is skipped, never fatal.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

from core.schema.record import (CONFIG, META, METRICS, RESULT_METRICS, numerics_version, read_json, read_jsonl,
                                read_result, run_dirs, unfinished_state)

UNFINISHED = "unfinished"
META_COLUMNS = ["run_id", "case", "seed", "preset", "commit", "numerics", "start_time", "status"]
CURVE_ID_COLUMNS = ["run_id", "case", "seed", "grid_label"]
CURVE_COLUMNS = ["epoch", "step", "loss", "z_std", "lr", "knn_acc", "z_erank", "backbone_std", "backbone_erank"]


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def grid_label(grid: dict) -> str:
    """{'optim.batch_size': 256} -> 'optim.batch_size=256' ('' for no grid)."""
    return ", ".join(f"{k}={v}" for k, v in grid.items())


def normalize_grid_value(v):
    """Compare grid values loosely: 1e-4 (YAML string) and 0.0001 match, True stays a bool."""
    if isinstance(v, bool) or v is None:
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f if math.isfinite(f) else str(v)


def grid_key(grid: dict) -> str:
    return json.dumps({k: normalize_grid_value(v) for k, v in sorted(grid.items())}, sort_keys=True)


def _scalar(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return v


def read_run(run_dir: Path) -> dict:
    """One row: meta fields, result fields (or status 'unfinished'), dim/dataset/base lr from config, grid, and
    the parsed config.yaml and meta.json themselves."""
    meta = read_json(run_dir / META) or {}
    config = _read_yaml(run_dir / CONFIG)
    result = read_result(run_dir)
    grid = meta.get("grid") if isinstance(meta.get("grid"), dict) else {}
    row = {
        "run_id": str(meta.get("run_id") or run_dir.name),
        "case": meta.get("case"),
        "seed": meta.get("seed", (config.get("run") or {}).get("seed")),
        "preset": meta.get("preset"),
        "commit": meta.get("commit"),
        "cpu": meta.get("cpu"),                       # the CPU's model name (core.schema.host); older records lack it
        "numerics": numerics_version(meta),           # core.schema.numerics: the training numerics that made it
        "start_time": meta.get("start_time"),
        "copied_from": meta.get("copied_from"),      # sweeps.twins: a copy of another sweep's run
        "status": UNFINISHED,
        "state": unfinished_state(run_dir) if result is None else None,   # partial or new: sweeps.status's word
    }
    row.update({m: None for m in RESULT_METRICS})
    if result is not None:
        for k, v in result.items():
            if k not in ("run_id", "case", "seed", "preset", "commit", "start_time"):
                row[k] = _scalar(v)
        row["status"] = str(result["status"])
    model, data, optim = config.get("model") or {}, config.get("data") or {}, config.get("optim") or {}
    row["dim"] = model.get("dim")
    loss = config.get("loss") or {}
    row["loss_kind"] = f"{loss.get('objective', 'similarity')}/{loss.get('similarity', 'cosine')}"
    row["dataset"] = data.get("dataset")
    row["base_lr"] = optim.get("base_lr")
    row["grid_label"] = grid_label(grid)
    row["grid_key"] = grid_key(grid)
    row["path"] = str(run_dir)
    row["config_yaml"], row["meta_json"] = config, meta  # the run's group is read from these
    for k, v in grid.items():
        row[k] = v
    return row


def load_runs(runs_dir: str | Path, sweep: str) -> pd.DataFrame:
    """One row per run directory of `sweep` under `runs_dir` (empty frame when there are none)."""
    rows = [read_run(d) for d in run_dirs(runs_dir, sweep)]
    base = META_COLUMNS + list(RESULT_METRICS) + ["dim", "dataset", "base_lr", "grid_label", "grid_key", "path",
                                                  "copied_from", "config_yaml", "meta_json"]
    df = pd.DataFrame(rows, columns=list(dict.fromkeys(base + [k for r in rows for k in r])))
    df["start_time"] = pd.to_datetime(df["start_time"], utc=True, errors="coerce", format="ISO8601")
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").astype("Int64")
    for m in RESULT_METRICS:
        df[m] = pd.to_numeric(df[m], errors="coerce")
    return df


def load_curves(runs_dir: str | Path, sweep: str, run_ids: list[str] | None = None) -> pd.DataFrame:
    """Long-form metrics.jsonl rows of every run (or only `run_ids`), with run_id/case/seed added."""
    frames, wanted = [], (None if run_ids is None else set(run_ids))
    for d in run_dirs(runs_dir, sweep):
        meta = read_json(d / META) or {}
        run_id = str(meta.get("run_id") or d.name)
        if wanted is not None and run_id not in wanted:
            continue
        rows = read_jsonl(d / METRICS)
        if not rows:
            continue
        f = pd.DataFrame(rows)
        grid = meta.get("grid") if isinstance(meta.get("grid"), dict) else {}
        f.insert(0, "grid_label", grid_label(grid))
        f.insert(0, "seed", meta.get("seed"))
        f.insert(0, "case", meta.get("case"))
        f.insert(0, "run_id", run_id)
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=CURVE_ID_COLUMNS + CURVE_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    for col in CURVE_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else float("nan")
    return df


def select_preset(runs: pd.DataFrame, preset: str | None) -> tuple[pd.DataFrame, str | None]:
    """Runs of one preset: `preset`, or by default that of the most recently started run."""
    if preset is None and len(runs):
        ordered = runs.sort_values("start_time", na_position="first")
        preset = ordered["preset"].iloc[-1]
        preset = None if pd.isna(preset) else preset
    if preset is None:
        return runs[runs["preset"].isna()], None
    return runs[runs["preset"] == preset], preset


def resolve_duplicates(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Keep the newest finished run per (case, seed, grid point); notes name what was dropped.

    Unfinished runs are kept as they are (they are never counted in a table).
    """
    finished = runs[runs["status"] != UNFINISHED]
    rest = runs[runs["status"] == UNFINISHED]
    notes, keep = [], []
    ordered = finished.sort_values(["start_time", "run_id"], na_position="first")
    for (case, seed, _), group in ordered.groupby(["case", "seed", "grid_key"], sort=False, dropna=False):
        newest = group.iloc[-1]
        keep.append(newest.name)
        if len(group) > 1:
            dropped = ", ".join(group["run_id"].iloc[:-1])
            where = f"'{case}' seed {seed}" + (f" ({newest['grid_label']})" if newest["grid_label"] else "")
            notes.append(f"{where}: {len(group)} finished runs; kept the newest ({newest['run_id']}, "
                         f"started {_fmt_time(newest['start_time'])}), ignored {dropped}")
    kept = pd.concat([finished.loc[keep], rest]) if len(rest) else finished.loc[keep]
    return kept.sort_index(), notes


def _fmt_time(t) -> str:
    return "unknown time" if pd.isna(t) else t.strftime("%Y-%m-%d %H:%M:%S UTC")
