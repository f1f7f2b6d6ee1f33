"""Sizes a config asks of its data set, which a run would otherwise discover only once it has started, or which a
stage would cut to what the data holds without a word: checked before any run starts (sweeps.prepare, with the
image counts core.data.data_checks found; sweeps.evaluate for its stage) and again by the trainer (core.train.loop)
on the data it loaded. Section by section:

    data     train_subset, test_subset        more than the split holds: the subset would be the whole split
    optim    batch_size                       more than the training images: an epoch would have no step
             steps_as_batch                   more than the training images: the run would make no step
    loss     queue_size (negatives: queue)    not fewer than the training images: an image's own key in its queue
    eval     knn_k                            more than the training images (the bank): k would be cut to the bank
             linear_batch (linear: sgd)       more than the training images: the probe's batch would be cut
             lincls_batch (linear: paper)     more than the training images: the stage's batch would be cut

Left as documented: target.k_steps beyond an epoch's steps (a block restarts at each epoch: ablations/kstep.yaml's
100-step row at the cpu preset) and a sweep file's positive epoch count that scales below one epoch (one epoch:
core.config.cases; ablations/random_network.yaml). Sizes that need no data (the blur kernel against the image)
are checked with the rest of the config (core.config.hyperparameters.check_consistency).
"""
from __future__ import annotations

from core.config.hyperparameters import Config, ConfigError


def check_sizes(cfg: Config, n_train: int | None, source: str, n_test: int | None = None,
                linear: str | None = None) -> None:
    """Raise ConfigError (naming `source` and the key) when `cfg` cannot train on `n_train` training images (after
    data.train_subset) and evaluate on `n_test` test images (after data.test_subset) without a size cut to the
    data. None: at least what `largest_need` (`test_need`) asks, not counted further. `linear`: the linear
    evaluation that will run (default: the config's eval.linear; sweeps.evaluate runs the paper's)."""
    d, linear = cfg.data, linear or cfg.eval.linear
    if n_test is not None and d.test_subset > n_test:
        raise ConfigError(f"{source}: data.test_subset {d.test_subset} is larger than the {n_test} test images of "
                          f"{d.dataset}: the subset would be the whole split")
    if n_train is None:
        return
    if d.train_subset > n_train:
        raise ConfigError(f"{source}: data.train_subset {d.train_subset} is larger than the {n_train} training "
                          f"images of {d.dataset}: the subset would be the whole split")
    of = f"the {n_train} training images of {d.dataset}" + (f" (data.train_subset {d.train_subset})"
                                                              if d.train_subset else "")
    o, e = cfg.optim, cfg.eval
    if o.batch_size > n_train:
        raise ConfigError(f"{source}: optim.batch_size {o.batch_size} is larger than {of}: an epoch would have no "
                          "step")
    if o.steps_as_batch > n_train:
        raise ConfigError(f"{source}: optim.steps_as_batch {o.steps_as_batch} is larger than {of}: the run would "
                          "make no step")
    if cfg.loss.negatives == "queue" and cfg.loss.queue_size >= n_train:
        raise ConfigError(f"{source}: loss.queue_size {cfg.loss.queue_size} is not smaller than {of}: the queue "
                          "would hold several keys of one image, its positive among them")
    if e.knn_k > n_train:
        raise ConfigError(f"{source}: eval.knn_k {e.knn_k} is larger than {of}, the kNN monitor's bank: k would be "
                          "cut to the bank")
    if linear == "sgd" and e.linear_batch > n_train:
        raise ConfigError(f"{source}: eval.linear_batch {e.linear_batch} is larger than {of}: the linear probe's "
                          "batch would be cut to them")
    if linear == "paper" and e.lincls_batch > n_train:
        raise ConfigError(f"{source}: eval.lincls_batch {e.lincls_batch} is larger than {of}: the linear "
                          "evaluation's batch would be cut to them")


def largest_need(cfg: Config, linear: str | None = None) -> int:
    """The most training images any check above asks for (an image folder is counted up to this)."""
    linear, e = linear or cfg.eval.linear, cfg.eval
    return max(cfg.optim.batch_size, cfg.optim.steps_as_batch, cfg.data.train_subset, e.knn_k,
               cfg.loss.queue_size + 1 if cfg.loss.negatives == "queue" else 0,
               e.linear_batch if linear == "sgd" else 0, e.lincls_batch if linear == "paper" else 0)


def test_need(cfg: Config) -> int:
    """The most test images a check above asks for (data.test_subset; an image folder's val/ is counted up to it)."""
    return cfg.data.test_subset
