"""What a run tells its caller about how far it has got, for a progress display (sweeps.progress draws it).

The training loop and the paper's linear evaluation call a `Progress`: `start` when a phase begins (with the
step it resumes at), `advance` at the steps where the loop already reads its loss for logging (so reporting
adds no host sync), `stage` when a step-less stage begins (a kNN monitor, the linear probe) and `stage_done`
with its time. The base class does nothing: a run without a display, or a data-parallel rank other than 0.
"""
from __future__ import annotations

import contextlib
import time

PRETRAIN, LINEAR_EVAL = "pretrain", "linear eval"        # the phases with steps


class Progress:
    def start(self, phase: str, step: int, total: int, steps_per_epoch: int) -> None:
        """A phase with `total` steps begins at `step` (> 0 when resumed)."""

    def advance(self, step: int, loss: float | None = None) -> None:
        """The phase has reached `step` (loss: the mean since the last call, where known)."""

    def stage(self, what: str) -> None:
        """A stage without steps begins, e.g. 'kNN monitor'."""

    def stage_done(self, what: str, seconds: float) -> None:
        """That stage ended after `seconds`."""

    def finish(self) -> None:
        """The run is over (finished, failed or stopped)."""


@contextlib.contextmanager
def timed_stage(progress: Progress, what: str):
    """`with timed_stage(p, 'kNN monitor') as t: ...`, then t.seconds; tells `progress` when it begins and ends."""
    timer = _Timer()
    progress.stage(what)
    t0 = time.time()
    try:
        yield timer
    finally:
        timer.seconds = time.time() - t0
        progress.stage_done(what, timer.seconds)


class _Timer:
    seconds: float = 0.0
