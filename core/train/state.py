"""The training loop's state between steps, typed: what `last.pt` keeps under "state", as a plain dict of plain
values (`to_dict`, `from_dict`), so a checkpoint holds no class of ours.

The per-step loss and z_std are summed on the device and copied here at logging points only (`pull`): one
host sync per log interval. Rows of the device tensor: since the last logging point, this epoch; columns:
loss, z_std. float64, so the sums are the same additions, in the same order, as Python-float sums.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch


@dataclass
class Sums:
    """Sums of the per-step loss and z_std over `n` steps."""
    loss: float = 0.0
    z_std: float = 0.0
    n: int = 0

    def means(self) -> dict:
        n = max(self.n, 1)
        return {"loss": self.loss / n, "z_std": self.z_std / n}

    def flush(self) -> dict:
        """The means, then start over."""
        out = self.means()
        self.loss, self.z_std, self.n = 0.0, 0.0, 0
        return out


@dataclass
class Below:
    """Consecutive logging points with z_std below the collapse floor, and the epoch the streak began."""
    points: int = 0
    since: float | None = None


@dataclass
class TrainState:
    step: int = 0                         # optimizer steps taken
    knn_acc_init: float | None = None     # kNN accuracy of the random network (None: not measured yet)
    init: dict | None = None              # the random network's monitors (knn_acc, backbone_std, backbone_erank)
    train_s: float = 0.0                  # seconds spent in training epochs
    wall_s: float = 0.0                   # wall seconds of the run up to this checkpoint, over every segment
    acc: Sums = field(default_factory=Sums)          # since the last logging point
    epoch_acc: Sums = field(default_factory=Sums)    # this epoch
    below: Below = field(default_factory=Below)      # collapse early stop (eval.collapse_patience)
    stopped_early: bool = False
    z_erank: float | None = None          # the last logged effective rank of z

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainState":
        """From a checkpoint's dict; keys an older checkpoint lacks take their defaults."""
        d = dict(d)
        for key, typ in (("acc", Sums), ("epoch_acc", Sums), ("below", Below)):
            if key in d:
                d[key] = typ(**d[key])
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def device_sums(self, device) -> torch.Tensor:
        """(2, 2) float64 on the device, rows acc and epoch_acc, columns loss and z_std."""
        return torch.tensor([[self.acc.loss, self.acc.z_std], [self.epoch_acc.loss, self.epoch_acc.z_std]],
                            dtype=torch.float64, device=device)

    def add_step(self) -> None:
        self.step += 1
        self.acc.n += 1
        self.epoch_acc.n += 1

    def pull(self, sums: torch.Tensor) -> bool:
        """Copy the device sums in (the one host sync per log interval); False if any was NaN/inf."""
        (a_loss, a_std), (e_loss, e_std) = sums.tolist()
        self.acc.loss, self.acc.z_std = a_loss, a_std
        self.epoch_acc.loss, self.epoch_acc.z_std = e_loss, e_std
        return all(math.isfinite(v) for v in (a_loss, a_std, e_loss, e_std))

    def note_row(self, row: dict, z_floor: float, patience: int) -> bool:
        """Track a logged row's z_std against the collapse floor; True once it stayed below for `patience` rows."""
        self.z_erank = row.get("z_erank", self.z_erank)
        if row["z_std"] < z_floor:
            self.below.points += 1
            self.below.since = row["epoch"] if self.below.since is None else self.below.since
        else:
            self.below.points, self.below.since = 0, None
        self.stopped_early = bool(patience) and self.below.points >= patience
        return self.stopped_early
