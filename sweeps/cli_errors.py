"""How the command-line entry points of sweeps end on bad input: one line on stderr and exit code 2, never a
traceback for a typo, a missing directory or a wrong value."""
from __future__ import annotations

import sys

from core.config.hyperparameters import ConfigError


def one_line_errors(main, argv=None, errors: tuple = ()) -> int:
    """main(argv), with ConfigError (and `errors`) turned into 'error: ...' on stderr and exit code 2."""
    try:
        return main(argv)
    except (ConfigError, *errors) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
