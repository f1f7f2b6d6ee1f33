"""Where a collapse sits: in the projector output z only, or in the backbone features too. Measured, from the
monitors every run records at its end (z_std, z_erank, backbone_std, backbone_erank; core.eval.frozen_backbone).

For each row with a collapsed or near-collapsed run, each such run's backbone feature std is set beside that
of the sweep's reference row (the first row whose runs are all ok, normally the paper's baseline) at the same
seed (the same initial network and data order), or beside the reference's mean when that seed is missing. A
run whose backbone keeps at least HEAD_ONLY of the reference's std collapsed in the head only; below that its
backbone's features collapsed too. Seeds can differ, so the sentence counts them.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from analysis.tables import format_value
from analysis.verdicts import REPRODUCED, Verdict
from core.schema.record import COLLAPSED, NEAR_COLLAPSE, OK

HEAD_ONLY = 0.5          # backbone std at least half the reference run's: the backbone did not collapse
NEEDED = ("z_std", "backbone_std", "backbone_erank")


def _mean(runs: pd.DataFrame, col: str) -> float:
    vals = pd.to_numeric(runs[col], errors="coerce").dropna() if col in runs else pd.Series(dtype=float)
    return float(vals.mean()) if len(vals) else math.nan


def _ratios(bad: pd.DataFrame, ref: pd.DataFrame) -> list[tuple[int, float]]:
    """(seed, backbone std / the reference's at that seed, else its mean) per collapsed run, by seed."""
    by_seed = {int(s): float(v) for s, v in zip(ref["seed"], ref["backbone_std"]) if not pd.isna(v)}
    fallback = _mean(ref, "backbone_std")
    out = []
    for s, v in sorted(zip(bad["seed"], bad["backbone_std"]), key=lambda sv: int(sv[0])):
        base = by_seed.get(int(s), fallback)
        out.append((int(s), float(v) / base if base > 0 and not pd.isna(v) else math.nan))
    return out


def backbone_ratios(runs: pd.DataFrame, case: str, ref: str) -> list[float]:
    """Each finished run of `case`: its backbone std / that of `ref`'s run at the same seed (else `ref`'s mean),
    by seed; [] without runs of both or without the backbone monitor."""
    done = runs[runs["status"].isin([OK, NEAR_COLLAPSE, COLLAPSED])] if "status" in runs else runs
    if "backbone_std" not in done:
        return []
    mine, base = done[done["case"] == case], done[done["case"] == ref]
    if mine.empty or base.empty:
        return []
    return [r for _, r in _ratios(mine, base) if not math.isnan(r)]


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
        frac = _mean(bad, "z_std") * math.sqrt(float(dim.iloc[0])) if len(dim) else math.nan
        ratios = _ratios(bad, rows[ref])
        head = sum(r >= HEAD_ONLY for _, r in ratios)
        both = len(ratios) - head
        parts = []
        if head:
            parts.append(f"in {head} of {len(ratios)} the collapse sits in the projection head (the backbone "
                         "keeps its spread)")
        if both:
            parts.append(f"in {both} of {len(ratios)} the backbone's features collapsed too")
        out[case] = (
            f"'{case}' ({len(bad)} of {len(mine)} {'/'.join(sorted(set(bad['status'])))}): z std "
            f"{format_value(_mean(bad, 'z_std'), 'z_std')} = {frac:.2f} × 1/√d, z eff. rank "
            f"{format_value(_mean(bad, 'z_erank'), 'z_erank')}; backbone std against '{ref}' at the same seed: "
            + ", ".join(f"s{s} {r:.2f}×" for s, r in ratios) + f" (backbone eff. rank "
            f"{format_value(_mean(bad, 'backbone_erank'), 'backbone_erank')} against "
            f"{format_value(_mean(rows[ref], 'backbone_erank'), 'backbone_erank')}): " + "; ".join(parts) + ".")
    return out


def with_site(verdict: Verdict, sites: dict[str, str]) -> Verdict:
    """`verdict` with the collapse site of each collapsed case it reads appended to its evidence, when the
    claim was not reproduced: what the data says about why."""
    cases = [c for c in (*verdict.claim.cases, verdict.claim.other) if c in sites]
    if verdict.verdict == REPRODUCED or not cases:
        return verdict
    return replace(verdict, evidence=verdict.evidence + "; where the collapse sits: "
                   + " ".join(sites[c] for c in dict.fromkeys(cases)))
