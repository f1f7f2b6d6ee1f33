"""The paper's qualitative claims as data: the `claims:` list of a sweep file, parsed and validated.

Each claim is a mapping with the paper's statement, one test from a small vocabulary, the reason the
test and its margin are a fair reading of the paper's sentence, and optionally the presets that can test it:

    - id: loss-minimum            # stable within the file; the registry and amendments name the claim by it
      paper: "Without stop-gradient the loss reaches its minimum -1 (Sec. 4.1, Fig. 2 left)"
      test: below                 # below | above | between | status | exceeds | trend | flat
      case: "w/o stop-grad"
      metric: loss
      value: -0.99
      reading: "minimum -1: within 0.01 of it"   # required: why this test and margin read the sentence fairly
      testable_at: [imagenet]     # optional; other presets give "not testable at this scale"
      reason: "why this preset cannot test it"   # required with testable_at

A claim's test is registered before its data exists (core.schema.claim_forms): the fields that decide its verdict
(its canonical form; not `paper`, `reading` or `reason`) are written into every run's record when the run starts.
A later change of them is an amendment, listed under the claim as data:

      amendments:                 # oldest first; `previous` is the whole deciding form before the change
        - date: 2026-12-03
          reason: "why the test changed"
          data_seen: true         # whether runs it is judged on had been looked at
          commit: 12bd44e         # optional: the commit that made the change
          previous: {test: exceeds, case: "w/ stop-grad", other: "w/o stop-grad", metric: knn_acc, margin: 30}

What each test
asks of the data (analysis.verdicts judges it, with "inconclusive" when the data cannot decide):
    below / above   case(s) metric < value / > value; `relative_to: inv_sqrt_d | chance` scales the
                    value by 1/sqrt(d) of the row or by the chance accuracy (%) of the data set
    between         low < metric < high (same `relative_to`)
    status          the case(s) end with a status in `equals` (one or a list) as a rule, by `rule`:
                    share (the default, the rule before 2026-12-07): the share of runs that do is above one
                    half at the verdict's confidence (exact binomial); it needs 5 or more runs a row.
                    spread (for `collapsed` or `ok`): the typical run ends on the claimed side of the status's
                    line, read from how far each run ends from it: a t bound on the mean over runs of
                    log(z std x sqrt(d)) against log(eval.collapse_frac) (collapsed) or
                    log(eval.near_collapse_frac) (ok)
    exceeds         margin < case's metric - factor x other's other_metric [< at_most]: one-sided, or
                    two-sided with `at_most` ("only 2 points below" is below, by about that much)
                    (`other` defaults to `case`, `other_metric` to `metric`, factor 1, margin 0)
    trend           every step between consecutive `cases` (default: all, in file order) goes in
                    `direction` (increasing | decreasing)
    flat            every pair of `cases` differs by less than `tolerance`

The scale's own units, `relative_to: gain` with `baseline: CASE` (below, above, between, exceeds, flat): an
accuracy is read as the fraction of the baseline's gain over the floor, (x - floor) / (baseline - floor),
and a difference as (a - b) / (baseline - floor). The floor is the untrained network at the same preset
(the `random_network` sweep, FLOOR_SWEEP), so 0 is "no better than untrained" and 1 is "as good as the
baseline" at any scale, where a margin in ImageNet points is not. The evidence shows the points too.

A "works / trains" status claim also names `floor_margin` (a gain fraction), `baseline` and optionally
`metric` (default linear_acc): each case must keep more than that fraction of the baseline's gain over the
floor (the baseline itself: beat the floor), so an untrained row never passes it.

`reference` (optional, in the test's units) is the level a "not reproduced" is read against: an estimate
on the far side of it is "reversed", one between it and the bound "weaker than the paper". Defaults: 0 for
exceeds and trend (no difference); with `relative_to: gain`, 1 for below (the baseline) and 0 for above
(the floor).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from core.schema.checks import suggest
from core.schema.record import RESULT_METRICS, STATUSES

DERIVED_METRICS = ("loss_jitter",)      # computed from metrics.jsonl by the analysis (analysis/curve_metrics.py)
TESTS = ("below", "above", "between", "status", "exceeds", "trend", "flat")
RELATIVE = ("inv_sqrt_d", "chance", "gain")
GAIN = "gain"
FLOOR_SWEEP = "random_network"      # the untrained network of each preset: the floor of `relative_to: gain`
COMMON = ("id", "paper", "test", "reading", "testable_at", "reason", "amendments")
STATUS_RULES = ("share", "spread")   # status claims: the share of runs (exact binomial), or their distance to the line
SPREAD_STATUSES = ("collapsed", "ok")   # the statuses read on the z std scale, which `rule: spread` can judge
AMENDMENT_FIELDS = ("date", "reason", "data_seen", "previous", "commit")
FIELDS = {   # test -> (required fields, optional fields)
    "below": (("case", "metric", "value"), ("relative_to", "baseline", "reference")),
    "above": (("case", "metric", "value"), ("relative_to", "baseline", "reference")),
    "between": (("case", "metric", "low", "high"), ("relative_to", "baseline")),
    "status": (("case", "equals"), ("floor_margin", "baseline", "metric", "rule")),
    "exceeds": (("case", "metric"), ("other", "other_metric", "margin", "at_most", "factor", "relative_to",
                                     "baseline", "reference")),
    "trend": (("metric", "direction"), ("cases",)),
    "flat": (("metric", "tolerance"), ("cases", "relative_to", "baseline")),
}


class ClaimError(ValueError):
    """A malformed claim; the message names the claim (1-based) and the field."""


@dataclass(frozen=True)
class Amendment:
    """A change of a claim's deciding form after it was registered: when, why, whether the data had been seen,
    and the whole form before the change (a Claim with the current wording)."""
    date: str                           # ISO date, YYYY-MM-DD
    reason: str
    data_seen: bool
    previous: "Claim"
    commit: str = ""


@dataclass(frozen=True)
class Claim:
    paper: str                          # the paper's statement, with its section
    test: str                           # one of TESTS
    cases: tuple[str, ...]              # rows the test reads (case, or cases for trend/flat)
    metric: str = ""
    value: float | None = None          # below / above
    low: float | None = None            # between
    high: float | None = None
    relative_to: str = ""               # "", inv_sqrt_d, chance
    equals: tuple[str, ...] = ()        # status
    other: str = ""                     # exceeds: the row compared against
    other_metric: str = ""
    margin: float = 0.0
    at_most: float = math.inf           # exceeds: the difference's upper end (two-sided tests)
    factor: float = 1.0
    direction: str = ""                 # trend
    tolerance: float = 0.0              # trend, flat
    reading: str = ""                   # why the test and its margin are a fair reading of `paper`
    testable_at: tuple[str, ...] = ()   # presets that can test it (empty: every preset)
    reason: str = ""
    baseline: str = ""                  # relative_to gain / floor_margin: the row whose gain over the floor is 1
    floor_margin: float | None = None   # status: each case keeps more than this fraction of the baseline's gain
    reference: float | None = None      # where "reversed" starts (see the module docstring); None: the default
    rule: str = ""                      # status: "share" or "spread" (STATUS_RULES); "" for other tests
    id: str = ""                        # stable name within the sweep file (default: the claim's position, "3")
    amendments: tuple[Amendment, ...] = ()   # oldest first

    def metrics(self) -> set[str]:
        return {m for m in (self.metric, self.other_metric) if m}

    @property
    def in_gain(self) -> bool:
        return self.relative_to == GAIN

    def reference_level(self) -> float | None:
        """The level that separates "reversed" from "weaker than the paper", or None where none applies."""
        if self.reference is not None:
            return self.reference
        if self.test in ("exceeds", "trend"):
            return 0.0
        if self.in_gain and self.test in ("below", "above"):
            return 1.0 if self.test == "below" else 0.0
        return None


def _number(raw: dict, key: str, where: str, default=None) -> float | None:
    v = raw.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ClaimError(f"{where}: '{key}' must be a number, got {v!r}")
    return float(v)


def _names(v, where: str, key: str) -> tuple[str, ...]:
    items = v if isinstance(v, list) else [v]
    if not items or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in items):
        raise ClaimError(f"{where}: '{key}' must be a name or a list of names, got {v!r}")
    return tuple(str(x) for x in items)


def _scale_fields(raw: dict, where: str, test: str, relative: str, cases: list[str]) -> tuple[str, float | None]:
    """`baseline` and `floor_margin`: the scale's own units (relative_to gain) and a works claim's floor."""
    baseline = str(raw["baseline"]) if raw.get("baseline") is not None else ""
    floor_margin = _number(raw, "floor_margin", where)
    if (relative == GAIN or floor_margin is not None) and not baseline:
        raise ClaimError(f"{where}: 'relative_to: gain' and 'floor_margin' need a 'baseline' case (whose gain over "
                         "the untrained network is 1)")
    if baseline and relative != GAIN and floor_margin is None:
        raise ClaimError(f"{where}: 'baseline' is only read with 'relative_to: gain' or 'floor_margin'")
    if baseline and baseline not in cases:
        raise ClaimError(f"{where}: baseline '{baseline}' is not in 'cases'{suggest(baseline, cases)}")
    if test == "status" and raw.get("metric") is not None and floor_margin is None:
        raise ClaimError(f"{where}: 'metric' of a status claim is only read with 'floor_margin'")
    return baseline, floor_margin


def _claim_id(raw: dict, where: str, index: int) -> str:
    value = raw.get("id", index)
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not text or any(c.isspace() for c in text):
        raise ClaimError(f"{where}: 'id' must be a short name without spaces, got {value!r}")
    return text


def _status_rule(raw: dict, where: str, test: str, equals: tuple[str, ...]) -> str:
    if test != "status":
        return ""
    rule = raw.get("rule", "share")
    if rule not in STATUS_RULES:
        raise ClaimError(f"{where}: 'rule' must be one of {', '.join(STATUS_RULES)}, got {rule!r}"
                         f"{suggest(rule, STATUS_RULES)}")
    if rule == "spread" and (len(equals) != 1 or equals[0] not in SPREAD_STATUSES):
        raise ClaimError(f"{where}: 'rule: spread' reads how far z std ends from a status's line, so 'equals' must be "
                         f"one of {', '.join(SPREAD_STATUSES)}, got {', '.join(equals)}")
    return rule


def _amendment(raw, where: str, index: int, cases: list[str], current: dict) -> Amendment:
    if not isinstance(raw, dict):
        raise ClaimError(f"{where}: an amendment is a mapping with {', '.join(AMENDMENT_FIELDS)}, got {raw!r}")
    for key in raw:
        if key not in AMENDMENT_FIELDS:
            raise ClaimError(f"{where}: unknown field '{key}'{suggest(key, AMENDMENT_FIELDS)}")
    for key in ("date", "reason", "data_seen", "previous"):
        if raw.get(key) is None:
            raise ClaimError(f"{where}: missing field '{key}'")
    date = raw["date"]
    date = date.isoformat() if hasattr(date, "isoformat") else str(date)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ClaimError(f"{where}: 'date' must be a date, YYYY-MM-DD, got {raw['date']!r}")
    if not isinstance(raw["reason"], str) or not raw["reason"].strip():
        raise ClaimError(f"{where}: 'reason' must be text: why the test changed")
    if not isinstance(raw["data_seen"], bool):
        raise ClaimError(f"{where}: 'data_seen' must be true or false: had runs it is judged on been looked at?")
    previous = raw["previous"]
    if not isinstance(previous, dict):
        raise ClaimError(f"{where}: 'previous' must be the claim's deciding fields before the change (test, case, "
                         "metric, margins, ...)")
    for key in ("id", "paper", "reading", "amendments"):
        if key in previous:
            raise ClaimError(f"{where}: 'previous' holds the deciding fields only, not '{key}'")
    filled = {"paper": current["paper"], "reading": current["reading"], **previous}
    if filled.get("testable_at") is not None and not filled.get("reason"):
        filled["reason"] = current.get("reason") or "(as registered)"
    try:
        before = parse_claim(filled, index, cases)
    except ClaimError as err:
        raise ClaimError(f"{where}: 'previous': {str(err).split(': ', 1)[-1]}") from None
    commit = str(raw.get("commit") or "")
    return Amendment(date, " ".join(raw["reason"].split()), raw["data_seen"], before, commit)


def parse_claim(raw, index: int, cases: list[str]) -> Claim:
    """Validate one claim mapping against the sweep's case labels."""
    where = f"claim {index}"
    if not isinstance(raw, dict):
        raise ClaimError(f"{where}: expected a mapping with 'paper' and 'test', got {raw!r}")
    test = raw.get("test")
    if test not in TESTS:
        raise ClaimError(f"{where}: 'test' must be one of {', '.join(TESTS)}, got {test!r}{suggest(test, TESTS)}")
    where = f"claim {index} ({test})"
    required, optional = FIELDS[test]
    for key in raw:
        if key not in COMMON + required + optional:
            raise ClaimError(f"{where}: unknown field '{key}'{suggest(key, COMMON + required + optional)}")
    for key in ("paper", "reading") + required:
        if raw.get(key) is None:
            raise ClaimError(f"{where}: missing field '{key}'"
                             + (" (one line on why the test and margin are a fair reading of the paper's sentence)"
                                if key == "reading" else ""))
    for key, what in (("paper", "the paper's statement"), ("reading", "why the test reads the paper fairly")):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ClaimError(f"{where}: '{key}' must be text: {what}")

    names = _names(raw["cases"], where, "cases") if raw.get("cases") is not None else (
        _names(raw["case"], where, "case") if "case" in raw else tuple(cases))
    other = str(raw.get("other", names[0] if test == "exceeds" else ""))
    if test == "exceeds" and len(names) != 1:
        raise ClaimError(f"{where}: 'case' must be one case")
    for name in names + ((other,) if other else ()):
        if name not in cases:
            raise ClaimError(f"{where}: case '{name}' is not in 'cases'{suggest(name, cases)}")
    if test in ("trend", "flat") and len(names) < 2:
        raise ClaimError(f"{where}: 'cases' must list at least two cases")

    known = RESULT_METRICS + DERIVED_METRICS
    for key in ("metric", "other_metric"):
        if raw.get(key) is not None and raw[key] not in known:
            raise ClaimError(f"{where}: unknown metric '{raw[key]}'{suggest(raw[key], known)}; "
                             f"known: {', '.join(known)}")
    relative = raw.get("relative_to") or ""
    if relative and relative not in RELATIVE:
        raise ClaimError(f"{where}: 'relative_to' must be one of {', '.join(RELATIVE)}, got {relative!r}")
    equals = _names(raw["equals"], where, "equals") if test == "status" else ()
    for s in equals:
        if s not in STATUSES:
            raise ClaimError(f"{where}: unknown status '{s}'{suggest(s, STATUSES)}; known: {', '.join(STATUSES)}")
    direction = raw.get("direction") or ""
    if test == "trend" and direction not in ("increasing", "decreasing"):
        raise ClaimError(f"{where}: 'direction' must be increasing or decreasing, got {direction!r}")
    low, high = _number(raw, "low", where), _number(raw, "high", where)
    if low is not None and high is not None and low > high:
        raise ClaimError(f"{where}: 'low' ({low:g}) is above 'high' ({high:g})")
    tolerance = _number(raw, "tolerance", where, 0.0)
    if tolerance < 0 or (test == "flat" and tolerance == 0):
        raise ClaimError(f"{where}: 'tolerance' must be positive")
    margin, at_most = _number(raw, "margin", where, 0.0), _number(raw, "at_most", where, math.inf)
    if at_most <= margin:
        raise ClaimError(f"{where}: 'at_most' ({at_most:g}) must be above 'margin' ({margin:g})")

    baseline, floor_margin = _scale_fields(raw, where, test, relative, cases)

    testable = raw.get("testable_at")
    testable = _names(testable, where, "testable_at") if testable is not None else ()
    reason = raw.get("reason") or ""
    if testable and not (isinstance(reason, str) and reason.strip()):
        raise ClaimError(f"{where}: 'testable_at' needs a 'reason' (why other presets cannot test the claim)")
    if reason and not testable:
        raise ClaimError(f"{where}: 'reason' is only read with 'testable_at'")

    claim = Claim(
        paper=" ".join(raw["paper"].split()), test=test, cases=names,
        metric=str(raw.get("metric") or ("linear_acc" if floor_margin is not None else "")),
        value=_number(raw, "value", where), low=low, high=high, relative_to=relative, equals=equals,
        other=other, other_metric=str(raw.get("other_metric") or raw.get("metric") or ""),
        baseline=baseline, floor_margin=floor_margin, reference=_number(raw, "reference", where),
        margin=margin, at_most=at_most, factor=_number(raw, "factor", where, 1.0),
        direction=direction, tolerance=tolerance, reading=" ".join(raw["reading"].split()),
        testable_at=testable, reason=" ".join(reason.split()),
        rule=_status_rule(raw, where, test, equals), id=_claim_id(raw, where, index),
    )
    return _with_amendments(claim, raw, where, index, cases)


def _with_amendments(claim: Claim, raw: dict, where: str, index: int, cases: list[str]) -> Claim:
    """The claim with its `amendments:` parsed (each `previous` a whole claim form of its own), oldest first."""
    amendments = raw.get("amendments")
    if amendments is None:
        return claim
    if not isinstance(amendments, list) or not amendments:
        raise ClaimError(f"{where}: 'amendments' must be a non-empty list of amendments, oldest first")
    parsed = tuple(_amendment(a, f"{where}: amendment {i}", index, cases, raw) for i, a in enumerate(amendments, 1))
    dates = [a.date for a in parsed]
    if dates != sorted(dates):
        raise ClaimError(f"{where}: 'amendments' must be listed oldest first, got dates {', '.join(dates)}")
    return replace(claim, amendments=parsed)


def parse_claims(raw, cases: list[str]) -> list[Claim]:
    """The `claims:` list of a sweep file (None or absent: no claims)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ClaimError("'claims' must be a list of claim mappings")
    claims = [parse_claim(c, i, cases) for i, c in enumerate(raw, start=1)]
    seen: dict[str, int] = {}
    for i, c in enumerate(claims, start=1):
        if c.id in seen:
            raise ClaimError(f"claim {i}: id '{c.id}' is claim {seen[c.id]}'s too; a claim's id names it in the "
                             "registry and must be unique in its file")
        seen[c.id] = i
    return claims
