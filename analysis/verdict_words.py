"""The words of a verdict, in one place: the verdicts, the kinds of "not reproduced", the flag, and the word each
place of an interval gives (analysis.stats)."""
from __future__ import annotations

from analysis import stats

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_TESTABLE, NO_DATA = "not testable at this scale", "no data yet"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE, NO_DATA)
REVERSED, WEAKER = "reversed", "weaker than the paper"
THRESHOLD_SENSITIVE = "threshold-sensitive"
OUTCOME = {stats.INSIDE: REPRODUCED, stats.OUTSIDE: NOT_REPRODUCED, stats.ACROSS: INCONCLUSIVE,
           stats.TOO_FEW: INCONCLUSIVE}
