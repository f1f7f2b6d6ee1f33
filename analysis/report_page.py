"""A sweep's report page, <out>/<sweep>/<group>/README.md: the table beside the paper's, the figures, the
verdict on each of the paper's claims, and how the runs' recipe differs from the paper's."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import stats
from analysis.recipe import Setting, differing_labels, recipe_markdown
from analysis.runs import UNFINISHED
from core.schema.sweep_format import Sweep
from analysis.table_files import md_escape, title_line, to_markdown
from analysis.verdicts import INCONCLUSIVE, THRESHOLD_SENSITIVE, Verdict
from core.schema.claim_forms import canonical_form, form_text

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
    columns: list = field(default_factory=list)  # [(header, a cell per verdict)]: analysis.comparisons
    collapse_site: list[str] = field(default_factory=list)  # analysis.collapse_site.diagnose
    level: float = stats.LEVEL                          # the verdicts' interval level
    group: str = ""                     # the group's name (core.config.run_groups.name_groups), e.g. 'cpu'
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


def test_rule(level: float = stats.LEVEL, declared: int = stats.LOOKS[0]) -> str:
    """How a verdict is made, at the interval's `level` for a sweep file that declares `declared` seeds: the
    paragraph every page and the index carry."""
    return (f"Each claim is data in the sweep file (`claims:`): the paper's sentence, a test, a margin fixed from the "
            f"sentence, and why that is a fair reading. The test is registered by the first run of its rows (the "
            f"record holds it); a later change is an amendment, shown beside the registered verdict. Where the "
            f"paper's margin is in ImageNet points, the claim is read in the scale's own units: 0 is the untrained "
            f"network at the same preset (the `random_network` sweep, the floor), 1 the claim's baseline row. "
            f"Every number is a mean over seeds with its confidence interval from Student's t (n−1 degrees of "
            f"freedom for a difference paired by seed, Welch–Satterthwaite otherwise), "
            f"{looks_sentence(level, declared)} A status claim (\"collapses\", \"trains\") must hold as a rule. By "
            f"the spread rule (a status read on z std) the typical run ends on the claimed side of the status's "
            f"line: the interval of the mean over runs of log(z std × √d) lies below log 0.1 (collapsed) or above "
            f"log 0.5 (ok); by the share rule (any other status) the exact one-sided lower bound of the share of "
            f"runs that end so, at the same level, lies above one half. Its verdict with the line drawn elsewhere "
            f"(z std below 0.05 to 0.5 × 1/√d) and under the loss test is shown, and a claim it changes is "
            f"**{THRESHOLD_SENSITIVE}**. A \"works\" claim also needs the row above the untrained network by its "
            f"stated margin. **reproduced** when every interval lies inside what the claim needs; **not "
            f"reproduced** when one lies outside it: **(reversed)** on the far side of the claim's reference (the "
            f"paper's order turned round; for a test with a factor, the plain order of the two rows), **(weaker "
            f"than the paper)** in the paper's direction but short of its size; **inconclusive** when one "
            f"straddles a bound or a row has fewer than {stats.MIN_SEEDS} seeds, saying which way its estimate "
            f"leans and the seeds a decision would need at the observed spread (with one seed a row, which has no "
            f"spread, the seeds a first estimate of it needs). A tie is never inside a strict bound. In the tables, "
            f"± is the standard deviation over seeds; the claims show the interval.")


def looks_sentence(level: float, declared: int) -> str:
    """The level every look of a claim is judged at (analysis.stats.look_level), and why."""
    looks = stats.looks_from(declared)
    at = f"{stats.look_level(level, declared):.1%}".replace(".0%", "%")
    if len(looks) == 1:
        return f"at {at}: the sweep file's {declared} seeds are the only look (a fixed design)."
    return (f"at {at}: a claim can be looked at again with more seeds (`--until-decided`: at n = "
            f"{', '.join(map(str, looks))} from the sweep file's {declared}), so every look, the first included, is "
            f"judged at the Bonferroni level over the {len(looks)} looks, and over all of them the chance of a "
            f"false call stays under {1 - level:.0%}.")


def verdict_table(verdicts: list[Verdict], columns: list = ()) -> list[str]:
    """The claims as a table: verdict, sentence, test, evidence, and a column per comparison."""
    if not verdicts:
        return ["(this sweep file has no `claims:`)"]
    out = ["| verdict | the paper says | test, and why it reads the paper fairly | evidence (ours) |"
           + "".join(f" {md_escape(h)} |" for h, _ in columns), "|:---|:---|:---|:---|" + ":---|" * len(columns)]
    for i, v in enumerate(verdicts):
        cells = [verdict_cell(v), md_escape(v.claim.paper), f"`{v.claim.test}`: {md_escape(v.claim.reading)}",
                 md_escape(evidence_text(v))] + [md_escape(c[i]) for _, c in columns]
        out.append("| " + " | ".join(cells) + " |")
    return out


def verdict_cell(v: Verdict) -> str:
    """The verdict as a table cell: the word, or for an amended claim the registered verdict first, then the
    verdict after each amendment."""
    if not v.stages:
        return f"**{v.word}**"
    first, *later = v.stages
    return "; ".join([f"registered: **{first.verdict.word}**"]
                     + [f"{md_escape(j.label)}: **{j.verdict.word}**" for j in later])


def amendment_lines(verdicts: list[Verdict]) -> list[str]:
    """One bullet per amended claim: its registered test and verdict, then each amendment with its date, commit,
    whether the data had been seen, its reason, the form it made and the verdict under it."""
    out = []
    for v in verdicts:
        if not v.stages:
            continue
        first, *later = v.stages
        parts = [f"registered `{form_text(canonical_form(first.stage.claim))}`: **{first.verdict.word}**"]
        for j in later:
            a = j.stage.amendment
            when = ((f"commit {a.commit}, " if a.commit else "")
                    + ("after the data had been seen" if a.data_seen else "before any data")) if a.date else ""
            parts.append(f"{j.label}{f' ({when})' if when else ''}: {a.reason}; "
                         f"now `{form_text(canonical_form(j.stage.claim))}`: **{j.verdict.word}**")
        out.append(f"- `{v.claim.id}` ({md_escape(v.claim.paper)}): " + md_escape(" → ".join(parts)))
    return out


def evidence_text(v: Verdict) -> str:
    """The evidence, with the seeds an undecided claim would need and the flags."""
    out = v.evidence
    if v.verdict == INCONCLUSIVE and v.undecidable:
        return out + f"; its declared seeds could not decide it whatever the runs did: {v.undecidable}"
    if v.verdict == INCONCLUSIVE and v.lean:
        out += f"; the estimate leans toward '{v.lean}'"
    if v.verdict == INCONCLUSIVE:
        out += f"; {undecided_text(v)}"
    return out


def undecided_text(v: Verdict) -> str:
    """What an inconclusive claim would need: the seeds a decision would need at the observed spread, or, with
    one seed a row, the seeds a first estimate of the spread needs (a decision is never extrapolated from one)."""
    if v.without_spread:
        return (f"one seed a row has no spread: a first estimate of it needs 2 seeds a row, a verdict at least "
                f"{stats.MIN_SEEDS}")
    if v.seeds_needed:
        return f"a decision would need about {v.seeds_needed} seeds a row at the observed spread"
    return f"no decision in sight at the observed spread (over {stats.MOST_SEEDS} seeds a row)"


def page_markdown(rep: SweepReport) -> str:
    out = [to_markdown(rep.table, rep.sweep, rep.header).rstrip("\n"), ""]
    missing = rep.missing()
    if missing:
        out += ["**Missing (partial sweep):** " + "; ".join(missing), ""]
    for name in rep.figures:
        out += [f"![{md_escape(title_line(rep.sweep))}: {name}]({name})", ""]
    out += ["## The paper's claims", "", test_rule(rep.level, len(rep.sweep.seeds)), ""]
    out += verdict_table(rep.verdicts, rep.columns) + [""]
    amended = amendment_lines(rep.verdicts)
    if amended:
        out += ["### Amended claims", "",
                "These claims were changed after they were registered (the test a claim's first run recorded). "
                "Each is judged under its registered test and after each amendment; the index counts the "
                "registered verdict. The evidence column above is the claim as it stands now.", ""] + amended + [""]
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
