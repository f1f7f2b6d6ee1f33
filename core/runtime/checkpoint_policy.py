"""What an entry point may do with a checkpoint it cannot use, and how it says so (no torch here: the sweeps
command lines import it before anything trains).

A checkpoint is loaded with torch's safe loader only (core.runtime.checkpoint); two flags, the same on every command
that reads one, widen that on the user's word:

    --trust-checkpoint      unpickle a checkpoint the safe loader refuses (it holds objects other than tensors,
                            numbers, strings, lists and dicts). Unpickling can run any code: only for files whose
                            origin you trust.
    --restart-unreadable    when no checkpoint of a stage is usable, start that stage over; the unusable files
                            are kept beside it as <name>.unusable.

Without them a checkpoint that cannot be used stops the entry point with a `CheckpointError`: one line with
the file, why, and these options. docs/run-directory-safety.md says what a run directory may hold.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.schema.checks import ConfigError

TRUST_FLAG = "--trust-checkpoint"
RESTART_FLAG = "--restart-unreadable"
TRUST_HELP = ("unpickle a checkpoint that holds more than tensors, numbers, strings, lists and dicts, which the "
              "safe loader refuses; unpickling can run any code: only for files whose origin you trust")
RESTART_HELP = ("when no checkpoint of a run is usable (corrupt, refused, or not fitting the model), start the run "
                "over instead of stopping; the unusable files are kept as <name>.unusable")


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used: one line with the file, why, and what the user can do."""


@dataclass(frozen=True)
class CheckpointPolicy:
    trust: bool = False       # TRUST_FLAG: unpickle what the safe loader refuses
    restart: bool = False     # RESTART_FLAG: no usable checkpoint: start over rather than stop

    def flags(self) -> list[str]:
        """The command-line flags that give this policy (for a worker process)."""
        return [flag for flag, on in ((TRUST_FLAG, self.trust), (RESTART_FLAG, self.restart)) if on]

    @classmethod
    def from_args(cls, args) -> "CheckpointPolicy":
        return cls(trust=getattr(args, "trust_checkpoint", False), restart=getattr(args, "restart_unreadable", False))


SAFE = CheckpointPolicy()      # the default: the safe loader only, and stop on a checkpoint that cannot be used


def add_arguments(ap, restart: bool = True) -> None:
    """The flags on an argparse parser (`restart`: also RESTART_FLAG, for commands that can start a stage over)."""
    ap.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    if restart:
        ap.add_argument(RESTART_FLAG, action="store_true", help=RESTART_HELP)
