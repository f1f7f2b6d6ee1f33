"""A sweep's report page, <out>/<sweep>/README.md: the table beside the paper's, the figures, the
verdict on each of the paper's claims, and how the runs' recipe differs from the paper's."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.recipe import Setting, differing_labels, recipe_markdown
from analysis.runs import UNFINISHED
from analysis.sweepfile import Sweep
from analysis.table_files import md_escape, title_line, to_markdown
from analysis.verdicts import Verdict

PAGE = "README.md"


@dataclass
class SweepReport:
    """Everything written for one sweep, kept for the index page."""
    sweep: Sweep
    preset: str | None
    table: pd.DataFrame                 # aggregate() of the sweep's metrics
    runs: pd.DataFrame                  # the runs reported (one preset, duplicates resolved)
    header: list[tuple[str, str]]
    verdicts: list[Verdict]
    settings: list[Setting]
    evaluation: str
    recipe: dict
    figures: list[str] = field(default_factory=list)   # file names next to the page
    paths: list[Path] = field(default_factory=list)

    @property
    def finished(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != UNFINISHED]

    def seeds(self) -> str:
        return ", ".join(str(s) for s in sorted({int(s) for s in self.finished["seed"].dropna()})) or "none"

    def commits(self) -> str:
        return ", ".join(sorted({str(c) for c in self.finished["commit"].dropna()})) or "unknown"

    def dates(self) -> str:
        days = sorted({t.strftime("%Y-%m-%d") for t in self.finished["start_time"].dropna()})
        return "unknown" if not days else days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"

    def missing(self) -> list[str]:
        """What a partial sweep still lacks: rows without a finished run, runs still going."""
        out = []
        for _, r in self.table.iterrows():
            row = f"'{r['case']}'" + (f" ({r['grid_label']})" if r.get("grid_label") else "")
            if int(r["n"]) == 0:
                out.append(f"{row}: no finished run" + (f" ({int(r['running'])} unfinished)" if r["running"] else ""))
            elif r["running"]:
                out.append(f"{row}: {int(r['running'])} more run(s) unfinished")
        return out


def verdict_table(verdicts: list[Verdict]) -> list[str]:
    if not verdicts:
        return ["(this sweep file has no `claims:`)"]
    out = ["| verdict | the paper says | test | evidence (ours) |", "|:---|:---|:---|:---|"]
    for v in verdicts:
        out.append(f"| **{v.verdict}** | {md_escape(v.claim.paper)} | {v.claim.test} | {md_escape(v.evidence)} |")
    return out


def page_markdown(rep: SweepReport) -> str:
    out = [to_markdown(rep.table, rep.sweep, rep.header).rstrip("\n"), ""]
    missing = rep.missing()
    if missing:
        out += ["**Missing (partial sweep):** " + "; ".join(missing), ""]
    for name in rep.figures:
        out += [f"![{md_escape(title_line(rep.sweep))}: {name}]({name})", ""]
    out += ["## The paper's claims", "",
            "Each claim is data in the sweep file (`claims:`), tested on the table above "
            "(means over seeds; with several seeds a difference must exceed twice its standard error).", ""]
    out += verdict_table(rep.verdicts) + [""]
    out += ["## Recipe differences", ""]
    out += recipe_markdown(rep.settings, rep.recipe, rep.evaluation, rep.preset) + [""]
    out += ["## Files", "",
            "`table.md`, `table.csv` (numbers: `<metric>_mean`, `_std`, `_n`), `table.tex` (booktabs tabular "
            "for `\\input{}`; needs `\\usepackage{booktabs}`)" + "".join(f", `{f}`" for f in rep.figures) + "."]
    return "\n".join(out) + "\n"


def recipe_summary(rep: SweepReport) -> str:
    labels = differing_labels(rep.settings)
    return ("Differs from the paper's recipe in: " + ", ".join(labels)) if labels else "Same recipe as the paper's"
