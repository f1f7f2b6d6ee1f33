"""The throughput records (`python -m benchmarks.throughput --json FILE`) as the index page's speed table.

Each record is one benchmark run on one machine: pairs/s of (1) our full step, (2) the model-only step and
(3) the official-style step, with the ratios the benchmark computed and the aten ops per step. Read as plain
JSON (no torch); a file that is not such a record is reported as a problem, not an error.
"""
from __future__ import annotations

import json
from pathlib import Path

from analysis.table_files import md_escape

REQUIRED = ("device", "pairs_per_s", "input_overhead")


def load_benchmarks(bench_dir: str | Path) -> tuple[list[dict], list[str]]:
    """(records sorted by time then file name, one-line problems) from <bench_dir>/*.json; ([], []) if absent."""
    records, problems = [], []
    for path in sorted(Path(bench_dir).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            problems.append(f"{path}: not readable as JSON ({err})")
            continue
        missing = [k for k in REQUIRED if not isinstance(rec, dict) or k not in rec]
        if missing:
            problems.append(f"{path}: not a benchmarks.throughput record (no {', '.join(missing)})")
            continue
        if not isinstance(rec["pairs_per_s"], dict):
            problems.append(f"{path}: not a benchmarks.throughput record (pairs_per_s is not a mapping)")
            continue
        records.append({**rec, "file": path.name})
    return sorted(records, key=lambda r: (str(r.get("time", "")), r["file"])), problems


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _num(value, fmt: str, suffix: str = "", scale: float = 1.0) -> str:
    """`value * scale` formatted with `suffix`, or '-' where the record has no number."""
    return format(value * scale, fmt) + suffix if _is_number(value) else "-"


def _setting(r: dict) -> str:
    bits = [str(r.get("backbone", "?")), f"batch {r.get('batch', '?')}", str(r.get("precision", "?"))]
    if r.get("channels_last"):
        bits.append("channels_last")
    if r.get("compile_step"):
        bits.append("compiled step")
    elif r.get("compile"):
        bits.append("compiled")
    return ", ".join(bits)


def speed_table(records: list[dict]) -> list[str]:
    """Markdown table rows, one per record (empty list for no records)."""
    if not records:
        return []
    out = ["| record | device | model, batch, precision | ours (pairs/s) | s/epoch | model only | official-style "
           "| input overhead | speedup | aug. share | MFU | aten ops per step (aug. / model) "
           "| host syncs per step (ours / official) | commit |",
           "|:---|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|:---|:---|:---|"]
    for r in records:
        pps, syncs, epoch = r.get("pairs_per_s", {}), r.get("host_syncs_per_step") or {}, r.get("epoch_s") or {}
        ops = r.get("aten_ops_per_step") or {}                  # records before the op count have none
        cells = [r["file"], md_escape(str(r["device"])), _setting(r), _num(pps.get("full"), ".0f"),
                 _num(epoch.get("full"), ".2f"), _num(pps.get("model_only"), ".0f"), _num(pps.get("reference"), ".0f"),
                 _num(r.get("input_overhead"), ".3f"), _num(r.get("speedup_vs_reference"), ".2f", "x"),
                 _num(r.get("aug_share"), ".1f", "%", 100), _num(r.get("mfu"), ".1f", "%", 100),
                 f"{_num(ops.get('augment'), '.0f')} / {_num(ops.get('model'), '.0f')}",
                 f"{_num(syncs.get('full'), 'g')} / {_num(syncs.get('reference'), 'g')}",
                 str(r.get("commit", "-"))]
        out.append("| " + " | ".join(cells) + " |")
    return out


def speed_section(records: list[dict], bench_dir: str | Path) -> list[str]:
    """The index page's '## Speed' section, or nothing without records."""
    if not records:
        return []
    return ["## Speed", "",
            f"From the throughput records in `{bench_dir}/`, each written by `python -m benchmarks.throughput "
            "--json FILE`: one run, one machine, the same model, batch and data for every variant. Input overhead "
            "is time (1) / time (2) (on a CPU the median of neighbouring single-step ratios), speedup is "
            "time (3) / time (1), aug. share is making a batch's views alone over (1), MFU is model FLOP/s of (1) "
            "over a measured matrix-product peak; aten ops are those one step dispatches, making the batch (both "
            "views) and the model step apart, about one GPU kernel launch each; host syncs are counted over one "
            "logging interval (off CUDA: the ops that would make the host wait for a GPU).", "",
            *speed_table(records), ""]
