"""Render an aggregated table (analysis.tables.aggregate) as table.md, table.csv and table.tex."""
from __future__ import annotations

import json
import re

import pandas as pd

from analysis.runs import UNFINISHED
from analysis.tables import LINEAR_PROTOCOLS, display_rows, linear_protocols, numeric_columns, protocols_recorded
from core.schema.checks import flatten
from core.schema.group_record import show
from core.schema.sweep_format import REPO_ROOT, Sweep

_TEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "√": r"$\surd$", "×": r"$\times$", "<": r"\textless{}", ">": r"\textgreater{}",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def _tex_number(text: str) -> str:
    """A numeric cell: escaped, with a math minus sign instead of a hyphen."""
    return re.sub(r"(?<![\w.])-(?=\d)", r"$-$", tex_escape(text))


def md_escape(text: str) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def _show_path(path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def header_lines(sweep: Sweep, runs: pd.DataFrame, group: str,
                 notes: list[str] = ()) -> list[tuple[str, str]]:
    """(label, text) pairs printed above the table: what was run, what every row shares, from which code,
    against what. `runs` are one group's (analysis.selection), named `group`."""
    done = runs[runs["status"] != UNFINISHED]
    seeds = sorted({int(s) for s in done["seed"].dropna()}) if len(done) else []
    commits = sorted({str(c) for c in done["commit"].dropna()})
    lines = [("Sweep", f"{sweep.name} ({_show_path(sweep.path)})"),
             ("Group", f"{group}: every row's runs share their config but for their case's own settings and the "
                       "seed (core/config/run_groups.py)"),
             ("Shared by every row", shared_text(runs)),
             ("Seeds", ", ".join(map(str, seeds)) or "(no finished runs)"),
             ("Commit" + ("s" if len(commits) > 1 else ""), ", ".join(commits) or "(unknown)"),
             ("Runs", f"{len(done)} finished, {len(runs) - len(done)} unfinished")]
    if sweep.paper_metric:
        lines.append(("Paper column", sweep.paper_metric))
    if "eval" in done and done["eval"].notna().any():
        protocols = sorted({str(e) for e in done["eval"].dropna()})
        text = "; ".join(_compact_json(p) for p in protocols)
        lines.append(("Evaluation" + (" (differs between runs!)" if len(protocols) > 1 else ""), text))
    if protocols_recorded(done):
        found = linear_protocols(done)
        text = "; ".join(f"{p}: {LINEAR_PROTOCOLS.get(p, p)}" for p in found)
        if len(found) > 1:
            text += ". The linear acc column mixes them: the linear protocol column says which each row used"
        lines.append(("Linear protocol" + (" (differs between runs!)" if len(found) > 1 else ""), text or "none"))
    if sweep.notes:
        lines.append(("Sweep notes", " ".join(sweep.notes.split())))
    lines.extend(("Note", n) for n in notes)
    return lines


# The settings a reader compares reports by, as the header's "Shared by every row" line names them
SHARED = (("data.dataset", "data set {}"), ("data.train_subset", "{} training images"),
          ("data.image_size", "{} px"), ("optim.epochs", "{} epochs"), ("optim.batch_size", "batch {}"),
          ("optim.base_lr", "base lr {}"))


def shared_text(runs: pd.DataFrame) -> str:
    """'preset cpu; data set fashion_mnist; 10000 training images; 28 px; 10 epochs; batch 256; base lr 1.5;
    numerics v2 (core/schema/numerics.py)': a setting that a case changes reads 'per case' with its values."""
    configs = [flatten(c, "config.yaml") for c in runs["config_yaml"] if isinstance(c, dict)] if "config_yaml" in runs \
        else []
    presets = sorted({str(p) for p in runs["preset"].dropna()})
    out = [f"preset {', '.join(presets) or '(none recorded)'}"]
    for key, text in SHARED:
        values = sorted({show(c[key]) for c in configs if key in c}, key=_natural)
        if key == "data.train_subset":
            values = ["all" if v == "0" else v for v in values]
        if len(values) == 1:
            out.append(text.format(values[0]).replace("1 epochs", "1 epoch"))
        elif values:
            out.append(text.format("per case: " + ", ".join(values)))
    versions = sorted({int(v) for v in runs["numerics"].dropna()}) if "numerics" in runs else []
    if versions:
        out.append("numerics " + ", ".join(f"v{v}" for v in versions) + " (core/schema/numerics.py)")
    return "; ".join(out)


def _natural(text: str):
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def _compact_json(text: str) -> str:
    try:
        d = json.loads(text)
    except ValueError:
        return text
    if isinstance(d, dict):
        return ", ".join(f"{k}={v}" for k, v in d.items())
    return text


def title_line(sweep: Sweep) -> str:
    parts = [p for p in (sweep.figure, sweep.title) if p]
    return ": ".join(parts) if parts else sweep.name


def to_markdown(table: pd.DataFrame, sweep: Sweep, header: list[tuple[str, str]]) -> str:
    head, cells = display_rows(table, sweep)
    numeric = numeric_columns(sweep)
    out = [f"# {md_escape(title_line(sweep))}", ""]
    out += [f"- **{md_escape(k)}:** {md_escape(v)}" for k, v in header]
    out += ["", "| " + " | ".join(md_escape(h) for h in head) + " |",
            "|" + "|".join("---:" if h in numeric else ":---" for h in head) + "|"]
    out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in cells]
    return "\n".join(out) + "\n"


def to_csv(table: pd.DataFrame) -> str:
    """Machine-readable: numeric <metric>_mean/_std/_n columns, blanks for missing values."""
    return table.drop(columns=["grid_label"], errors="ignore").to_csv(index=False, float_format="%.6g")


def to_latex(table: pd.DataFrame, sweep: Sweep, header: list[tuple[str, str]]) -> str:
    """A booktabs tabular, ready for \\input{} (needs \\usepackage{booktabs})."""
    head, cells = display_rows(table, sweep)
    numeric = [h in numeric_columns(sweep) for h in head]
    spec = "".join("r" if num else "l" for num in numeric)
    out = [f"% {title_line(sweep)}".replace("\n", " ")]
    out += [f"% {k}: {v}".replace("\n", " ") for k, v in header]
    out += [f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
            " & ".join(tex_escape(h) for h in head) + r" \\", r"\midrule"]
    for row in cells:
        out.append(" & ".join(_tex_number(c) if num else tex_escape(c) for c, num in zip(row, numeric)) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out) + "\n"
