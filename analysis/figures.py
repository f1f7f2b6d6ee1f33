"""Figure-2-style training curves: loss, output std and kNN accuracy against epochs, one line per case.

Drawn on a bare matplotlib Figure with the Agg canvas: no pyplot, no global backend or style change.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.datasets import num_classes
from analysis.runs import UNFINISHED
from analysis.tables import STATUS_ORDER

PALETTE = "colorblind"
STYLE = "whitegrid"
FONT = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11,
        "ytick.labelsize": 11, "legend.fontsize": 12, "figure.titlesize": 12}   # legible at half width
MAX_MARKERS = 30          # show markers on sparse kNN curves only
BAD_STYLE = "--"          # lines of rows with a collapsed/diverged/failed run are dashed


def style_context():
    """The rc settings every figure of a report is drawn under."""
    return matplotlib.rc_context({**sns.axes_style(STYLE), **FONT})


def line_label(case: str, grid_label: str, statuses: list[str]) -> str:
    """'w/o stop-grad (collapsed)', 'x (1 of 3 diverged)', 'y (running)'; plain for all-ok."""
    label = f"{case}, {grid_label}" if grid_label else case
    if statuses and all(s == UNFINISHED for s in statuses):
        return f"{label} (running)"
    statuses = [s for s in statuses if s != UNFINISHED]
    bad = [s for s in statuses if s != "ok"]
    if not bad:
        return label
    kinds = sorted(set(bad), key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else 99)
    if len(bad) == len(statuses):
        return f"{label} ({', '.join(kinds)})"
    return f"{label} ({', '.join(f'{bad.count(k)} of {len(statuses)} {k}' for k in kinds)})"


def _mean_band(curves: pd.DataFrame, col: str) -> pd.DataFrame:
    """Mean and std over runs at each (rounded) epoch for one metric column."""
    d = curves[["run_id", "epoch", col]].dropna()
    if d.empty:
        return pd.DataFrame(columns=["epoch", "mean", "std", "count"])
    d = d.assign(epoch=d["epoch"].round(4))
    d = d.groupby(["run_id", "epoch"], as_index=False)[col].mean()   # one value per run and epoch
    g = d.groupby("epoch")[col].agg(["mean", "std", "count"]).reset_index()
    return g.sort_values("epoch")


def _with_init_knn(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Add knn_acc_init as the epoch-0 kNN point of each run whose metrics lack one."""
    extra = []
    for _, r in runs.iterrows():
        if "knn_acc_init" not in r or pd.isna(r["knn_acc_init"]):
            continue
        mine = curves[(curves["run_id"] == r["run_id"]) & curves["knn_acc"].notna()]
        if not (mine["epoch"] <= 1e-9).any():
            extra.append({"run_id": r["run_id"], "epoch": 0.0, "knn_acc": float(r["knn_acc_init"])})
    return pd.concat([curves, pd.DataFrame(extra)], ignore_index=True) if extra else curves


def _draw(ax, band: pd.DataFrame, color, label=None, markers=False, ls="-"):
    if band.empty:
        return
    ax.plot(band["epoch"], band["mean"], color=color, lw=2.0, label=label, ls=ls,
            marker="o" if markers else None, ms=4)
    spread = band["std"].where(band["count"] > 1)
    if spread.notna().any():
        ax.fill_between(band["epoch"], band["mean"] - spread, band["mean"] + spread,
                        color=color, alpha=0.2, lw=0)


def curves_figure(curves: pd.DataFrame, runs: pd.DataFrame, groups: list[tuple[str, str]],
                  title: str = "") -> Figure:
    """Three panels side by side (four when the runs log the effective rank of z); one line per
    (case, grid label) in `groups` order.

    `runs` holds one row per plotted run (status, dim, dataset, knn_acc_init); `curves` their
    metrics.jsonl rows. Colours follow `groups` order, so a case keeps its colour across reports.
    """
    colors = sns.color_palette(PALETTE, max(len(groups), 1))
    with style_context():
        erank = "z_erank" in curves and curves["z_erank"].notna().any()
        fig = Figure(figsize=(11.3 if erank else 8.5, 3.1), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 4 if erank else 3)
        curves = _with_init_knn(curves, runs) if len(curves) else curves
        for color, (case, glabel) in zip(colors, groups):
            mine = runs[(runs["case"] == case) & (runs["grid_label"] == glabel)]
            c = curves[curves["run_id"].isin(mine["run_id"])]
            if c.empty:
                continue
            label = line_label(case, glabel, list(mine["status"]))
            ls = BAD_STYLE if any(s not in ("ok", UNFINISHED) for s in mine["status"]) else "-"
            _draw(axes[0], _mean_band(c, "loss"), color, label, ls=ls)
            _draw(axes[1], _mean_band(c, "z_std"), color, ls=ls)
            knn = _mean_band(c, "knn_acc")
            _draw(axes[2], knn, color, markers=len(knn) <= MAX_MARKERS, ls=ls)
            if erank:
                _draw(axes[3], _mean_band(c, "z_erank"), color, ls=ls)
        _decorate(axes, runs)
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), 3), frameon=False)
        if title:
            fig.suptitle(title)
    return fig


def _dims(runs: pd.DataFrame) -> list[int]:
    return sorted({int(d) for d in runs["dim"].dropna()}) if "dim" in runs else []


def draw_inv_sqrt_d(ax, dims: list[int]) -> None:
    """The 1/sqrt(d) reference of an output-std panel, one dashed line per d."""
    for d in dims:
        label = "1/√d" if len(dims) == 1 else f"1/√d (d={d})"
        y = 1 / math.sqrt(d)
        ax.axhline(y, color="0.35", ls="--", lw=1.0, zorder=1)
        ax.annotate(label, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(-3, 3),
                    textcoords="offset points", ha="right", va="bottom", fontsize=11, color="0.25")
    top = ax.get_ylim()[1]
    ax.set_ylim(0.0, max(top, 1.15 / math.sqrt(min(dims))) if dims else top)


def draw_chance(ax, runs: pd.DataFrame) -> None:
    """The chance level of a kNN/linear accuracy panel (dotted), for the runs' data set."""
    datasets = {str(d) for d in runs["dataset"].dropna()} if "dataset" in runs else set()
    chance = 100.0 / num_classes(next(iter(datasets)) if len(datasets) == 1 else "")
    ax.axhline(chance, color="0.35", ls=":", lw=1.2, zorder=1)
    ax.annotate(f"chance ({chance:g}%)", xy=(1.0, chance), xycoords=("axes fraction", "data"),
                xytext=(-3, -3), textcoords="offset points", ha="right", va="top",
                fontsize=11, color="0.25")
    lo, hi = ax.get_ylim()
    ax.set_ylim(0.0, max(hi, chance * 1.5))


def _decorate(axes, runs: pd.DataFrame) -> None:
    loss_ax, std_ax, knn_ax = axes[:3]
    if len(axes) == 4:                     # partial collapse shows here before the mean std moves
        axes[3].set_title("effective rank of z")
        axes[3].set_yscale("log")
        for d in _dims(runs):
            axes[3].axhline(d, color="0.35", ls="--", lw=1.0, zorder=1)
    loss_ax.set_title("training loss")
    lo, hi = loss_ax.get_ylim()
    loss_ax.set_ylim(-1.0, max(hi, -0.5))
    std_ax.set_title("output std")
    draw_inv_sqrt_d(std_ax, _dims(runs))
    knn_ax.set_title("kNN acc. (%)")
    draw_chance(knn_ax, runs)
    for ax in axes:
        ax.set_xlabel("epochs")
        ax.set_xlim(left=0.0)


def save_curves(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
