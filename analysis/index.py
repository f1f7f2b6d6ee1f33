"""The index page, <out>/README.md: every sweep of ablations/, in the paper's order, with our table
beside the paper's, the figures, preset, seeds, dates, commits and a verdict per claim of the paper."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from analysis import lr_check, scale_view, stats
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
    rungs: list = field(default_factory=list)    # scale_view.Rung: this report's own, then other presets'


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


def _verdict_lines(verdicts: list[Verdict], lr_cells: list[str] = (), marks: dict | None = None) -> list[str]:
    if not verdicts:
        return ["- (no claims in the sweep file)"]
    lr, marks = bool(lr_cells), marks or {}
    out = ["| verdict | the paper says | evidence (ours) |" + (" across base lr |" if lr else ""),
           "|:---|:---|:---|" + (":---|" if lr else "")]
    for i, v in enumerate(verdicts):
        mark = marks.get(id(v), "")
        evidence = evidence_text(v) + (f" ({mark})" if mark else "")
        cells = [verdict_cell(v), md_escape(v.claim.paper), md_escape(evidence)]
        out.append("| " + " | ".join(cells + ([md_escape(lr_cells[i])] if lr else [])) + " |")
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
    out += ["Claims:", ""] + _verdict_lines(e.verdicts, rep.lr_cells, marks) + [""]
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


def index_markdown(entries: list[Entry], command: str, speed: list[str] = (), lr_checked: bool = False,
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
           *([lr_line(entries), ""] if lr_checked and lr_line(entries) else []),
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
    out += scale_section(entries, level)
    out += list(speed)
    return "\n".join(out).rstrip("\n") + "\n"


def no_data_verdicts(sweep: Sweep, why: str) -> list[Verdict]:
    return [Verdict(c, NO_DATA, why) for c in sweep.claims]


def _rung_names(rungs: list) -> list[str]:
    """'cpu (390 steps, lr 1.5)': what a rung's runs were, read from them."""
    out = []
    for r in rungs:
        facts = ([f"{r.steps} steps"] if r.steps else []) + [f"lr {lr_check.lr_label(r.done)}"]
        out.append(f"{r.preset} ({', '.join(facts)})")
    return out


def scale_section(entries: list[Entry], level: float = 0.95) -> list[str]:
    """'## Does a verdict move with scale?': each claim judged at more than one rung, its effect at each, the
    change from the first rung to the last and its word (analysis.scale_view); then where the collapse sits.
    [] when no claim was judged at a second rung."""
    judged = [(e, scale_view.compare(e.rungs, level)) for e in entries if len(e.rungs) > 1]
    judged = [(e, rows) for e, rows in judged if rows]
    if not judged:
        return []
    names = _rung_names(judged[0][0].rungs)
    words = [w for _, rows in judged for _, w in scale_view.claim_words(rows)]
    counts = ", ".join(f"{words.count(w)} {w}" for w in scale_view.WORDS if words.count(w))
    out = ["## Does a verdict move with scale?", "",
           f"The claims run at more than one preset, each at every rung in its scale's own units (a gain: 0 is the "
           f"untrained network, 1 the baseline), with its {level:.0%} interval and verdict. 'change' is the last "
           "rung minus the first (Welch: the rungs are separate runs); its word reads that interval: "
           f"'{scale_view.TOWARD}' or '{scale_view.AWAY}' when it excludes 0 on the paper's side or the other, "
           f"'{scale_view.NO_CHANGE}' when it holds 0. A status claim is read from the z std it tests, in units of "
           f"1/√d, on a log scale. A rung is its preset's whole recipe: where the base lr differs too (each header "
           f"names its runs' steps and lr), a change is the scale's and the lr's together. Per claim: {counts}.", "",
           "| claim | number | " + " | ".join(md_escape(n) for n in names) + " | change | word |",
           "|:---|:---|" + ":---|" * len(names) + ":---|:---|"]
    for e, rows in judged:
        for r in rows:
            cells = [f"{c.text} ({c.verdict})" for c in r.cells]
            claim = f"{e.sweep.figure}: {r.claim.paper}"
            out.append("| " + " | ".join(md_escape(x) for x in [claim, r.what, *cells, r.change, f"**{r.word}**"])
                       + " |")
    out.append("")
    site_rows = [(e, s) for e in entries if len(e.rungs) > 1 for s in scale_view.sites(e.rungs, e.sweep.cases,
                                                                                      level)]
    if site_rows:
        out += ["**Where the collapse sits, per rung:** the backbone's feature std against the reference row's at the "
                "same seed (1 keeps the baseline's spread; the paper's collapsed runs, at chance in linear "
                "evaluation, sit near 0), and the output's z std × √d; the word reads the backbone ratio's change. "
                "The reference row's own z std comes first: a reference that degrades at a rung is no baseline "
                "there.",
                "", "| sweep | row (against) | " + " | ".join(f"{md_escape(n)}: backbone, z" for n in names)
                + " | change | word |", "|:---|:---|" + ":---|" * len(names) + ":---|:---|"]
        for e, s in site_rows:
            cells = [f"{b.text}; {z.text}" for b, z in zip(s.cells, s.z_cells)]
            out.append("| " + " | ".join(md_escape(x) for x in [e.sweep.name, f"{s.case} ({s.reference})", *cells,
                                                                 s.change, f"**{s.word}**"]) + " |")
        out.append("")
    return out
