"""What a sweep case sets at a preset: its method's values (core.config.methods), then its own overrides, with the
schedule lengths scaled to the run. Shared by sweeps.expand (which builds the runs) and core.config.run_groups (which
tells a run's case settings from the rest of its config). Imports no torch.

Schedule lengths in a sweep file (SCHEDULE_KEYS in a case or grid point) are the paper's, in epochs of its
100-epoch ablation schedule (Sec. 3). They are scaled with the run: multiplied by `epoch_scale` = the run's
optim.epochs from the preset and --set / 100, so Table 3(a)'s and Table 2's 10-epoch warm-up stays 10% of
training at any preset (1 epoch of the cpu preset's 10).
"""
from __future__ import annotations

from core.config.hyperparameters import Config
from core.config.methods import method_overrides

SCHEDULE_KEYS = ("optim.warmup_epochs", "optim.epochs")
PAPER_EPOCHS = Config().optim.epochs            # Sec. 3: the ablations' 100-epoch schedule


def scale_schedule(overrides: dict, scale: float) -> dict:
    """A sweep file's overrides with its schedule lengths (paper epochs) multiplied by `scale`."""
    out = dict(overrides)
    for key in SCHEDULE_KEYS:
        if key in out and isinstance(out[key], (int, float)) and not isinstance(out[key], bool):
            value = out[key] * scale
            out[key] = max(1, round(value)) if key == "optim.epochs" else float(value)
    return out


def case_overrides(overrides: dict, preset: str) -> tuple[str, dict]:
    """(method name or '', the case's overrides in paper epochs with its method's values first)."""
    rest = dict(overrides)
    name = rest.pop("method", "")
    if not name:
        return "", rest
    paper_epochs = rest.get("optim.epochs", PAPER_EPOCHS)
    return name, {**method_overrides(str(name), preset, paper_epochs), **rest}
