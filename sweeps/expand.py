"""Expand a sweep (cases x grid x seeds) at a preset into run specs. Needs no torch.

Override order, later wins: config defaults < preset < recipe < case < grid point < --set < seed. A recipe
(`--recipe official`, core/config/recipes/) is a published code's choices: it changes what every case starts from, and
a case that sets one of its keys keeps the case's value.

Schedule lengths in a sweep file (SCHEDULE_KEYS in a case or grid point) are the paper's, in epochs of its
100-epoch ablation schedule (Sec. 3), scaled with the run (core.config.cases.scale_schedule). A value given with
--set is taken as it is.

A case may name a Sec. 6 method (`method: byol`, core/config/method_definitions.yaml): it stands for that method's
values at
the preset (core.config.cases.case_overrides), applied before the case's own overrides, so a case reads
"BYOL, but with momentum 0" as {method: byol, target.momentum: 0}. The run records the resolved config, whose
hash is the run id's: spelling the same values out gives the same run.

Every run records the canonical forms of its sweep's claims in its meta.json, with the time it recorded them
(core.schema.claim_forms): the earliest run a claim reads registers the claim's test before its data existed.
It also records its group (core.config.run_groups, core.schema.group_record): the runs a verdict may judge with
it, as the preset, the sweep file and the config tree say when it is made.
"""
from __future__ import annotations

import datetime
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.config.cases import PAPER_EPOCHS, case_overrides, scale_schedule
from core.config.hyperparameters import Config, ConfigError, apply_overrides, config_hash, to_dict
from core.config.presets import preset_overrides
from core.config.recipes import recipe_overrides
from core.config.run_groups import recorded_group
from core.schema.claim_forms import REGISTERED_AT_KEY, REGISTERED_KEY, registered_forms
from core.schema.group_record import GROUP_KEY
from sweeps.sweepfile import Sweep


@dataclass(frozen=True)
class RunSpec:
    sweep: str
    case: str
    seed: int
    grid: dict
    preset: str
    config: Config
    run_id: str
    run_dir: Path

    epoch_scale: float = 1.0            # applied to the sweep file's schedule lengths (module docstring)
    method: str = ""                    # the case's `method:` (core/config/method_definitions.yaml), if any
    recipe: str = ""                    # --recipe (core/config/recipes/), if any
    claims: dict = field(default_factory=dict)   # {claim id: canonical form} of the sweep's claims
    overrides: dict = field(default_factory=dict)   # the case's overrides as the sweep file gives them (its group)

    def meta(self) -> dict:
        """What meta.json says of the run, the sweep's claims as registered now and its group among it (a run's
        start, or the copy of another sweep's run into this one, sweeps.twins)."""
        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        meta = {"sweep": self.sweep, "case": self.case, "seed": self.seed, "grid": self.grid,
                "preset": self.preset, "run_id": self.run_id, "config_hash": config_hash(self.config),
                "epoch_scale": self.epoch_scale, **({"method": self.method} if self.method else {}),
                **({"recipe": self.recipe} if self.recipe else {}),
                REGISTERED_KEY: self.claims, REGISTERED_AT_KEY: now}
        return {**meta, GROUP_KEY: recorded_group(to_dict(self.config), meta, self.overrides)}


def select_cases(sweep: Sweep, names: list[str] | None) -> dict:
    """The sweep's cases, or only `names` (each a case's label or its slug, as in run ids: '(a) none' or
    'a-none'), in the file's order; a name that matches none is an error listing the cases."""
    if not names:
        return dict(sweep.overrides)
    from core.schema.checks import suggest
    by_slug = {slug(c): c for c in sweep.cases}
    chosen = set()
    for name in names:
        case = name if name in sweep.cases else by_slug.get(slug(name))
        if case is None:
            raise ConfigError(f"--cases: '{name}' is not a case of {sweep.name}{suggest(name, list(sweep.cases))}; "
                              f"its cases: {', '.join(repr(c) for c in sweep.cases)}")
        chosen.add(case)
    return {c: o for c, o in sweep.overrides.items() if c in chosen}


def slug(text: str) -> str:
    """'w/o stop-grad' -> 'wo-stop-grad': safe in a directory name."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9.=_-]+", "-", text.replace("/", ""))).strip("-").lower() or "case"


def expand(sweep: Sweep, preset: str, runs_dir: Path, seeds: list[int] | None = None,
           cli_overrides: dict | None = None, cases: list[str] | None = None, recipe: str = "") -> list[RunSpec]:
    base = apply_overrides(Config(), preset_overrides(preset), f"preset {preset}")
    if recipe:
        base = apply_overrides(base, recipe_overrides(recipe, preset), f"recipe {recipe}")
    epochs = (apply_overrides(base, cli_overrides, "--set", check=False).optim.epochs if cli_overrides
              else base.optim.epochs)
    scale = epochs / PAPER_EPOCHS
    grid_keys = list(sweep.grid)
    claims = registered_forms(sweep.claims)
    specs = []
    for case, own in select_cases(sweep, cases).items():
        method, overrides = case_overrides(own, preset)
        case_cfg = apply_overrides(base, scale_schedule(overrides, scale), f"{sweep.path}: case '{case}'",
                                   check=not cli_overrides)
        for values in itertools.product(*(sweep.grid[k] for k in grid_keys)):
            point = dict(zip(grid_keys, values))
            cfg = apply_overrides(case_cfg, scale_schedule(point, scale), f"{sweep.path}: grid",
                                  check=not cli_overrides)
            if cli_overrides:
                cfg = apply_overrides(cfg, cli_overrides, "--set")
            for seed in (seeds if seeds is not None else sweep.seeds):
                run_cfg = apply_overrides(cfg, {"run.seed": seed}, "--seeds")
                label = slug(case) + "".join(f"_{k.split('.')[-1]}={v}" for k, v in point.items())
                run_id = f"{label}-s{seed}-{config_hash(run_cfg)}"
                specs.append(RunSpec(sweep.name, case, seed, point, preset, run_cfg, run_id,
                                     Path(runs_dir) / sweep.name / run_id, scale, method, recipe, claims, own))
    return specs
