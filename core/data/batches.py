"""Batches for training and evaluation.

`ArraySource` (small data sets): the uint8 images live on the device; each epoch's order is a permutation
drawn from (seed, epoch) and each step's augmentation from (seed, step), so a run resumed at any step
sees exactly the batches it would have seen uninterrupted. Both views are made by batched per-sample
augmentation (core.data.augment); no DataLoader.

Data-parallel runs (core.runtime.distributed): rank r of W takes the contiguous share [r*B/W, (r+1)*B/W) of each
step's batch of B from the same permutation, augmented from (seed, step, r); with W = 1, as above.

`FolderSource` (`data.dataset: folder`, any ImageNet-style image folder): `data.workers` DataLoader workers
decode and random-resized-crop each view to uint8, every image's crops drawn from (seed, step, position in
the batch), so a resumed epoch and any number of workers see the same crops; flips, colour and blur run
batched on the device. The workers leave the stop signals to the run's main process (core.data.loader_workers).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterator

import torch

from core.config.hyperparameters import Config
from core.data import augment
from core.data.loader_workers import batches, loader
from core.data.raw_images import DataError, ImageArrays, stratified_subset


def _mix(*xs: int) -> int:
    """A deterministic 63-bit seed from integers (seed, epoch) or (seed, step)."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = (h ^ (x + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2))) & 0x7FFFFFFFFFFFFFFF
    return h


def _share(batch_size: int, rank: int, world: int) -> slice:
    """Rank's contiguous part of a batch of `batch_size` (core.runtime.distributed.check_supported: W divides B)."""
    b = batch_size // world
    return slice(rank * b, (rank + 1) * b)


def _step_seed(seed: int, step: int, rank: int, world: int) -> int:
    return _mix(seed, step) if world == 1 else _mix(seed, step, rank)


def channel_stats(x_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std, (1, C, 1, 1), of uint8 images (N, C, H, W) scaled to [0, 1]: what ArraySource
    normalizes with (and sweeps.export records)."""
    x = x_train.float() / 255
    return x.mean(dim=(0, 2, 3)).view(1, -1, 1, 1), x.std(dim=(0, 2, 3)).view(1, -1, 1, 1)


class ArraySource:
    def __init__(self, data: ImageArrays, cfg: Config, device: torch.device, rank: int = 0, world: int = 1):
        self.cfg, self.device, self.rank, self.world = cfg, device, rank, world
        self.x_train, self.y_train = data.x_train.to(device), data.y_train.to(device)
        self.x_test, self.y_test = data.x_test.to(device), data.y_test.to(device)
        self.num_classes, self.channels = data.num_classes, data.channels
        self.n_train, self.n_test = len(data.y_train), len(data.y_test)
        mean, std = channel_stats(data.x_train)                             # per-channel, from the training set
        self.mean, self.std = mean.to(device), std.to(device)
        self.batch_size = cfg.optim.batch_size
        self.steps_per_epoch = len(self.x_train) // self.batch_size  # drop the last partial batch
        if self.steps_per_epoch == 0:
            raise DataError(f"batch size {self.batch_size} exceeds the {len(self.x_train)} training images")
        self._gen = torch.Generator(device=device)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def train_epoch(self, epoch: int, start: int = 0, n_pairs: int = 1) -> Iterator[tuple[list, torch.Tensor]]:
        """Yield ([(x1, x2)] * n_pairs normalized float views, image indices (B,)) for steps start.. of `epoch`
        (this rank's B/W of them in a data-parallel run)."""
        seed = self.cfg.run.seed
        perm = torch.randperm(len(self.x_train), generator=torch.Generator().manual_seed(_mix(seed, epoch)))
        perm = perm.to(self.device)                                           # once per epoch, not per step
        size, aug = self.cfg.data.image_size, self.cfg.augment
        share = _share(self.batch_size, self.rank, self.world)
        for i in range(start, self.steps_per_epoch):
            idx = perm[i * self.batch_size:(i + 1) * self.batch_size][share]
            x = self.x_train[idx]                                             # (B, C, H, W) uint8
            self._gen.manual_seed(_step_seed(seed, epoch * self.steps_per_epoch + i, self.rank, self.world))
            both = augment.augment(x, aug, size, self._gen, views=2 * n_pairs)  # every view in one pass
            views = [self.normalize(v) for v in both.chunk(2 * n_pairs)]
            yield list(zip(views[0::2], views[1::2])), idx

    def eval_batches(self, split: str, batch_size: int = 1024) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (x, y) without augmentation (resized to image_size if needed) for split 'train' or 'test'."""
        xs, ys = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        size = self.cfg.data.image_size
        for i in range(0, len(xs), batch_size):
            x = augment.to_float(xs[i:i + batch_size])
            if x.shape[-1] != size or x.shape[-2] != size:
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                                    align_corners=False)
            yield self.normalize(x), ys[i:i + batch_size]


def image_folder(path: Path, transform, subset: int):
    """torchvision's ImageFolder at `path`, cut to `subset` images (0 = all) as the in-memory data sets are:
    the first ceil(subset / classes) of each class in file order (core.data.raw_images.stratified_subset)."""
    import torchvision
    folder = torchvision.datasets.ImageFolder(path, transform=transform)
    keep = stratified_subset(torch.tensor(folder.targets), subset, len(folder.classes)).tolist()
    if len(keep) < len(folder.samples):
        folder.samples = folder.imgs = [folder.samples[i] for i in keep]
        folder.targets = [label for _, label in folder.samples]
    return folder


class SeededCrops(torch.utils.data.Dataset):
    """An image folder whose item (index, seed) is ([n_views uint8 crops], label), the crops drawn from `seed`
    alone (the worker's global RNG is forked, not consumed), whichever worker process makes them."""

    def __init__(self, folder, crop, n_views: int):
        self.folder, self.crop, self.n_views = folder, crop, n_views

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, item: tuple[int, int]):
        index, seed = item
        image, label = self.folder[index]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return [self.crop(image) for _ in range(self.n_views)], label


class FolderSource:
    """ImageNet-style `root/train/<class>/*.jpg` and `root/val/<class>/*.jpg`."""

    MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet statistics

    def __init__(self, cfg: Config, device: torch.device, n_pairs: int = 1, rank: int = 0, world: int = 1):
        from torchvision.transforms import v2
        root = Path(cfg.data.root)
        if not cfg.data.root or not (root / "train").is_dir() or not (root / "val").is_dir():
            raise DataError(f"data.dataset folder needs --data-root DIR with train/ and val/ class folders "
                            f"(got '{cfg.data.root}')")
        self.cfg, self.device, self.workers, self.rank, self.world = cfg, device, cfg.data.workers, rank, world
        size, a = cfg.data.image_size, cfg.augment
        crop = v2.Compose([v2.PILToTensor(), v2.RandomResizedCrop(size, scale=(a.crop_scale_min, a.crop_scale_max),
                                                                  ratio=(a.crop_ratio_min, a.crop_ratio_max),
                                                                  antialias=True)])
        resize = v2.Compose([v2.PILToTensor(), v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)])
        folder = image_folder(root / "train", None, cfg.data.train_subset)      # scanned once, used twice:
        self.train = SeededCrops(folder, crop, 2 * n_pairs)
        self.train_plain = copy.copy(folder)                                     # the kNN bank, same images
        self.train_plain.transform = resize
        self.test = image_folder(root / "val", resize, cfg.data.test_subset)
        self.num_classes, self.channels = len(self.train.folder.classes), 3
        self.n_train, self.n_test = len(self.train), len(self.test)
        self.mean = torch.tensor(self.MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(self.STD, device=device).view(1, 3, 1, 1)
        self.batch_size = cfg.optim.batch_size
        self.steps_per_epoch = len(self.train) // self.batch_size
        self._gen = torch.Generator(device=device)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def train_epoch(self, epoch: int, start: int = 0, n_pairs: int = 1):
        """As ArraySource.train_epoch; the crops come from the workers (2 * n_pairs given at construction)."""
        seed, steps_per_epoch = self.cfg.run.seed, self.steps_per_epoch
        perm = torch.randperm(len(self.train), generator=torch.Generator().manual_seed(_mix(seed, epoch)))
        steps = perm[start * self.batch_size: steps_per_epoch * self.batch_size].view(-1, self.batch_size)
        share = _share(self.batch_size, self.rank, self.world)
        order = steps[:, share].reshape(-1)                                   # this rank's shares
        # (image, crop seed) in loading order, drawn lazily (k-step's second pass reads only a block of them);
        # the seed names the step and the position in the whole batch
        items = ((index, _mix(seed, epoch * steps_per_epoch + i, pos))
                 for i, row in enumerate(steps.tolist(), start=start)
                 for pos, index in zip(range(share.start, share.stop), row[share]))
        b = self.batch_size // self.world
        crops_of = loader(self.train, self.workers, batch_size=b, sampler=items, pin_memory=self.device.type == "cuda",
                          drop_last=True)
        for i, (crops, _) in enumerate(batches(crops_of), start=start):
            self._gen.manual_seed(_step_seed(seed, epoch * steps_per_epoch + i, self.rank, self.world))
            crops = torch.cat([v.to(self.device, non_blocking=True) for v in crops[:2 * n_pairs]])
            views = augment.photometric(augment.to_float(crops), self.cfg.augment, self._gen, views=2 * n_pairs)
            views = [self.normalize(v) for v in views.chunk(2 * n_pairs)]
            idx = order[(i - start) * b:(i - start + 1) * b].to(self.device)
            yield list(zip(views[0::2], views[1::2])), idx

    def eval_batches(self, split: str, batch_size: int = 256):
        ds = self.train_plain if split == "train" else self.test
        for x, y in batches(loader(ds, self.workers, batch_size=batch_size, pin_memory=self.device.type == "cuda")):
            yield self.normalize(augment.to_float(x.to(self.device, non_blocking=True))), y.to(self.device)


def make_source(cfg: Config, device: torch.device, n_pairs: int = 1, rank: int = 0, world: int = 1):
    if cfg.data.dataset == "folder":
        return FolderSource(cfg, device, n_pairs, rank=rank, world=world)
    from core.data.raw_images import load_arrays
    try:
        data = load_arrays(cfg.data)
    except DataError:                          # missing, or there but unreadable: say which (core.data.data_checks)
        from core.data.data_checks import check_data
        check_data(cfg.data)
        raise
    return ArraySource(data, cfg, device, rank, world)
