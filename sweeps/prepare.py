"""Prepare run directories before any run starts: check the data, write config.yaml and meta.json."""
from __future__ import annotations

from core.config import Config, ConfigError, config_hash
from core.rundir import RunDir, base_meta
from sweeps.expand import RunSpec


def check_data(cfg: Config) -> None:
    """Fail before creating anything if the data set cannot be found."""
    from core.datasets import DataError, check_available
    try:
        check_available(cfg.data)
    except DataError as err:
        raise ConfigError(str(err)) from None


def prepare(spec: RunSpec) -> None:
    rd = RunDir(spec.run_dir)
    if rd.file("config.yaml").exists():
        try:
            existing = rd.read_config()
        except ConfigError as err:
            raise ConfigError(f"{rd.path}: its config.yaml no longer validates ({err}); move the directory away") from None
        if config_hash(existing) != config_hash(spec.config):
            raise ConfigError(f"{rd.path}: config.yaml differs from the sweep's config for this run id "
                              "(edited by hand?); move the directory away to re-run it")
        return
    rd.write_config(spec.config)
    rd.write_meta({**spec.meta(), **base_meta()})
