"""Sizes a config asks of its data set, which a run would otherwise discover only once it has started: checked
before any run starts (sweeps.prepare, with the training-set size core.data.data_checks found) and again by the
trainer (core.train.loop) on the data it loaded."""
from __future__ import annotations

from core.config.hyperparameters import Config, ConfigError


def check_sizes(cfg: Config, n_train: int, source: str) -> None:
    """Raise ConfigError (naming `source` and the key) when `cfg` cannot train on `n_train` training images."""
    subset = f" (data.train_subset {cfg.data.train_subset})" if 0 < cfg.data.train_subset <= n_train else ""
    if cfg.optim.batch_size > n_train:
        raise ConfigError(f"{source}: optim.batch_size {cfg.optim.batch_size} is larger than the {n_train} training "
                          f"images of {cfg.data.dataset}{subset}: an epoch would have no step")
    if cfg.loss.negatives == "queue" and cfg.loss.queue_size >= n_train:
        raise ConfigError(f"{source}: loss.queue_size {cfg.loss.queue_size} is not smaller than the {n_train} "
                          f"training images{subset}: the queue would hold several keys of one image, its positive "
                          "among them")


def largest_need(cfg: Config) -> int:
    """The most training images any check above asks for (an image folder is counted up to this)."""
    return max(cfg.optim.batch_size, cfg.loss.queue_size + 1 if cfg.loss.negatives == "queue" else 0)
