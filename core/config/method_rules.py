"""Which settings of the Sec. 6 switches (objective, negatives, target encoder) mean something together.

Called by core.config.hyperparameters.check_consistency, so a combination that means nothing is refused when the config
is resolved, before any run directory or model exists; each message names the keys involved. Each key's own range
(temperature, queue size, momentum, ...) is core.config.hyperparameters.RANGES'. Imports no torch and nothing of
core.config.hyperparameters (it reads the config's attributes only).
"""
from __future__ import annotations

from core.schema.checks import ConfigError


def check_method_parts(cfg, source: str) -> None:
    loss, target, model = cfg.loss, cfg.target, cfg.model
    if loss.objective == "infonce" and loss.negatives == "none":
        raise ConfigError(f"{source}: 'loss.objective: infonce' needs negatives: set 'loss.negatives' to batch "
                          "(SimCLR) or queue (MoCo); without them its loss is 0 for any output")
    if loss.negatives != "none" and loss.objective != "infonce":
        raise ConfigError(f"{source}: 'loss.negatives: {loss.negatives}' is read by 'loss.objective: infonce' only "
                          f"(got objective {loss.objective!r})")
    if loss.similarity != "cosine" and loss.objective != "similarity":
        raise ConfigError(f"{source}: 'loss.similarity: {loss.similarity}' is the D of 'loss.objective: similarity'; "
                          f"objective {loss.objective!r} has its own similarity")
    if loss.negatives == "queue" and loss.queue_size < 2 * cfg.optim.batch_size:
        raise ConfigError(f"{source}: 'loss.queue_size' ({loss.queue_size}) must hold one step's keys, "
                          f"2 x 'optim.batch_size' = {2 * cfg.optim.batch_size}")
    if loss.negatives == "queue" and loss.symmetry == "asym2x":
        raise ConfigError(f"{source}: 'loss.negatives: queue' with 'loss.symmetry: asym2x' is not implemented "
                          "(use sym or asym)")

    sec52 = target.k_steps != 1 or target.eta != "network"
    if target.momentum > 0:
        if not model.stop_grad:
            raise ConfigError(f"{source}: 'target.momentum' > 0 (a momentum copy as target encoder) with "
                              "'model.stop_grad: false' means nothing: the copy is never trained by gradient")
        if sec52:
            raise ConfigError(f"{source}: 'target.momentum' > 0 and the Sec. 5.2 targets ('target.k_steps' != 1 or "
                              "'target.eta: moving_average') are two different target encoders; set one of them")
    if sec52 and loss.objective != "similarity":
        raise ConfigError(f"{source}: the Sec. 5.2 targets ('target.k_steps', 'target.eta') replace z in D(p, z); "
                          f"'loss.objective: {loss.objective}' does not read them")
