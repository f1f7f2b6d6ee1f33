"""Record the group of runs made before runs recorded it:  python -m sweeps.backfill_groups DIR [DIR ...]

A sweep records each run's group in its meta.json when it creates the run (sweeps.expand; the field:
core.schema.group_record), and the report groups runs by it. A run made before has no group recorded, and the report
leaves it out. This command derives the group of each such run under DIR (any depth: a runs directory, or
records/) once, by today's rules (core.config.run_groups) from the run's config.yaml, its case in its sweep file and
its preset, and writes it into the run's meta.json with `derived`: the date and the files it was derived from, so
that nobody takes it for a group recorded when the run was made. Nothing else in meta.json changes, and nothing
that makes a run id.

A meta.json that records a group is left as it is: a second run changes nothing. A run whose sweep file or case
this code does not know, or whose config.yaml cannot be read, is named and left as it is (of a preset it does not
know, the group is named by the preset alone: core.config.run_groups.recorded_group).
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import yaml

from core.config.presets import PRESET_DIR
from core.config.methods import METHODS_FILE
from core.config.run_groups import recorded_group
from core.runtime.run_directory import RunDir
from core.schema.checks import ConfigError
from core.schema.group_record import GROUP_KEY
from core.schema.record import CONFIG, META, read_json
from core.schema.sweep_format import REPO_ROOT, load_sweep

BY = "python -m sweeps.backfill_groups"


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def derived_group(run_dir: Path, meta: dict, on: str) -> dict:
    """The group field of a run made before runs recorded it, marked as derived on `on`; ConfigError (naming what
    is missing) when it cannot be derived."""
    sweep = load_sweep(str(meta.get("sweep") or Path(run_dir).parent.name))
    case = meta.get("case")
    if case not in sweep.overrides:
        raise ConfigError(f"its case {case!r} is not a case of {_shown(sweep.path)}")
    try:
        config = yaml.safe_load((Path(run_dir) / CONFIG).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"its {CONFIG} cannot be read ({err})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"its {CONFIG} is not a mapping")
    group = recorded_group(config, meta, sweep.overrides[case])
    preset_file = PRESET_DIR / f"{meta.get('preset')}.yaml"
    sources = [CONFIG, _shown(sweep.path)] + [_shown(p) for p in (preset_file,) if p.is_file()]
    if "method" in sweep.overrides[case]:
        sources.append(_shown(METHODS_FILE))
    return {**group, "derived": {"on": on, "from": sources, "by": BY,
                                 "note": "derived afterwards by the rules of that day, not recorded when the run "
                                         "was made"}}


def backfill(dirs: list[Path], on: str | None = None) -> tuple[list[Path], list[Path], list[str]]:
    """Write the group of every run under `dirs` that records none. Returns (the run dirs written, those that
    already recorded one, a line for each left as it is)."""
    on = on or datetime.date.today().isoformat()
    written, recorded, skipped = [], [], []
    for meta_path in sorted({p for d in dirs for p in Path(d).rglob(META)}):
        run_dir = meta_path.parent
        meta = read_json(meta_path)
        if meta is None:
            skipped.append(f"{run_dir}: {META} cannot be read")
            continue
        if GROUP_KEY in meta:
            recorded.append(run_dir)
            continue
        try:
            group = derived_group(run_dir, meta, on)
        except ConfigError as err:
            skipped.append(f"{run_dir}: {err}")
            continue
        RunDir(run_dir).write_meta({**meta, GROUP_KEY: group})
        written.append(run_dir)
    return written, recorded, skipped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=BY, description=__doc__.split("\n\n")[0].split(":", 1)[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="directories to search for run directories (any depth)")
    args = ap.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        print(f"error: not a directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    written, recorded, skipped = backfill(args.dirs)
    for line in skipped:
        print(f"left as it is: {line}")
    print(f"recorded the group of {len(written)} run(s); {len(recorded)} already recorded one; "
          f"{len(skipped)} left as they are")
    return 0


if __name__ == "__main__":
    sys.exit(main())
