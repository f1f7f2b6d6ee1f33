"""Each claim judged under its registered form and under every amendment (pure functions).

A report's verdict of a claim is its verdict as the claim stands now (what --until-decided, the lr check
and the scale view read). Where the claim was amended after registration, the verdict also carries the
verdict under the registered form and after each amendment (`Verdict.stages`), so that the page and the index
show them side by side, and the index's headline counts the registered ones. A claim whose form differs from
its registration without an amendment (a sweep file edited after its runs) is judged under both too, the
change marked as unrecorded; tests/analysis/test_registry.py keeps the committed sweep files free of those.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from analysis import registry
from analysis.facts import Facts
from analysis.verdicts import Verdict, judge
from core.schema.claim_forms import Stage, canonical_form, claim_from_form, history, registered_claim
from core.schema.claims import Amendment, Claim, ClaimError
from core.schema.sweep_format import ABLATIONS_DIR, Sweep

UNRECORDED = "changed after registration without an amendment"


@dataclass(frozen=True)
class Judged:
    """One form of a claim and its verdict: the registered form, or the form after an amendment."""
    stage: Stage
    verdict: Verdict

    @property
    def label(self) -> str:
        a = self.stage.amendment
        return "changed, no amendment recorded" if a is not None and not a.date else self.stage.label


def stages(claim: Claim, registered_form: dict | None, cases: list[str]) -> list[Stage]:
    """The forms to judge: the claim's history (core.schema.claim_forms.history), preceded by its registered
    form where the history does not start there (an unrecorded change)."""
    chain = history(claim)
    if registered_form is None or canonical_form(registered_claim(claim)) == registered_form:
        return chain
    try:
        first = claim_from_form(registered_form, claim, cases)
    except ClaimError:
        return chain                          # a registered form today's parser refuses: nothing to judge it by
    unrecorded = Amendment("", UNRECORDED, True, first)
    return [Stage(first)] + [replace(chain[0], amendment=unrecorded)] + chain[1:]


def judge_stages(claim: Claim, facts: Facts, registered_form: dict | None, cases: list[str]) -> Verdict:
    """The claim's verdict as it stands, with `stages` holding every form's verdict when it has more than one."""
    forms = stages(claim, registered_form, cases)
    judged = [Judged(s, judge(s.claim, facts)) for s in forms]
    now = judged[-1].verdict
    now = replace(now, claim=claim)
    return replace(now, stages=tuple(judged)) if len(judged) > 1 else now


def registered_forms_of(sweep: Sweep, runs_dir) -> dict[str, dict]:
    """{claim id: registered form}: for a sweep file of ablations/, the committed registry and every run
    record (records/ and `runs_dir`), the earliest of them; for any other sweep file, the runs of `runs_dir`."""
    ours = sweep.path.resolve().parent == ABLATIONS_DIR.resolve()
    trees = ([*registry.record_trees()] if ours else []) + [runs_dir]
    runs = registry.sweep_runs(sweep.name, list(dict.fromkeys(Path(t).resolve() for t in trees if t is not None)))
    regs = registry.registrations(sweep, runs, registry.load_registry() if ours else {})
    return {cid: r.form for cid, r in regs.items()}


def judge_all_registered(sweep: Sweep, facts: Facts, forms: dict[str, dict]) -> list[Verdict]:
    return [judge_stages(c, facts, forms.get(c.id), sweep.cases) for c in sweep.claims]


def registered_verdict(v: Verdict) -> Verdict:
    """The verdict under the registered form (the claim's own when it was never amended)."""
    return v.stages[0].verdict if v.stages else v
