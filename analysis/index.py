"""The index page, <out>/README.md: every sweep of ablations/, in the paper's order, with our table
beside the paper's, the figures, preset, seeds, dates, commits and a verdict per claim of the paper."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from analysis import stats
from analysis.comparison_text import section, summary_line
from analysis.registered import registered_verdict
from analysis.report_page import (PAGE, SweepReport, amendment_lines, evidence_text, recipe_summary, test_rule,
                                   verdict_cell)
from core.schema.sweep_format import Sweep
from analysis.table_files import display_rows, md_escape, title_line
from analysis.tables import metric_label, numeric_columns
from analysis.verdicts import (INCONCLUSIVE, NO_DATA, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, REVERSED,
                               THRESHOLD_SENSITIVE, VERDICTS, WEAKER, Verdict, verdict_counts)

INDEX = "README.md"


@dataclass
class Entry:
    sweep: Sweep
    report: SweepReport | None          # None: nothing to report (the reason is in `error`)
    verdicts: list[Verdict]
    error: str = ""
    compared: list = field(default_factory=list)   # analysis.comparisons.Compared: the declared comparisons


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


def _verdict_lines(verdicts: list[Verdict], columns: list = (), marks: dict | None = None) -> list[str]:
    if not verdicts:
        return ["- (no claims in the sweep file)"]
    marks = marks or {}
    out = ["| verdict | the paper says | evidence (ours) |" + "".join(f" {md_escape(h)} |" for h, _ in columns),
           "|:---|:---|:---|" + ":---|" * len(columns)]
    for i, v in enumerate(verdicts):
        mark = marks.get(id(v), "")
        evidence = evidence_text(v) + (f" ({mark})" if mark else "")
        cells = [verdict_cell(v), md_escape(v.claim.paper), md_escape(evidence)]
        out.append("| " + " | ".join(cells + [md_escape(c[i]) for _, c in columns]) + " |")
    return out


def _section(e: Entry, marks: dict) -> list[str]:
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
    out += ["Rows: mean ± standard deviation over seeds.", ""] + _table(rep) + [""]
    for name in rep.figures:
        out += [f"![{md_escape(title_line(s))} ({name})]({rep.folder}/{name})", ""]
    out += ["Claims:", ""] + _verdict_lines(e.verdicts, rep.columns, marks) + [""]
    amended = amendment_lines(e.verdicts)
    if amended:
        out += ["Amended after registration (each verdict under the registered test, then after each amendment):",
                ""] + amended + [""]
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
    copies, short = 0, []
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
            train = r.get("train_s")
            if isinstance(train, (int, float)) and train == train and float(w) < float(train):
                short.append(float(train) - float(w))
            dev = str(dev) if isinstance(dev, str) else "device not recorded"
            cpu = r.get("cpu")
            dev += f", {cpu}" if isinstance(cpu, str) else ", CPU model not recorded"
            per_device.setdefault(dev, []).append(float(w))
    if not per_device:
        return ""
    parts = [f"{len(ws)} runs, {duration_text(sum(ws))} on {dev}" for dev, ws in sorted(per_device.items())]
    what = "row is a copy" if copies == 1 else "rows are copies"
    shared = f"; {copies} more {what} of another sweep's identical run (not counted)" if copies else ""
    under = (f" {len(short)} of these runs were resumed by code that counted only their last segment's wall time "
             f"(wall_s below their train_s): the sum under-counts them by at least {duration_text(sum(short))}; runs "
             "made since 2026-12-07 count every segment." if short else "")
    return ("**Compute:** " + "; ".join(parts) + shared + " (the sum of each run's wall time: set-up, training "
            "and evaluation; runs side by side overlap in clock time)." + under)


def comparison_lines(entries: list[Entry]) -> list[str]:
    """Per comparison with a column on the pages (its base is the reported tree): how its verdicts hold across
    the values tried (analysis.comparison_text.summary_line)."""
    by_name: dict[str, list] = {}
    for e in entries:
        for x in e.compared:
            if x.on_report and x.comparison.column:
                by_name.setdefault(x.comparison.name, []).append(x)
    lines = [summary_line(xs) for xs in by_name.values()]
    return [line for line in lines if line]


def shared_runs(entries: list[Entry]) -> tuple[dict, set]:
    """Which claims read runs that other claims read too, and which claims repeat another's test on the same
    runs (counted once). Returns ({id(verdict): mark}, {id(verdict) of the repeats})."""
    verdicts = [(e.sweep.name, i + 1, v) for e in entries for i, v in enumerate(e.verdicts) if v.run_ids]
    marks, repeats, seen = {}, set(), {}
    for name, number, v in verdicts:
        c = v.claim
        key = (c.test, c.metric, c.other_metric, c.equals, c.margin, c.at_most, c.relative_to, c.value, c.testable_at,
               v.run_ids)
        if key in seen:
            repeats.add(id(v))
            marks[id(v)] = f"the same test on the same runs as {seen[key]}: counted once"
            continue
        seen[key] = f"{name} claim {number}"
        others = sum(1 for _, _, w in verdicts if w is not v and w.run_ids & v.run_ids)
        if others:
            marks[id(v)] = f"shares runs with {others} other claim{'s' if others > 1 else ''}: correlated errors"
    return marks, repeats


def counts_line(verdicts: list[Verdict], repeats: set) -> str:
    """The headline counts of the registered verdicts (analysis.registered), each claim once, the two kinds of
    'not reproduced' and the sensitive ones apart."""
    once = [registered_verdict(v) for v in verdicts if id(v) not in repeats]
    totals = verdict_counts(once)
    words = []
    for v in VERDICTS:
        word = f"{totals[v]} {v}"
        if v == NOT_REPRODUCED and totals[v]:
            other = totals[v] - totals[REVERSED] - totals[WEAKER]
            word += f" ({totals[REVERSED]} {REVERSED}, {totals[WEAKER]} {WEAKER}, {other} other)"
        if v == INCONCLUSIVE and totals[v]:
            undecided = [x for x in once if x.verdict == INCONCLUSIVE]
            stuck = sum(1 for x in undecided if x.undecidable)
            free = [x for x in undecided if not x.undecidable]
            leans = [sum(1 for x in free if x.lean == w) for w in (REPRODUCED, NOT_REPRODUCED)]
            word += (f" ({stuck} of them undecidable at their declared seeds whatever the runs did; of the other "
                     f"{len(free)}, {leans[0]} lean toward '{REPRODUCED}', {leans[1]} toward '{NOT_REPRODUCED}', "
                     f"{len(free) - sum(leans)} neither)")
        words.append(word)
    extra = len(verdicts) - len(once)
    repeated = (f" ({extra} more {'repeats' if extra == 1 else 'repeat'} a claim's test on the same runs, not counted "
                "again)") if extra else ""
    sensitive = f"; {totals[THRESHOLD_SENSITIVE]} of them {THRESHOLD_SENSITIVE}" if totals[THRESHOLD_SENSITIVE] else ""
    return f"**{len(once)} claims{repeated}, as registered:** " + ", ".join(words) + sensitive


RANK = {NOT_REPRODUCED: 0, INCONCLUSIVE: 1, REPRODUCED: 2}    # toward "reproduced" is up this order


def amendments_line(verdicts: list[Verdict], repeats: set) -> str:
    """How many claims were amended after registration, and how their amendments moved the verdicts: from the
    registered verdict to the verdict as the claim stands, toward 'reproduced' or away from it."""
    amended = [v for v in verdicts if v.stages and id(v) not in repeats]
    if not amended:
        return "**Amendments:** no claim was changed after it was registered."
    seen = sum(1 for v in amended if any(j.stage.amendment.data_seen for j in v.stages[1:]))
    moved = [(registered_verdict(v).verdict, v.verdict) for v in amended if registered_verdict(v).word != v.word]
    toward = sum(1 for a, b in moved if a in RANK and b in RANK and RANK[b] > RANK[a])
    away = sum(1 for a, b in moved if a in RANK and b in RANK and RANK[b] < RANK[a])
    other = len(moved) - toward - away
    return (f"**Amendments:** {len(amended)} claims were changed after they were registered ({seen} of them after "
            f"their data had been seen); the amendments changed {len(moved)} of their verdicts: {toward} toward "
            f"'{REPRODUCED}', {away} away from it, {other} otherwise (to or from '{NOT_TESTABLE}', or the kind of "
            "failure). The headline counts the registered verdicts; each section lists its amended claims with "
            "date, reason and both verdicts.")


def index_markdown(entries: list[Entry], command: str, speed: list[str] = (), declared=None,
                   level: float = 0.95) -> str:
    """The page; `speed` is the '## Speed' section's lines (analysis.speed), placed after the sweeps."""
    entries = sorted(entries, key=lambda e: paper_order(e.sweep))
    everything = [v for e in entries for v in e.verdicts]
    marks, repeats = shared_runs(entries)
    presets = sorted({str(e.report.preset) for e in entries if e.report is not None})
    out = ["# SimSiam ablations: our numbers beside the paper's", "",
           f"Generated by `{command}` from the run directories; nothing here is written by hand. "
           "Each section links the sweep's full report (table, figures, claims, recipe differences).", "",
           "The paper's numbers are ImageNet linear top-1 (%) after 100-epoch pre-training with ResNet-50; "
           f"ours come from preset{'s' if len(presets) != 1 else ''} {', '.join(presets) or '(none)'}, "
           "so levels are not comparable: the verdicts test the paper's qualitative claims, each stated in "
           "the sweep file with a machine-checkable test.", "",
           counts_line(everything, repeats), "",
           amendments_line(everything, repeats), "",
           f"**Interval:** every verdict reads a confidence interval at the level of its sweep's sequential "
           f"design ({stats.look_level(level, stats.LOOKS[0]):.1%} for the {stats.LOOKS[0]} seeds most sweep files "
           f"declare, so that all its looks together keep {level:.0%}; Student's t at the estimate's degrees of "
           "freedom; exact binomial for a share of runs); a claim marked 'shares runs' reads a row that other claims "
           "read too (the SimSiam default is copied into several sweeps), so those verdicts are not independent.",
           "",
           test_rule(level), "",
           *[x for line in comparison_lines(entries) for x in (line, "")],
           *([seed_noise(entries), ""] if seed_noise(entries) else []),
           *([compute_line(entries), ""] if compute_line(entries) else []),
           "| paper | sweep | preset | seeds | runs | " + " | ".join(VERDICTS) + " |",
           "|:---|:---|:---|:---|---:|" + "---:|" * len(VERDICTS)]
    for e in entries:
        c = verdict_counts([registered_verdict(v) for v in e.verdicts if id(v) not in repeats])
        rep = e.report
        link = f"[{e.sweep.name}]({rep.folder}/{PAGE})" if rep is not None else e.sweep.name
        cells = [md_escape(e.sweep.figure or e.sweep.name), link,
                 str(rep.preset) if rep else "-", rep.seeds() if rep else "-",
                 str(len(rep.finished)) if rep else "0"]
        out.append("| " + " | ".join(cells + [str(c[v]) for v in VERDICTS]) + " |")
    out.append("")
    for e in entries:
        out += _section(e, marks)
    for name in dict.fromkeys(x.comparison.name for e in entries for x in e.compared):
        out += section([x for e in entries for x in e.compared if x.comparison.name == name], declared)
    out += list(speed)
    return "\n".join(out).rstrip("\n") + "\n"


def no_data_verdicts(sweep: Sweep, why: str) -> list[Verdict]:
    return [Verdict(c, NO_DATA, why) for c in sweep.claims]
