"""Raw image data as uint8 tensors (small sets) or folder datasets (ImageNet-style).

Small data sets (Fashion-MNIST, CIFAR-10/100, synthetic) are decoded once into
(N, C, H, W) uint8 tensors; the batch pipeline keeps them on the device.
"""
from __future__ import annotations

import gzip
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.config.hyperparameters import DataConfig

FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package `dataset-fashion-mnist`
CACHE_DIR = Path(os.environ.get("SIMSIAM_DATA", Path.home() / ".cache" / "simsiam-harness"))


class DataError(RuntimeError):
    """A data set is missing or malformed; the message says how to get it."""


@dataclass
class ImageArrays:
    x_train: torch.Tensor  # (N, C, H, W) uint8
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]


# ---- Fashion-MNIST -------------------------------------------------------------------------------

_FMNIST_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
                 "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz): magic (2 zero bytes, dtype 0x08, ndim), big-endian dims, uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if raw[:3] != b"\x00\x00\x08":
        raise DataError(f"{path}: not a uint8 IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise DataError(f"{path}: truncated IDX file ({data.size} of {math.prod(dims)} bytes)")
    return data.reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        for sub in ("", "FashionMNIST/raw"):
            if (directory / sub / name).is_file():
                return directory / sub / name
    return None


def load_fashion_mnist(cfg: DataConfig) -> ImageArrays:
    candidates = [Path(cfg.root)] if cfg.root else [Path(FASHION_MNIST_SYSTEM_DIR), CACHE_DIR / "fashion-mnist"]
    for directory in candidates:
        paths = {k: _find_idx(directory, stem) for k, stem in _FMNIST_FILES.items()}
        if all(paths.values()):
            arr = {k: torch.from_numpy(read_idx(p).copy()) for k, p in paths.items()}
            return ImageArrays(arr["x_train"][:, None], arr["y_train"].long(), arr["x_test"][:, None],
                               arr["y_test"].long(), num_classes=10)
    if cfg.download:
        import torchvision
        root = Path(cfg.root) if cfg.root else CACHE_DIR / "fashion-mnist"
        for train in (True, False):
            torchvision.datasets.FashionMNIST(root, train=train, download=True)
        return load_fashion_mnist(DataConfig(dataset="fashion_mnist", root=str(root)))
    raise DataError(
        f"Fashion-MNIST not found (looked in {', '.join(map(str, candidates))}). Get it with "
        "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass --data-root DIR holding the four "
        "idx files, or allow a download with --set data.download=true.")


# ---- CIFAR ----------------------------------------------------------------------------------------

def load_cifar(cfg: DataConfig) -> ImageArrays:
    import torchvision
    cls = torchvision.datasets.CIFAR10 if cfg.dataset == "cifar10" else torchvision.datasets.CIFAR100
    root = Path(cfg.root) if cfg.root else CACHE_DIR / cfg.dataset
    try:
        train, test = (cls(root, train=t, download=cfg.download) for t in (True, False))
    except RuntimeError as err:                # torchvision's "not found or corrupted": make_source says which
        raise DataError(f"{cfg.dataset} could not be loaded from {root}: {err}") from None

    def to_tensor(ds):  # (N, 32, 32, 3) uint8 -> (N, 3, 32, 32)
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets).long()

    (xtr, ytr), (xte, yte) = to_tensor(train), to_tensor(test)
    return ImageArrays(xtr, ytr, xte, yte, num_classes=len(train.classes))


# ---- synthetic (tests only) -----------------------------------------------------------------------

SYNTHETIC_SIZES = (1000, 200)          # training and test images of the synthetic set


def make_synthetic(size: int, n_train: int = SYNTHETIC_SIZES[0], n_test: int = SYNTHETIC_SIZES[1], classes: int = 10,
                   seed: int = 0) -> ImageArrays:
    """Gratings whose orientation and frequency encode the class, with random phase and noise; 1 channel.

    Learnable by a tiny network in a few steps, so tests can tell a trained network from an untrained one.
    """
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")

    def draw(n):
        y = torch.arange(n) % classes
        angle = (y.float() / classes * math.pi)[:, None, None]
        freq = (2.0 + (y % 3).float() * 1.5)[:, None, None]
        phase = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
        img = torch.sin(freq * math.pi * (xx * angle.cos() + yy * angle.sin()) + phase)
        img = img + 0.3 * torch.randn(n, size, size, generator=g)
        x = ((img.clamp(-1.5, 1.5) + 1.5) / 3 * 255).round().to(torch.uint8)
        return x[:, None], y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return ImageArrays(xtr, ytr, xte, yte, num_classes=classes)


# ---- subsets and dispatch -------------------------------------------------------------------------

def stratified_subset(y: torch.Tensor, n: int, num_classes: int) -> torch.Tensor:
    """Indices of the first ceil(n / classes) images of each class (in file order), n in total, sorted."""
    if n <= 0 or n >= len(y):
        return torch.arange(len(y))
    per_class = math.ceil(n / num_classes)
    idx = torch.cat([(y == c).nonzero().flatten()[:per_class] for c in range(num_classes)])
    return idx.sort().values[:n]


def load_arrays(cfg: DataConfig) -> ImageArrays:
    """Load a small data set as uint8 tensors, with the configured subsets applied."""
    if cfg.dataset == "fashion_mnist":
        data = load_fashion_mnist(cfg)
    elif cfg.dataset in ("cifar10", "cifar100"):
        data = load_cifar(cfg)
    elif cfg.dataset == "synthetic":
        data = make_synthetic(cfg.image_size)
    else:
        raise ValueError(f"{cfg.dataset} is not an in-memory data set")
    tr = stratified_subset(data.y_train, cfg.train_subset, data.num_classes)
    te = stratified_subset(data.y_test, cfg.test_subset, data.num_classes)
    return ImageArrays(data.x_train[tr], data.y_train[tr], data.x_test[te], data.y_test[te], data.num_classes)
