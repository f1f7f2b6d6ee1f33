"""Where a collapse sits: in the projector output z only, or in the backbone features too. Measured, from the
monitors every run records at its end (z_std, z_erank, backbone_std, backbone_erank; core.evaluate).

For each row with a collapsed or near-collapsed run, its z and backbone statistics are set beside those of
the sweep's reference row (the first row whose runs are all ok, normally the paper's baseline): z shrunk to
a fraction of 1/sqrt(d) while the backbone keeps at least HEAD_ONLY of the reference's feature std means the
collapse sits in the head; below that the backbone's features collapsed too.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from analysis.tables import format_value
from analysis.verdicts import REPRODUCED, Verdict
from core.record import COLLAPSED, NEAR_COLLAPSE, OK

HEAD_ONLY = 0.5          # backbone std at least half the reference row's: the backbone did not collapse
NEEDED = ("z_std", "backbone_std", "backbone_erank")


def _mean(runs: pd.DataFrame, col: str) -> float:
    vals = pd.to_numeric(runs[col], errors="coerce").dropna() if col in runs else pd.Series(dtype=float)
    return float(vals.mean()) if len(vals) else math.nan


def diagnose(runs: pd.DataFrame, cases: list[str]) -> dict[str, str]:
    """{case: one sentence} for each collapsed or near-collapsed row of `cases` (finished runs in `runs`); {} if
    none, or if the runs do not record the backbone monitors (records made before they existed)."""
    done = runs[runs["status"].isin([OK, NEAR_COLLAPSE, COLLAPSED])]
    if done.empty or any(c not in done or done[c].isna().all() for c in NEEDED):
        return {}
    rows = {c: done[done["case"] == c] for c in cases if (done["case"] == c).any()}
    ref = next((c for c, r in rows.items() if (r["status"] == OK).all()), None)
    out = {}
    for case, mine in rows.items():
        bad = mine[mine["status"].isin([NEAR_COLLAPSE, COLLAPSED])]
        if bad.empty or ref is None:
            continue
        dim = pd.to_numeric(mine["dim"], errors="coerce").dropna()
        frac = _mean(mine, "z_std") * math.sqrt(float(dim.iloc[0])) if len(dim) else math.nan
        b, b_ref = _mean(mine, "backbone_std"), _mean(rows[ref], "backbone_std")
        ratio = b / b_ref if b_ref > 0 else math.nan
        where = ("the collapse sits in the projection head: the backbone keeps its spread" if ratio >= HEAD_ONLY
                 else "the backbone's features collapsed too")
        out[case] = (
            f"'{case}' ({len(bad)} of {len(mine)} {'/'.join(sorted(set(bad['status'])))}): z std "
            f"{format_value(_mean(mine, 'z_std'), 'z_std')} = {frac:.2f} × 1/√d, z eff. rank "
            f"{format_value(_mean(mine, 'z_erank'), 'z_erank')}; backbone std {format_value(b, 'backbone_std')} "
            f"against {format_value(b_ref, 'backbone_std')} for '{ref}' ({ratio:.2f}×), backbone eff. rank "
            f"{format_value(_mean(mine, 'backbone_erank'), 'backbone_erank')} against "
            f"{format_value(_mean(rows[ref], 'backbone_erank'), 'backbone_erank')}: {where}.")
    return out


def with_site(verdict: Verdict, sites: dict[str, str]) -> Verdict:
    """`verdict` with the collapse site of each collapsed case it reads appended to its evidence, when the
    claim was not reproduced: what the data says about why."""
    cases = [c for c in (*verdict.claim.cases, verdict.claim.other) if c in sites]
    if verdict.verdict == REPRODUCED or not cases:
        return verdict
    return replace(verdict, evidence=verdict.evidence + "; where the collapse sits: "
                   + " ".join(sites[c] for c in dict.fromkeys(cases)))
