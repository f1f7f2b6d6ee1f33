"""Figure-2-style training curves against epochs, one line per case: loss, the std of the projector output z
and, beside it, of the backbone features (where a collapse sits shows there), kNN accuracy, and the
effective rank of z. A row the paper reports at chance (a collapse) gets a cross at chance on the kNN panel.

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

from analysis.datasets import chance_of
from analysis.runs import UNFINISHED
from analysis.tables import STATUS_ORDER, paper_number
from core.schema.record import PARTIAL

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
    """'w/o stop-grad (collapsed)', 'x (1 of 3 diverged)', 'y (partial)'; plain for all-ok."""
    label = f"{case}, {grid_label}" if grid_label else case
    if statuses and all(s == UNFINISHED for s in statuses):
        return f"{label} ({PARTIAL})"                  # a curve without a result: sweeps.status's word
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


PANELS = ("loss", "z_std", "backbone_std", "knn_acc", "z_erank")   # metrics.jsonl column per panel, in order
OPTIONAL = ("backbone_std", "z_erank")                              # drawn only when the runs log them


def _has(curves: pd.DataFrame, col: str) -> bool:
    return col in curves and curves[col].notna().any()


def curves_figure(curves: pd.DataFrame, runs: pd.DataFrame, groups: list[tuple[str, str]],
                  title: str = "", paper: dict | None = None) -> Figure:
    """The PANELS side by side (those in OPTIONAL only when logged); one line per (case, grid label) in
    `groups` order.

    `runs` holds one row per plotted run (status, dim, dataset, knn_acc_init); `curves` their metrics.jsonl
    rows; `paper` the paper's number per case (a row below 1% is at chance there: marked on the kNN panel).
    Colours follow `groups` order, so a case keeps its colour across reports.
    """
    colors = sns.color_palette(PALETTE, max(len(groups), 1))
    chance = chance_of(runs)
    with style_context():
        panels = [p for p in PANELS if p not in OPTIONAL or _has(curves, p)]
        fig = Figure(figsize=(2.85 * len(panels), 3.1), layout="constrained")
        FigureCanvasAgg(fig)
        axes = dict(zip(panels, fig.subplots(1, len(panels))))
        curves = _with_init_knn(curves, runs) if len(curves) else curves
        for color, (case, glabel) in zip(colors, groups):
            mine = runs[(runs["case"] == case) & (runs["grid_label"] == glabel)]
            c = curves[curves["run_id"].isin(mine["run_id"])]
            if c.empty:
                continue
            label = line_label(case, glabel, list(mine["status"]))
            ls = BAD_STYLE if any(s not in ("ok", UNFINISHED) for s in mine["status"]) else "-"
            for col, ax in axes.items():
                band = _mean_band(c, col)
                sparse = col.startswith(("knn", "backbone")) and len(band) <= MAX_MARKERS
                _draw(ax, band, color, label if col == "loss" else None, markers=sparse, ls=ls)
            at_chance = paper_number((paper or {}).get(case))
            if at_chance is not None and at_chance < 1.0 and chance is not None and len(c["epoch"].dropna()):
                axes["knn_acc"].plot([c["epoch"].max()], [chance], marker="X", ms=11, color=color,
                                     mec="black", ls="none", zorder=5, label="paper: at chance (collapsed)")
        _decorate(axes, runs)
        handles, labels = axes["loss"].get_legend_handles_labels()
        marks, mark_labels = axes["knn_acc"].get_legend_handles_labels()
        handles, labels = handles + marks[:1], labels + mark_labels[:1]     # one entry for the paper's crosses
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
    chance = chance_of(runs)
    if chance is None:                     # an image folder whose class count no record states
        return
    ax.axhline(chance, color="0.35", ls=":", lw=1.2, zorder=1)
    ax.annotate(f"chance ({chance:.3g}%)", xy=(1.0, chance), xycoords=("axes fraction", "data"),
                xytext=(-3, -3), textcoords="offset points", ha="right", va="top",
                fontsize=11, color="0.25")
    lo, hi = ax.get_ylim()
    ax.set_ylim(0.0, max(hi, chance * 1.5))


def _decorate(axes: dict, runs: pd.DataFrame) -> None:
    if "z_erank" in axes:                  # partial collapse shows here before the mean std moves
        axes["z_erank"].set_title("effective rank of z")
        axes["z_erank"].set_yscale("log")
        for d in _dims(runs):
            axes["z_erank"].axhline(d, color="0.35", ls="--", lw=1.0, zorder=1)
    loss_ax = axes["loss"]
    loss_ax.set_title("training loss")
    lo, hi = loss_ax.get_ylim()
    loss_ax.set_ylim(-1.0, max(hi, -0.5))
    axes["z_std"].set_title("output std (z)")
    draw_inv_sqrt_d(axes["z_std"], _dims(runs))
    if "backbone_std" in axes:             # the same statistic one level down: is the backbone collapsed too?
        axes["backbone_std"].set_title("backbone feature std")
        lo, hi = axes["backbone_std"].get_ylim()
        axes["backbone_std"].set_ylim(0.0, max(hi, axes["z_std"].get_ylim()[1]))
    axes["knn_acc"].set_title("kNN acc. (%)")
    draw_chance(axes["knn_acc"], runs)
    for ax in axes.values():
        ax.set_xlabel("epochs")
        ax.set_xlim(left=0.0)


def save_curves(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
