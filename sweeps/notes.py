"""What a sweep says before it starts, beside its checks (which refuse): a setting that was not applied to the
finished runs, and a GPU preset launched where there is no GPU."""
from __future__ import annotations

import dataclasses
import sys

from core.config.hyperparameters import ConfigError
from sweeps.words import plural


def warn_without_gpu(preset: str, specs: list) -> None:
    """A GPU preset launched here, where there is no GPU: say so before anything starts."""
    from core.config.presets import preset_needs_gpu
    if not preset_needs_gpu(preset) or all(s.config.run.device == "cpu" for s in specs):
        return
    import torch
    if torch.cuda.is_available():
        return
    print(f"warning: preset {preset} is sized for a GPU and this machine has none: its runs train on the CPU "
          "(run.device auto), far slower, and a run.device cuda run fails; Ctrl-C stops them with their "
          "checkpoints saved", file=sys.stderr)


def not_applied(specs: list, pending: list) -> list[str]:
    """A note per setting that does not change what is computed (run.logger, data.root, ...: not in the run id)
    asked for here but differing in finished runs, whose records are complete: it was not applied to them."""
    from core.config.hyperparameters import Config, all_keys, get
    from core.runtime.run_directory import RunDir
    keys = [k for k in all_keys() if not _identity(k)]
    todo = {s.run_id for s in pending}
    missed: dict[str, list[str]] = {}
    for spec in specs:
        if spec.run_id in todo or not (spec.run_dir / "config.yaml").exists():
            continue
        try:
            done = RunDir(spec.run_dir).read_config()
        except ConfigError:
            continue
        for key in keys:
            if get(spec.config, key) != get(done, key) and get(spec.config, key) != get(Config(), key):
                missed.setdefault(f"{key}={get(spec.config, key)}", []).append(spec.run_id)
    return [f"note: {setting} was not applied to {plural(len(runs), 'finished run')} ({', '.join(runs[:3])}"
            f"{', ...' if len(runs) > 3 else ''}): it changes how a run trains, and they have trained"
            for setting, runs in missed.items()]


def _identity(key: str) -> bool:
    from core.config.hyperparameters import Config
    sec, name = key.split(".", 1)
    spec = {f.name: f for f in dataclasses.fields(getattr(Config(), sec))}[name]
    return spec.metadata.get("identity", True)
