"""The comparisons in words (analysis.comparisons): a column per comparison on a sweep's page, a line and a
section per comparison in the index."""
from __future__ import annotations

from analysis import changes
from analysis.comparisons import Compared, Declared, summary_kind, summary_words
from analysis.table_files import md_escape


def column_header(c: Compared) -> str:
    return f"across {c.comparison.name}"


def summary_line(compared: list[Compared]) -> str:
    """'**Across base lr:** why ... (column 'across base lr'): counts' for one comparison's column; '' without
    cells."""
    if not compared:
        return ""
    c = compared[0].comparison
    kinds = [summary_kind(cell, c.noun) for x in compared for cell in x.cells()]
    counts = ", ".join(f"{kinds.count(k)} {k}" for k in summary_words(c.noun) if kinds.count(k))
    if not counts:
        return ""
    return (f"**Across {c.name}:** {c.why} were judged again on the same rows at other {c.name}s (column "
            f"'across {c.name}'): {counts}; the rest are not testable here or have no data.")


def _too_wide(row: changes.ChangeRow) -> str:
    return f" ({row.seeds} seeds a side would tell)" if row.word == changes.TOO_WIDE and row.seeds else ""


def section(compared: list[Compared], declared: Declared) -> list[str]:
    """'## Across NAME': each claim part judged on the base tree and a sibling, its number on both sides at the
    level its verdict read it, the change and its word; then where a collapse sits. [] when no sweep has a
    sibling."""
    rows = [(x, r) for x in compared for r in x.changes(declared.equivalence)]
    if not rows:
        return []
    c = compared[0].comparison
    margins = ", ".join(f"{unit} ± {m:g}" for unit, m in declared.equivalence.items())
    words = [w for _, w in changes.claim_words([r for _, r in rows])]
    counts = ", ".join(f"{words.count(w)} {w}" for w in changes.WORDS if words.count(w))
    out = [f"## Across {md_escape(c.name)}: {c.base} against {', '.join(c.trees)}", "",
           f"{md_escape(c.why[0].upper() + c.why[1:])}: each claim judged on the base tree's group and on each "
           f"sibling tree's group that differs from it in `{c.key}`, its number on both sides with the interval and "
           f"verdict it has there. 'change' is the sibling minus the base (Welch: separate runs); its word reads "
           f"that interval: '{changes.TOWARD}' or '{changes.AWAY}' when it excludes 0 on the claim's side or the "
           f"other, '{changes.NO_CHANGE}' only when it lies inside the declared equivalence margin ({margins}), "
           f"else '{changes.TOO_WIDE}' with the seeds a side that would make it informative. Per claim: {counts}.",
           "", "| claim | number | base | sibling | change | word |", "|:---|:---|:---|:---|:---|:---|"]
    for x, r in rows:
        cells = [f"{label}: {cell.text} ({cell.verdict})" for label, cell in zip(r.sides, r.cells)]
        out.append("| " + " | ".join(md_escape(t) for t in [f"{x.sweep.figure}: {r.claim.paper}", r.what, *cells,
                                                             r.change, f"**{r.word}**{_too_wide(r)}"]) + " |")
    out.append("")
    return out + _sites(compared, declared)


def _sites(compared: list[Compared], declared: Declared) -> list[str]:
    found = [(x, s) for x in compared for s in x.sites(declared.equivalence)]
    if not found:
        return []
    out = ["**Where the collapse sits, per side:** the backbone's feature std against the reference row's at the same "
           "seed (1 keeps the baseline's spread; the paper's collapsed runs, at chance in linear evaluation, sit "
           "near 0), and the output's z std × √d; the word reads the backbone ratio's change from the base to the "
           "last sibling. The reference row's own z std comes first: a reference that degrades is no baseline there.",
           "", "| sweep | row (against) | sides: backbone, z | change | word |", "|:---|:---|:---|:---|:---|"]
    for x, s in found:
        sides = "; ".join(f"{b.text}, {z.text}" for b, z in zip(s.cells, s.z_cells))
        out.append("| " + " | ".join(md_escape(t) for t in [x.sweep.name, f"{s.case} ({s.reference})", sides,
                                                             s.change, f"**{s.word}**"]) + " |")
    return out + [""]
