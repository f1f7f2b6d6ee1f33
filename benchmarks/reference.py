"""The official-style pipeline (facebookresearch/simsiam main_simsiam.py), rebuilt for timing.

Per image, in DataLoader worker processes: PIL image -> RandomResizedCrop -> RandomApply(ColorJitter) ->
RandomGrayscale -> RandomApply(GaussianBlur, PIL) -> RandomHorizontalFlip -> tensor -> Normalize, twice per
image (TwoCropsTransform); default collation, pinned memory, `.to(device, non_blocking=True)`. The step is
fp32 and NCHW, and reads `loss.item()` every step (the official code's `losses.update(loss.item(), ...)`).
The parameters come from the same AugmentConfig as our pipeline; only the machinery differs.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from PIL import Image, ImageFilter
from torchvision.transforms import v2

from core.config.hyperparameters import AugmentConfig


class PILGaussianBlur:
    """simsiam/loader.py GaussianBlur: PIL GaussianBlur(radius=sigma), sigma ~ U[sigma_min, sigma_max]."""

    def __init__(self, sigma_min: float, sigma_max: float):
        self.sigma = (sigma_min, sigma_max)

    def __call__(self, img: Image.Image) -> Image.Image:
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(*self.sigma)))


def official_transform(a: AugmentConfig, size: int, mean, std) -> v2.Compose:
    """The MoCo v2 / SimSiam augmentation list in the official order, one PIL image at a time."""
    ops = [v2.RandomResizedCrop(size, scale=(a.crop_scale_min, a.crop_scale_max),
                                ratio=(a.crop_ratio_min, a.crop_ratio_max))]
    if a.jitter_p > 0:
        ops.append(v2.RandomApply([v2.ColorJitter(a.brightness, a.contrast, a.saturation, a.hue)], p=a.jitter_p))
    if a.grayscale_p > 0:
        ops.append(v2.RandomGrayscale(p=a.grayscale_p))
    if a.blur_p > 0:
        ops.append(v2.RandomApply([PILGaussianBlur(a.blur_sigma_min, a.blur_sigma_max)], p=a.blur_p))
    if a.flip_p > 0:
        ops.append(v2.RandomHorizontalFlip(p=a.flip_p))
    ops += [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(ops)


class TwoCropsDataset(torch.utils.data.Dataset):
    """(N, C, H, W) uint8 images held as PIL-ready arrays; item i -> ([view1, view2], label)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        arr = x.cpu().numpy()
        self.images = arr[:, 0] if arr.shape[1] == 1 else np.ascontiguousarray(arr.transpose(0, 2, 3, 1))
        self.labels = y.cpu().numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.images[i])          # mode L (1 channel) or RGB
        return [self.transform(img), self.transform(img)], int(self.labels[i])


def official_loader(dataset: TwoCropsDataset, batch: int, workers: int, device: torch.device, seed: int = 0):
    """The official DataLoader settings (shuffle, pin_memory, drop_last), workers kept alive between epochs."""
    return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                       pin_memory=device.type == "cuda", drop_last=True,
                                       persistent_workers=workers > 0,
                                       generator=torch.Generator().manual_seed(seed))


def endless(loader):
    """Batches from `loader`, epoch after epoch."""
    while True:
        yield from loader
