"""A sweep's report page, <out>/<sweep>/<group>/README.md: the table beside the paper's, the figures, the
verdict on each of the paper's claims, and how the runs' recipe differs from the paper's."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import stats
from analysis.recipe import Setting, differing_labels, recipe_markdown
from analysis.runs import UNFINISHED
from core.sweepfile import Sweep
from analysis.table_files import md_escape, title_line, to_markdown
from analysis.verdicts import Verdict

PAGE = "README.md"


@dataclass
class SweepReport:
    """Everything written for one sweep, kept for the index page."""
    sweep: Sweep
    preset: str | None
    table: pd.DataFrame                 # aggregate() of the sweep's metrics
    runs: pd.DataFrame                  # the runs reported (one group, duplicates resolved)
    header: list[tuple[str, str]]
    verdicts: list[Verdict]
    settings: list[Setting]
    evaluation: str
    recipe: dict
    figures: list[str] = field(default_factory=list)   # file names next to the page
    paths: list[Path] = field(default_factory=list)
    lr_cells: list[str] = field(default_factory=list)  # per verdict: the lr check's summary (analysis.lr_check)
    collapse_site: list[str] = field(default_factory=list)  # analysis.collapse_site.diagnose
    group: str = ""                     # the group's name (core.run_groups.name_groups), e.g. 'cpu'
    folder: str = ""                    # where the page is, relative to the reports root: '<sweep>/<group slug>'

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


TEST_RULE = (f"Each claim is data in the sweep file (`claims:`): the paper's sentence, a test, a margin fixed from "
             f"the sentence before the runs, and why that is a fair reading. Every number is a mean over seeds with "
             f"the interval ±{stats.Z:g} standard errors (a difference paired by seed where both rows have the same "
             f"seeds): **reproduced** when every interval lies inside what the claim needs, **not reproduced** when "
             f"one lies outside it, **inconclusive** when one straddles a bound or a row has fewer than "
             f"{stats.MIN_SEEDS} seeds. A tie is never inside a strict bound.")


def verdict_table(verdicts: list[Verdict], lr_cells: list[str] = ()) -> list[str]:
    if not verdicts:
        return ["(this sweep file has no `claims:`)"]
    lr = bool(lr_cells)
    out = ["| verdict | the paper says | test, and why it reads the paper fairly | evidence (ours) |"
           + (" across base lr |" if lr else ""), "|:---|:---|:---|:---|" + (":---|" if lr else "")]
    for i, v in enumerate(verdicts):
        cells = [f"**{v.verdict}**", md_escape(v.claim.paper), f"`{v.claim.test}`: {md_escape(v.claim.reading)}",
                 md_escape(v.evidence)] + ([md_escape(lr_cells[i])] if lr else [])
        out.append("| " + " | ".join(cells) + " |")
    return out


def page_markdown(rep: SweepReport) -> str:
    out = [to_markdown(rep.table, rep.sweep, rep.header).rstrip("\n"), ""]
    missing = rep.missing()
    if missing:
        out += ["**Missing (partial sweep):** " + "; ".join(missing), ""]
    for name in rep.figures:
        out += [f"![{md_escape(title_line(rep.sweep))}: {name}]({name})", ""]
    out += ["## The paper's claims", "", TEST_RULE, ""]
    out += verdict_table(rep.verdicts, rep.lr_cells) + [""]
    if rep.collapse_site:
        out += ["## Where the collapse sits", "",
                "Measured at the end of each run: the per-channel std and effective rank of the l2-normalized "
                "projector output z (training batches) and backbone features (the test images, eval-mode BN).", ""]
        out += [f"- {md_escape(line)}" for line in rep.collapse_site] + [""]
    out += ["## Recipe differences", ""]
    out += recipe_markdown(rep.settings, rep.recipe, rep.evaluation, rep.preset) + [""]
    out += ["## Files", "",
            "`table.md`, `table.csv` (numbers: `<metric>_mean`, `_std`, `_n`), `table.tex` (booktabs tabular "
            "for `\\input{}`; needs `\\usepackage{booktabs}`)" + "".join(f", `{f}`" for f in rep.figures) + "."]
    return "\n".join(out) + "\n"


def recipe_summary(rep: SweepReport) -> str:
    labels = differing_labels(rep.settings)
    return ("Differs from the paper's recipe in: " + ", ".join(labels)) if labels else "Same recipe as the paper's"
