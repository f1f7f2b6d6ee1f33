"""Accuracy and output std against a numeric axis (batch size, output dim d), ours beside the paper's.

Drawn for a sweep whose row labels are numbers set by one config key (Table 2: optim.batch_size,
App. B: model.dim). Three panels in the style of the curves figure: our accuracies (mean ± std over
seeds; the chance level in the title), the paper's numbers on the same axis, and our output std with 1/sqrt(d).
Rows with a collapsed, diverged or failed run are marked with a red cross and their status.
"""
from __future__ import annotations

import math

import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.datasets import chance_of
from analysis.figures import PALETTE, draw_inv_sqrt_d, style_context
from core.schema.sweep_format import Sweep
from analysis.tables import metric_label

AXIS_LABELS = {"optim.batch_size": "batch size", "model.dim": "output dim d"}
ACC_METRICS = ("linear_acc", "knn_acc")
BAD_COLOR = "#d62728"


def _number(text) -> float | None:
    try:
        x = float(text)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def axis_cases(sweep: Sweep) -> list[str]:
    """The rows whose label is a number (the axis); a row named otherwise (Table 2's "64, at 256's steps") is
    a check beside the axis, in the table but not on it."""
    return [c for c in sweep.cases if _number(c) is not None]


def numeric_axis(sweep: Sweep) -> str | None:
    """The config key whose value is each axis row's label (e.g. optim.batch_size), or None."""
    cases = axis_cases(sweep)
    xs = [_number(c) for c in cases]
    if sweep.grid or len(xs) < 2:
        return None
    overrides = [sweep.overrides.get(c, {}) for c in cases]
    for key in sorted(set.intersection(*(set(o) for o in overrides))):
        if all(_number(o[key]) == x and not isinstance(o[key], bool) for o, x in zip(overrides, xs)):
            return key
    return None


def _col(table: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(table[name], errors="coerce") if name in table else pd.Series(math.nan, index=table.index)


def _mark_bad(ax, xs, ys, statuses) -> None:
    for x, y, s in zip(xs, ys, statuses):
        if s not in ("ok", "missing") and not pd.isna(y):
            ax.plot([x], [y], marker="X", ms=11, color=BAD_COLOR, ls="none", zorder=5)
            ax.annotate(s, xy=(x, y), xytext=(0, 8), textcoords="offset points", ha="center",
                        fontsize=10, color=BAD_COLOR)


def _pad(ax, values: pd.Series) -> None:
    """Zoom on the values (as the paper's table does), with room for the labels."""
    v = values.dropna()
    if len(v):
        lo, hi = v.min(), v.max()
        ax.set_ylim(lo - max(1.0, 0.3 * (hi - lo)), hi + max(1.0, 0.3 * (hi - lo)))


def _log2_axis(ax, xs, label) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{x:g}" for x in xs], rotation=45 if len(xs) > 5 else 0)
    ax.minorticks_off()
    ax.set_xlabel(label)


def axis_figure(table: pd.DataFrame, runs: pd.DataFrame, sweep: Sweep, key: str, title: str = "") -> Figure:
    """`table`: aggregate() rows (labels are the x values); `runs`: the finished runs (dim, dataset)."""
    table = table[table["case"].isin(axis_cases(sweep))]
    xs = [float(c) for c in table["case"]]
    statuses = list(table["status"])
    label = AXIS_LABELS.get(key, key)
    colors = sns.color_palette(PALETTE, len(ACC_METRICS))
    with style_context():
        fig = Figure(figsize=(8.5, 3.3), layout="constrained")
        FigureCanvasAgg(fig)
        ours, paper, std = fig.subplots(1, 3)
        for color, m in zip(colors, ACC_METRICS):
            mean = _col(table, f"{m}_mean")
            if mean.notna().any():
                ours.errorbar(xs, mean, yerr=_col(table, f"{m}_std").fillna(0), color=color, lw=2.0,
                              marker="o", ms=5, capsize=3, label=metric_label(m).replace(" (%)", ""))
                _mark_bad(ours, xs, mean, statuses)
        ours.set_title("ours: accuracy (%)")
        chance = chance_of(runs)
        ours.text(0.98, 0.03, f"chance: {chance:.3g}%" if chance is not None else "chance: unknown",
                  transform=ours.transAxes, ha="right", va="bottom", fontsize=10, color="0.25")
        _pad(ours, pd.concat([_col(table, f"{m}_mean") for m in ACC_METRICS]))
        handles, labels = ours.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), frameon=False)

        pv = _col(table, "paper_value")
        if pv.notna().any():
            paper.plot(xs, pv, color="0.2", lw=2.0, marker="s", ms=5)
            for x, y in zip(xs, pv):
                if not pd.isna(y):
                    paper.annotate(f"{y:.1f}", xy=(x, y), xytext=(0, 6), textcoords="offset points",
                                   ha="center", fontsize=9, color="0.2")
            _pad(paper, pv)
        else:
            paper.text(0.5, 0.5, "no numbers in the paper", ha="center", va="center", transform=paper.transAxes)
        paper.set_title("paper: ImageNet linear (%)")

        zs = _col(table, "z_std_mean")
        if zs.notna().any():
            std.errorbar(xs, zs, yerr=_col(table, "z_std_std").fillna(0), color=colors[0], lw=2.0,
                         marker="o", ms=5, capsize=3)
            _mark_bad(std, xs, zs, statuses)
        if key == "model.dim":
            grid = [2 ** (i / 8) for i in range(int(8 * math.log2(min(xs))), int(8 * math.log2(max(xs))) + 1)]
            std.plot(grid, [1 / math.sqrt(d) for d in grid], color="0.2", ls="--", lw=1.2, zorder=6)
            std.annotate("1/√d", xy=(xs[0], 1 / math.sqrt(xs[0])), xytext=(4, 2), textcoords="offset points",
                         fontsize=11, color="0.25")
            std.set_ylim(0.0, 1.15 / math.sqrt(min(xs)))
        else:
            draw_inv_sqrt_d(std, sorted({int(d) for d in runs["dim"].dropna()}) if "dim" in runs else [])
        std.set_title("output std")
        for ax in (ours, paper, std):
            _log2_axis(ax, xs, label)
        if title:
            fig.suptitle(title)
    return fig
