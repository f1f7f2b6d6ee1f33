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

from analysis.runs import UNFINISHED
from analysis.tables import STATUS_ORDER

NUM_CLASSES = {"fashion_mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100, "imagenet": 1000}
PALETTE = "colorblind"
STYLE = "whitegrid"
FONT = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11,
        "ytick.labelsize": 11, "legend.fontsize": 12, "figure.titlesize": 12}   # legible at half width
MAX_MARKERS = 30          # show markers on sparse kNN curves only


def num_classes(dataset) -> int:
    return NUM_CLASSES.get(str(dataset).lower(), 10)


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


def _draw(ax, band: pd.DataFrame, color, label=None, markers=False):
    if band.empty:
        return
    ax.plot(band["epoch"], band["mean"], color=color, lw=2.0, label=label,
            marker="o" if markers else None, ms=4)
    spread = band["std"].where(band["count"] > 1)
    if spread.notna().any():
        ax.fill_between(band["epoch"], band["mean"] - spread, band["mean"] + spread,
                        color=color, alpha=0.2, lw=0)


def curves_figure(curves: pd.DataFrame, runs: pd.DataFrame, groups: list[tuple[str, str]],
                  title: str = "") -> Figure:
    """Three panels side by side; one line per (case, grid label) in `groups` order.

    `runs` holds one row per plotted run (status, dim, dataset, knn_acc_init); `curves` their
    metrics.jsonl rows. Colours follow `groups` order, so a case keeps its colour across reports.
    """
    colors = sns.color_palette(PALETTE, max(len(groups), 1))
    rc = {**sns.axes_style(STYLE), **FONT}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(8.5, 3.1), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 3)
        curves = _with_init_knn(curves, runs) if len(curves) else curves
        for color, (case, glabel) in zip(colors, groups):
            mine = runs[(runs["case"] == case) & (runs["grid_label"] == glabel)]
            c = curves[curves["run_id"].isin(mine["run_id"])]
            if c.empty:
                continue
            label = line_label(case, glabel, list(mine["status"]))
            _draw(axes[0], _mean_band(c, "loss"), color, label)
            _draw(axes[1], _mean_band(c, "z_std"), color)
            knn = _mean_band(c, "knn_acc")
            _draw(axes[2], knn, color, markers=len(knn) <= MAX_MARKERS)
        _decorate(axes, runs)
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), 3), frameon=False)
        if title:
            fig.suptitle(title)
    return fig


def _decorate(axes, runs: pd.DataFrame) -> None:
    loss_ax, std_ax, knn_ax = axes
    loss_ax.set_title("training loss")
    lo, hi = loss_ax.get_ylim()
    loss_ax.set_ylim(-1.0, max(hi, -0.5))
    std_ax.set_title("output std")
    dims = sorted({int(d) for d in runs["dim"].dropna()}) if "dim" in runs else []
    for d in dims:
        label = "1/√d" if len(dims) == 1 else f"1/√d (d={d})"
        y = 1 / math.sqrt(d)
        std_ax.axhline(y, color="0.35", ls="--", lw=1.0, zorder=1)
        std_ax.annotate(label, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(-3, 3),
                        textcoords="offset points", ha="right", va="bottom", fontsize=11, color="0.25")
    top = std_ax.get_ylim()[1]
    std_ax.set_ylim(0.0, max(top, 1.15 / math.sqrt(min(dims))) if dims else top)
    knn_ax.set_title("kNN acc. (%)")
    datasets = {str(d) for d in runs["dataset"].dropna()} if "dataset" in runs else set()
    chance = 100.0 / num_classes(next(iter(datasets)) if len(datasets) == 1 else "")
    knn_ax.axhline(chance, color="0.35", ls=":", lw=1.2, zorder=1)
    knn_ax.annotate(f"chance ({chance:g}%)", xy=(1.0, chance), xycoords=("axes fraction", "data"),
                    xytext=(-3, -3), textcoords="offset points", ha="right", va="top",
                    fontsize=11, color="0.25")
    lo, hi = knn_ax.get_ylim()
    knn_ax.set_ylim(0.0, max(hi, chance * 1.5))
    for ax in axes:
        ax.set_xlabel("epochs")
        ax.set_xlim(left=0.0)


def save_curves(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
