"""Before any run starts: check everything that could fail (data, runs directory, disk, stale run
directories), then write each run's config.yaml and meta.json. A failed check creates nothing."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.config.hyperparameters import Config, ConfigError, config_hash
from core.runtime.run_directory import RunDir, base_meta
from sweeps.expand import RunSpec


def check_data(cfg: Config, need: int = 0, need_test: int = 0) -> tuple[int | None, int | None]:
    """Fail if the data set is missing or unreadable, saying which (core.data.data_checks); else the numbers of
    training and test images a run uses (None when not counted past what was needed)."""
    from core.data.data_checks import check_counts
    from core.data.raw_images import DataError
    try:
        return check_counts(cfg.data, need, need_test)
    except DataError as err:
        raise ConfigError(str(err)) from None


def checkpoint_bytes(cfg: Config) -> int:
    """Disk one run's checkpoints take: weights, momentum and BN buffers, twice (last.pt and prev.pt)
    plus the temporary file of the next save."""
    from core.model.simsiam import SimSiam
    model = SimSiam(cfg.model, 3)
    state = sum(p.numel() for p in model.parameters()) * 2 + sum(b.numel() for b in model.buffers())
    return 3 * 4 * state


def check_output_dir(path: Path, flag: str) -> Path:
    """A directory a command will write into (`flag` names it): one that exists, or one that can be created,
    writable; returns the nearest existing ancestor (the directory itself if it exists)."""
    probe_dir = Path(path)
    while not probe_dir.exists():            # the nearest existing ancestor decides
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        what = "is not a directory" if probe_dir == Path(path) else f"cannot be created: {probe_dir} is not a directory"
        raise ConfigError(f"{flag} {path} {what}")
    if not os.access(probe_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path} is not writable (no write permission on {probe_dir}); choose another "
                          f"with {flag}")
    return probe_dir


def check_runs_dir(runs_dir: Path, specs: list[RunSpec]) -> None:
    """The runs directory must be writable and hold the checkpoints of the runs about to start."""
    probe_dir = check_output_dir(runs_dir, "--runs-dir")
    sizes = {}
    for spec in specs:
        key = repr(spec.config.model)
        if key not in sizes:
            sizes[key] = checkpoint_bytes(spec.config)
    need = sum(sizes[repr(s.config.model)] for s in specs)
    free = shutil.disk_usage(probe_dir).free
    if free < need:
        raise ConfigError(f"not enough disk for the checkpoints under {runs_dir}: {free / 2**30:.2f} GiB free, "
                          f"{need / 2**30:.2f} GiB needed for {len(specs)} run(s)")


def check_existing(spec: RunSpec) -> None:
    """A run directory that exists must hold this run's config (same hash): never reuse a stale one."""
    rd = RunDir(spec.run_dir)
    if not rd.file("config.yaml").exists():
        return
    try:
        existing = rd.read_config()
    except ConfigError as err:
        raise ConfigError(f"{rd.path}: its config.yaml no longer validates ({err}); move the directory away") from None
    if config_hash(existing) != config_hash(spec.config):
        raise ConfigError(f"{rd.path}: config.yaml differs from the sweep's config for this run id "
                          "(edited by hand, or written by an older version); move the directory away to re-run it")


def check_logger(logger: str) -> None:
    """run.logger's package must be installed here (core.runtime.live_log)."""
    from core.runtime.live_log import LoggerUnavailable, check_available
    try:
        check_available(logger)
    except LoggerUnavailable as err:
        raise ConfigError(str(err)) from None


def check_all(specs: list[RunSpec], runs_dir: Path, sweep_file: str = "") -> None:
    """Every check, before anything is created: the data of each data set (present and readable), the sizes
    each run asks of it, the logger, the run directories, the disk."""
    from core.config.sizes import check_sizes, largest_need, test_need
    by_data: dict[str, list[RunSpec]] = {}
    for spec in specs:
        by_data.setdefault(repr(spec.config.data), []).append(spec)
    for group in by_data.values():
        n_train, n_test = check_data(group[0].config, max(largest_need(s.config) for s in group),
                                     max(test_need(s.config) for s in group))
        for spec in group:
            where = f"{sweep_file or spec.sweep}: case '{spec.case}' at preset {spec.preset}"
            check_sizes(spec.config, n_train, where, n_test)
    for logger in {s.config.run.logger for s in specs}:
        check_logger(logger)
    for spec in specs:
        check_existing(spec)
    check_runs_dir(runs_dir, specs)


def prepare(spec: RunSpec) -> None:
    """Write config.yaml and meta.json of a run not started yet. A started one keeps its meta.json, and its
    config.yaml takes this sweep's values of the settings outside the run id (run.logger, data.root, run.threads,
    ...: check_existing made sure nothing else differs), so a resumed run trains with what was asked now."""
    rd = RunDir(spec.run_dir)
    if rd.file("config.yaml").exists():
        if rd.read_config() != spec.config:
            rd.write_config(spec.config)
        return
    rd.write_config(spec.config)
    rd.write_meta({**spec.meta(), **base_meta()})
