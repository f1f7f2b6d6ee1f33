"""The numerics canary (benchmarks/canary.py): short runs re-trained and compared with the values this code's
training numerics version committed. Fails when a change alters what a run computes while
core/schema/numerics.py's NUMERICS_VERSION stays the same, on any CPU (values within a measured tolerance)."""
from __future__ import annotations

import json

import pytest

from benchmarks import canary
from core.schema.numerics import NUMERICS_VERSION

COMMITTED = json.loads(canary.VALUES.read_text())
ADVICE = ("the training numerics changed. If that was meant: bump NUMERICS_VERSION in core/schema/numerics.py "
          "(say what changed there), run `python -m benchmarks.canary --write`, and re-run the committed records "
          "(scripts/reproduce_cpu.sh) or say which stay valid and why. If not: find what changed the numbers.")


def test_the_committed_values_belong_to_this_numerics_version():
    assert COMMITTED["numerics"] == NUMERICS_VERSION, ("core/schema/numerics.py was bumped: run "
                                                      "`python -m benchmarks.canary --write` and commit the values")
    assert set(COMMITTED["canaries"]) == set(canary.CANARIES) == set(canary.RTOLS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(canary.CANARIES))
def test_a_short_run_computes_the_committed_numbers(name):
    got = canary.values(name)
    rtol = canary.RTOLS[name]
    off = [(what, d) for what, d in canary.differences(got, COMMITTED["canaries"][name]) if d > rtol]
    assert not off, f"canary '{name}': {off} exceed rtol {rtol}: {ADVICE}"


def test_the_canary_sees_a_real_change_and_not_float_order():
    """On the committed values themselves: a changed step-1 loss of 2% fails, a 0.1% one passes."""
    ref = COMMITTED["canaries"]["cpu"]
    def nudged(f):
        steps = [dict(r, loss=r["loss"] * f) if r["step"] == 1 else r for r in ref["steps"]]
        return {**ref, "steps": steps}
    assert max(d for _, d in canary.differences(nudged(1.02), ref)) > canary.RTOLS["cpu"]
    assert max(d for _, d in canary.differences(nudged(1.001), ref)) <= canary.RTOLS["cpu"]
