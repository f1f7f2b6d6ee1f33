"""The index page, <out>/README.md: every sweep of ablations/, in the paper's order, with our table
beside the paper's, the figures, preset, seeds, dates, commits and a verdict per claim of the paper."""
from __future__ import annotations

import re
from dataclasses import dataclass

from analysis import lr_check
from analysis.report_page import PAGE, TEST_RULE, SweepReport, recipe_summary
from core.sweepfile import Sweep
from analysis.table_files import display_rows, md_escape, title_line
from analysis.tables import metric_label, numeric_columns
from analysis.verdicts import NO_DATA, VERDICTS, Verdict, verdict_counts

INDEX = "README.md"


@dataclass
class Entry:
    sweep: Sweep
    report: SweepReport | None          # None: nothing to report (the reason is in `error`)
    verdicts: list[Verdict]
    error: str = ""


def paper_order(sweep: Sweep) -> tuple:
    """Figure 2, Table 1, 2, 3, Sec. 4.5, 4.6, Sec. 5.2, appendices: the order the paper shows them."""
    fig = sweep.figure.lower()
    num = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", fig)[:1]] or [99.0]
    rank = (0 if fig.startswith("figure") else 1 if fig.startswith("table") else
            2 if fig.startswith("sec") else 3 if fig.startswith("appendix") else 4)
    if fig.startswith("sec"):
        num = [num[0] + 4]                     # Sec. 4.5 after Table 3 (Sec. 4.4)
        rank = 1
    return rank, num[0], sweep.name


def _table(rep: SweepReport) -> list[str]:
    head, cells = display_rows(rep.table, rep.sweep)
    numeric = numeric_columns(rep.sweep)
    out = ["| " + " | ".join(md_escape(h) for h in head) + " |",
           "|" + "|".join("---:" if h in numeric else ":---" for h in head) + "|"]
    return out + ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in cells]


def _verdict_lines(verdicts: list[Verdict], lr_cells: list[str] = ()) -> list[str]:
    if not verdicts:
        return ["- (no claims in the sweep file)"]
    lr = bool(lr_cells)
    out = ["| verdict | the paper says | evidence (ours) |" + (" across base lr |" if lr else ""),
           "|:---|:---|:---|" + (":---|" if lr else "")]
    for i, v in enumerate(verdicts):
        cells = [f"**{v.verdict}**", md_escape(v.claim.paper), md_escape(v.evidence)]
        out.append("| " + " | ".join(cells + ([md_escape(lr_cells[i])] if lr else [])) + " |")
    return out


def _section(e: Entry) -> list[str]:
    s, rep = e.sweep, e.report
    out = [f"## {md_escape(title_line(s))}", ""]
    if rep is None:
        out += [f"**Nothing to report:** {md_escape(e.error)}", "", "Claims:", ""] + _verdict_lines(e.verdicts) + [""]
        return out
    out += [f"[full report]({rep.folder}/{PAGE}) · preset **{rep.preset}** · seeds {rep.seeds()} · "
            f"{len(rep.finished)} finished runs · run on {rep.dates()} · commit {rep.commits()}", ""]
    paper = (f"Paper column: {md_escape(s.paper_metric) or 'the paper'}." if s.paper else
             "No paper column: the paper has no numbers for these rows.")
    out += [f"{recipe_summary(rep)} (details in the report). {paper}", ""]
    missing = rep.missing()
    if missing:
        out += ["**Missing (partial sweep):** " + md_escape("; ".join(missing)), ""]
    out += _table(rep) + [""]
    for name in rep.figures:
        out += [f"![{md_escape(title_line(s))} ({name})]({rep.folder}/{name})", ""]
    out += ["Claims:", ""] + _verdict_lines(e.verdicts, rep.lr_cells) + [""]
    if rep.collapse_site:
        out += ["Where the collapse sits (measured):", ""] + [f"- {md_escape(x)}" for x in rep.collapse_site] + [""]
    return out


def seed_noise(entries: list[Entry]) -> str:
    """How far seeds alone move an accuracy, from every all-ok row with several seeds; '' if none."""
    parts = []
    for metric in ("linear_acc", "knn_acc"):
        stds = [float(r[f"{metric}_std"]) for e in entries if e.report is not None
                for _, r in e.report.table.iterrows()
                if r["n"] >= 2 and r["status"] == "ok" and f"{metric}_std" in r
                and r[f"{metric}_std"] == r[f"{metric}_std"]]
        if stds:
            stds.sort()
            mid = stds[len(stds) // 2] if len(stds) % 2 else (stds[len(stds) // 2 - 1] + stds[len(stds) // 2]) / 2
            parts.append(f"{metric_label(metric)} std {stds[0]:.1f} to {stds[-1]:.1f} (median {mid:.1f}, "
                         f"{len(stds)} rows)")
    if not parts:
        return ""
    return ("**Seed noise:** where rows have several seeds (all runs ok), seeds alone move " + "; ".join(parts)
            + ". A single seed cannot tell a difference of that size from noise: a verdict needs three.")


def duration_text(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{seconds / 60:.1f} min"


def compute_line(entries: list[Entry]) -> str:
    """What the reported runs cost: the sum of their wall times (set-up, training, evaluation) per device (and
    CPU model, which meta.json names from 2026-12-02 on: a CPU run is bit-exact per CPU type), copies of another
    sweep's run (sweeps.twins) counted once; '' when no finished run records one."""
    per_device: dict[str, list[float]] = {}
    copies = 0
    for e in entries:
        if e.report is None:
            continue
        for _, r in e.report.finished.iterrows():
            if isinstance(r.get("copied_from"), str):
                copies += 1
                continue
            w, dev = r.get("wall_s"), r.get("device")
            if w is None or w != w:
                continue
            dev = str(dev) if isinstance(dev, str) else "device not recorded"
            cpu = r.get("cpu")
            dev += f", {cpu}" if isinstance(cpu, str) else ", CPU model not recorded"
            per_device.setdefault(dev, []).append(float(w))
    if not per_device:
        return ""
    parts = [f"{len(ws)} runs, {duration_text(sum(ws))} on {dev}" for dev, ws in sorted(per_device.items())]
    what = "row is a copy" if copies == 1 else "rows are copies"
    shared = f"; {copies} more {what} of another sweep's identical run (not counted)" if copies else ""
    return ("**Compute:** " + "; ".join(parts) + shared + " (the sum of each run's wall time: set-up, training "
            "and evaluation; runs side by side overlap in clock time).")


def lr_line(entries: list[Entry]) -> str:
    """How many verdicts hold, fail or change across the base lrs tried; '' without an lr check."""
    cells = [c for e in entries if e.report is not None for c in e.report.lr_cells]
    if not cells:
        return ""
    kinds = [lr_check.summary_kind(c) for c in cells]
    counts = ", ".join(f"{kinds.count(k)} {k}" for k in lr_check.SUMMARIES if kinds.count(k))
    return ("**Across base lr:** the claims most likely to hang on the cpu preset's base lr (1.5, chosen so that "
            "the run without stop-gradient collapses in ~400 steps) were judged again on the same rows at other "
            f"base lrs (column 'across base lr'): {counts}; the rest are not testable here or have no data.")


def index_markdown(entries: list[Entry], command: str, speed: list[str] = (), lr_checked: bool = False) -> str:
    """The page; `speed` is the '## Speed' section's lines (analysis.speed), placed after the sweeps."""
    entries = sorted(entries, key=lambda e: paper_order(e.sweep))
    everything = [v for e in entries for v in e.verdicts]
    totals = verdict_counts(everything)
    presets = sorted({str(e.report.preset) for e in entries if e.report is not None})
    out = ["# SimSiam ablations: our numbers beside the paper's", "",
           f"Generated by `{command}` from the run directories; nothing here is written by hand. "
           "Each section links the sweep's full report (table, figures, claims, recipe differences).", "",
           "The paper's numbers are ImageNet linear top-1 (%) after 100-epoch pre-training with ResNet-50; "
           f"ours come from preset{'s' if len(presets) != 1 else ''} {', '.join(presets) or '(none)'}, "
           "so levels are not comparable: the verdicts test the paper's qualitative claims, each stated in "
           "the sweep file with a machine-checkable test.", "",
           f"**{len(everything)} claims:** " + ", ".join(f"{totals[v]} {v}" for v in VERDICTS), "",
           TEST_RULE, "",
           *([lr_line(entries), ""] if lr_checked and lr_line(entries) else []),
           *([seed_noise(entries), ""] if seed_noise(entries) else []),
           *([compute_line(entries), ""] if compute_line(entries) else []),
           "| paper | sweep | preset | seeds | runs | " + " | ".join(VERDICTS) + " |",
           "|:---|:---|:---|:---|---:|" + "---:|" * len(VERDICTS)]
    for e in entries:
        c = verdict_counts(e.verdicts)
        rep = e.report
        link = f"[{e.sweep.name}]({rep.folder}/{PAGE})" if rep is not None else e.sweep.name
        cells = [md_escape(e.sweep.figure or e.sweep.name), link,
                 str(rep.preset) if rep else "-", rep.seeds() if rep else "-",
                 str(len(rep.finished)) if rep else "0"]
        out.append("| " + " | ".join(cells + [str(c[v]) for v in VERDICTS]) + " |")
    out.append("")
    for e in entries:
        out += _section(e)
    out += list(speed)
    return "\n".join(out).rstrip("\n") + "\n"


def no_data_verdicts(sweep: Sweep, why: str) -> list[Verdict]:
    return [Verdict(c, NO_DATA, why) for c in sweep.claims]
