"""A sweep file as the runner needs it: core.schema.sweep_format parses it (shape, names, claims; shared with the
analysis), and here every case's and grid point's overrides are checked against the config tree (keys,
types, choices; a `method:` must name a method of core/config/method_definitions.yaml), so a typo fails before any run
starts."""
from __future__ import annotations

from pathlib import Path

from core.config.hyperparameters import Config, ConfigError, apply_overrides
from core.config.methods import method
from core.schema.sweep_format import Sweep, SweepFileError, check_seeds, known_sweeps
from core.schema.sweep_format import load_sweep as parse_sweep

__all__ = ["Sweep", "check_seeds", "known_sweeps", "load_sweep"]


def load_sweep(name_or_path: str | Path) -> Sweep:
    sweep = parse_sweep(name_or_path)
    src = str(sweep.path)
    for case, overrides in sweep.overrides.items():
        rest = dict(overrides)
        if "method" in rest:
            try:
                method(str(rest.pop("method")))              # a known method name, or an error with a suggestion
            except ConfigError as err:
                raise SweepFileError(f"{src}: case '{case}': {err}") from None
        apply_overrides(Config(), rest, f"{src}: case '{case}'", check=False)  # keys, types, choices
    for key, values in sweep.grid.items():
        for v in values:
            apply_overrides(Config(), {key: v}, f"{src}: grid", check=False)
    return sweep
