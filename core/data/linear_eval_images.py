"""Images for the paper's linear evaluation (App. A; official main_lincls.py), from the run's own data source.

    training   RandomResizedCrop(size, scale (eval.lincls_crop_scale_min, 1), ratio (3/4, 4/3)), horizontal
               flip p 0.5, normalize: nothing else (no colour, no blur)
    testing    resize the shorter side to round(size x 256/224), centre crop size x size, normalize (at 224 px:
               main_lincls.py's Resize(256) + CenterCrop(224))

An image folder (core.data.batches.FolderSource) crops in its DataLoader workers with torchvision's transforms, each
image's crop drawn from (seed, step, position in the batch) as pre-training's are; an in-memory data set crops
and flips on the device with core.data.augment, one draw per image from (seed, step). Either way an epoch's order and
its crops depend on the seed only, so a stage resumed mid-epoch sees the images it would have seen.

Batches are lincls_batch images (the last of an epoch smaller: main_lincls.py keeps it); data-parallel rank r of
W takes the r-th of W near-equal parts of each (possibly none), and the test split is dealt out likewise.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import torch

from core.config.hyperparameters import AugmentConfig, Config
from core.data import augment
from core.data.batches import ArraySource, FolderSource, SeededCrops, _mix
from core.data.loader_workers import batches, loader

SALT = 0x11C15                    # seeds of this stage differ from pre-training's at the same (seed, epoch, step)


def train_augment(cfg: Config) -> AugmentConfig:
    """main_lincls.py's training augmentation as an AugmentConfig: crop at (scale_min, 1) and flip, nothing else."""
    return dataclasses.replace(AugmentConfig(), crop_scale_min=cfg.eval.lincls_crop_scale_min, crop_scale_max=1.0,
                               crop_ratio_min=3 / 4, crop_ratio_max=4 / 3, flip_p=0.5, jitter_p=0.0,
                               grayscale_p=0.0, blur_p=0.0)


def resize_size(size: int) -> int:
    """The shorter side before the centre crop: 256 for 224 (main_lincls.py), in proportion at other sizes."""
    return round(size * 256 / 224)


def folder_train_transform(cfg: Config):
    """An image folder's training crop, in the workers: PIL -> uint8 (C, size, size), cropped and flipped."""
    from torchvision.transforms import v2
    a = train_augment(cfg)
    return v2.Compose([v2.PILToTensor(),
                       v2.RandomResizedCrop(cfg.data.image_size, scale=(a.crop_scale_min, a.crop_scale_max),
                                            ratio=(a.crop_ratio_min, a.crop_ratio_max), antialias=True),
                       v2.RandomHorizontalFlip(a.flip_p)])


class LinclsImages:
    def __init__(self, source: ArraySource | FolderSource, cfg: Config, rank: int = 0, world: int = 1):
        self.source, self.cfg, self.rank, self.world = source, cfg, rank, world
        self.batch_size = cfg.eval.lincls_batch
        self.n_train = source.n_train
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self.size = cfg.data.image_size
        self.folder = isinstance(source, FolderSource)
        self.augment = train_augment(cfg)
        self._gen = torch.Generator(device=source.device)
        if self.folder:
            self.crops = SeededCrops(source.train.folder, folder_train_transform(cfg), n_views=1)

    def _steps(self, epoch: int, start: int) -> list[torch.Tensor]:
        """This rank's image indices for the steps start.. of `epoch` (a tensor each, possibly empty)."""
        perm = torch.randperm(self.n_train, generator=torch.Generator().manual_seed(_mix(self.cfg.run.seed, SALT,
                                                                                           epoch)))
        return [torch.tensor_split(perm[i * self.batch_size:(i + 1) * self.batch_size], self.world)[self.rank]
                for i in range(start, self.steps_per_epoch)]

    def batch_len(self, step_in_epoch: int) -> int:
        """Images in the whole batch of that step, over all ranks (the last one of an epoch may be short)."""
        return min(self.batch_size, self.n_train - step_in_epoch * self.batch_size)

    def train_epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x, y) of this rank's share of each step start.. of `epoch`: x (b, C, size, size) normalized, y (b,)."""
        seed, steps_per_epoch, dev = self.cfg.run.seed, self.steps_per_epoch, self.source.device
        shares = self._steps(epoch, start)
        empty = (torch.zeros(0, self.source.channels, self.size, self.size, device=dev),
                 torch.zeros(0, dtype=torch.long, device=dev))      # a rank's share of a short last batch: none
        if not self.folder:
            for i, idx in enumerate(shares, start=start):
                if not len(idx):
                    yield empty
                    continue
                idx = idx.to(dev)
                self._gen.manual_seed(_mix(seed, SALT, epoch * steps_per_epoch + i, self.rank))
                x = augment.augment(self.source.x_train[idx], self.augment, self.size, self._gen)
                yield self.source.normalize(x), self.source.y_train[idx]
            return
        # positions in the whole batch name each crop's seed, so the rank count does not change the crops
        items = []
        for i, idx in enumerate(shares, start=start):
            first = sum(len(s) for s in torch.tensor_split(torch.arange(self.batch_len(i)), self.world)[:self.rank])
            step = epoch * steps_per_epoch + i
            items.append([(int(j), _mix(seed, SALT, step, first + p)) for p, j in enumerate(idx)])
        crops_of = batches(loader(self.crops, self.source.workers, batch_sampler=[b for b in items if b],
                                  pin_memory=dev.type == "cuda"))
        for batch in items:
            if not batch:
                yield empty
                continue
            (crops,), y = next(crops_of)
            yield self.source.normalize(augment.to_float(crops.to(dev, non_blocking=True))), y.to(dev)

    def test_batches(self, batch_size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's part of the test split, resized and centre-cropped, normalized: (x, y) batches."""
        dev = self.source.device
        if self.folder:                                          # FolderSource's test transform: resize + crop
            part = torch.utils.data.Subset(self.source.test, range(self.rank, self.source.n_test, self.world))
            tests = loader(part, self.source.workers, batch_size=batch_size, pin_memory=dev.type == "cuda")
            for x, y in batches(tests):
                yield self.source.normalize(augment.to_float(x.to(dev, non_blocking=True))), y.to(dev)
            return
        xs, ys = self.source.x_test[self.rank::self.world], self.source.y_test[self.rank::self.world]
        side = resize_size(self.size)
        for i in range(0, len(xs), batch_size):
            x = torch.nn.functional.interpolate(augment.to_float(xs[i:i + batch_size]), size=(side, side),
                                                mode="bilinear", antialias=True, align_corners=False)
            top = (side - self.size) // 2
            yield self.source.normalize(x[..., top:top + self.size, top:top + self.size]), ys[i:i + batch_size]
