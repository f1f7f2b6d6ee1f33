"""A claim's canonical form, its registration and its amendments (imports no torch, nothing outside core.schema).

The canonical form of a claim is what decides its verdict: the test, its cases, metrics, margins, units,
the presets that can test it and, for a status claim, the rule that judges it. Its wording (`paper`,
`reading`, `reason`) and its id are not part of it. The form is a plain mapping of the claim's deciding
fields, each left out where it has its default value, so that writing a default out does not change it.

Registration: every run records the canonical forms of its sweep's claims in its meta.json when it starts
(`REGISTERED_KEY`, written by sweeps.expand). The earliest record a claim is judged on therefore shows what was
declared before its data existed. The records made before 2026-12-07 carry no forms; for them the form was
reconstructed from git, as of the commit the earliest record started at (records/registry.yaml, written by
`python -m analysis.registry`).

Amendments: a claim whose current form differs from its registered form must list `amendments:`, oldest
first, each with the form before it (`previous`). `history` gives the claim under its registered form and
after each amendment, which is what the reports judge; `check_against` says what is wrong when the chain does
not start from the registered form.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields, replace

from core.schema.claims import Amendment, Claim

REGISTERED_KEY = "claims"          # meta.json: {claim id: canonical form} of the sweep's claims at the run's start
REGISTERED_AT_KEY = "claims_at"    # meta.json: when the run recorded them (a copied run: when it was copied)
WORDING = ("paper", "reading", "reason", "id", "amendments")   # what a form leaves out
REGISTERED = "registered"


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return int(value) if value.is_integer() else value
    return value


def canonical_form(claim: Claim) -> dict:
    """The fields of `claim` that decide its verdict, defaults left out, as JSON-ready values (tuples as lists,
    whole floats as ints, infinities as strings), keys in the dataclass's order."""
    out = {}
    for f in fields(Claim):
        if f.name in WORDING:
            continue
        value = getattr(claim, f.name)
        if value == f.default:
            continue
        if f.name == "other_metric" and value == claim.metric:
            continue                     # the default of other_metric is metric
        if f.name == "other" and claim.test == "exceeds" and value == claim.cases[0]:
            continue                     # the default of other is the case itself
        out[f.name] = _plain(value)
    return out


def form_text(form: dict) -> str:
    """One line, keys sorted: what a registry and a hash compare."""
    return json.dumps(form, sort_keys=True, separators=(", ", ": "))


def form_hash(form: dict) -> str:
    return hashlib.sha256(form_text(form).encode()).hexdigest()[:12]


def registered_forms(claims: list[Claim]) -> dict[str, dict]:
    """{id: canonical form} of a sweep's claims now: what a run records in meta.json when it starts."""
    return {c.id: canonical_form(c) for c in claims}


def registered_claim(claim: Claim) -> Claim:
    """The claim as first declared: the `previous` form of its first amendment, or the claim itself."""
    return claim.amendments[0].previous if claim.amendments else claim


@dataclass(frozen=True)
class Stage:
    """The claim under one form: the registered one (amendment None) or the form after an amendment."""
    claim: Claim
    amendment: Amendment | None = None

    @property
    def label(self) -> str:
        if self.amendment is None:
            return REGISTERED
        return f"amended {self.amendment.date}"


def history(claim: Claim) -> list[Stage]:
    """The registered form, then the form after each amendment (the last is the claim as it stands), each as a
    Claim with the current wording and id, so that it can be judged."""
    if not claim.amendments:
        return [Stage(claim)]
    bare = replace(claim, amendments=())
    forms = [a.previous for a in claim.amendments[1:]] + [bare]
    stages = [Stage(replace(claim.amendments[0].previous, id=claim.id, amendments=()))]
    for amendment, after in zip(claim.amendments, forms):
        stages.append(Stage(replace(after, id=claim.id, amendments=()), amendment))
    return stages


def check_chain(claim: Claim) -> str:
    """What is wrong with a claim's amendments on their own ('' if nothing): an amendment that changes
    nothing that decides the verdict."""
    stages = history(claim)
    for before, after in zip(stages, stages[1:]):
        if canonical_form(before.claim) == canonical_form(after.claim):
            return (f"claim '{claim.id}': the amendment of {after.amendment.date} changes nothing that decides the "
                    "verdict (its 'previous' is the form that follows it); remove it")
    return ""


def check_against(claim: Claim, registered: dict, where: str) -> str:
    """'' when the claim's registered form (the first amendment's `previous`, or the claim itself) is
    `registered`; else a message naming the claim, what changed and how to record the change."""
    chain = check_chain(claim)
    if chain:
        return f"{where}: {chain}"
    first = canonical_form(registered_claim(claim))
    if first == registered:
        return ""
    changed = sorted(k for k in set(first) | set(registered) if first.get(k) != registered.get(k))
    now = ", ".join(f"{k}: {registered.get(k, '(default)')} -> {first.get(k, '(default)')}" for k in changed)
    if claim.amendments:
        return (f"{where}: claim '{claim.id}': its first amendment's 'previous' is not the registered form ({now}); "
                f"'previous' must be the form as registered: {form_text(registered)}")
    return (f"{where}: claim '{claim.id}' differs from its registered form ({now}) and lists no amendment. A change "
            f"after registration is an amendment: add 'amendments:' with date, reason, data_seen and previous: "
            f"{form_text(registered)}")


def form_fields(form: dict) -> dict:
    """A canonical form in the sweep file's own words (`case`, not `cases`, except for trend and flat; numbers
    as numbers), so that it parses as a claim or an amendment's `previous`."""
    out = {}
    for key, value in form.items():
        if value in ("inf", "-inf"):
            value = math.inf if value == "inf" else -math.inf
        if key == "cases" and form.get("test") not in ("trend", "flat"):
            key, value = "case", (value[0] if len(value) == 1 else value)
        out[key] = value
    return out


def claim_from_form(form: dict, like: Claim, cases: list[str]) -> Claim:
    """The claim `like` (its wording and id) under the deciding form `form`, validated against the sweep's
    `cases`; a ClaimError when the form is not a valid claim today."""
    from core.schema.claims import parse_claim
    raw = {"paper": like.paper, "reading": like.reading, **form_fields(form)}
    if raw.get("testable_at") is not None:
        raw["reason"] = like.reason or "(as registered)"
    return replace(parse_claim(raw, 0, cases), id=like.id)
