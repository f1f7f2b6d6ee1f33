"""Is the data there, and can it be read? Checked once per data set before any run starts (sweeps.prepare), so
a sweep never creates run directories for data it cannot load, and says which of the two is wrong:

    DataMissing      not found where the config points (data.root, or the data set's default places)
    DataUnreadable   there, but incomplete or corrupt (a truncated file, one failing torchvision's checksum,
                     a folder without images, an image that does not decode)

A data set that is missing but may be downloaded (data.download) is downloaded here, once, rather than by
every run at the same time. `check_data` returns how many training images a run would use (after
data.train_subset), `check_counts` the test images too (after data.test_subset), for the size checks
(core.config.sizes).
"""
from __future__ import annotations

from pathlib import Path

from core.config.hyperparameters import DataConfig
from core.data.raw_images import (_FMNIST_FILES, CACHE_DIR, FASHION_MNIST_SYSTEM_DIR, SYNTHETIC_SIZES, DataError,
                                  _find_idx, read_idx)


class DataMissing(DataError):
    """The data set is not where the config points; the message says where it looked and how to get it."""


class DataUnreadable(DataError):
    """The data set is there but cannot be read; the message names the file and what is wrong with it."""


def check_data(cfg: DataConfig, need: int = 0) -> int | None:
    """Raise DataMissing or DataUnreadable unless the data set loads; else the number of training images a run
    uses (`need`: for an image folder, counting may stop once that many are found; None when not counted)."""
    return check_counts(cfg, need)[0]


def check_counts(cfg: DataConfig, need: int = 0, need_test: int = 0) -> tuple[int | None, int | None]:
    """As check_data, and the number of test images a run uses (`need_test`: as `need`, for an image folder's
    val/): (training images, test images)."""
    if cfg.dataset == "fashion_mnist":
        train, test = _check_fashion_mnist(cfg)
    elif cfg.dataset in ("cifar10", "cifar100"):
        train, test = _check_cifar(cfg), 10000
    elif cfg.dataset == "folder":
        return _check_folder(cfg, need, need_test)
    else:
        train, test = SYNTHETIC_SIZES
    return _subset(cfg.train_subset, train), _subset(cfg.test_subset, test)


def _subset(subset: int, n: int) -> int:
    return min(subset, n) if subset > 0 else n


def _where(cfg: DataConfig, default: str) -> str:
    return f"data.root {cfg.root}" if cfg.root else default


# ---- Fashion-MNIST -------------------------------------------------------------------------------
def _check_fashion_mnist(cfg: DataConfig) -> int:
    candidates = [Path(cfg.root)] if cfg.root else [Path(FASHION_MNIST_SYSTEM_DIR), CACHE_DIR / "fashion-mnist"]
    found = {d: {k: _find_idx(d, stem) for k, stem in _FMNIST_FILES.items()} for d in candidates}
    complete = [d for d, paths in found.items() if all(paths.values())]
    if not complete:
        partial = [(d, [_FMNIST_FILES[k] for k, p in paths.items() if p is None])
                   for d, paths in found.items() if any(paths.values())]
        if partial:
            d, missing = partial[0]
            raise DataUnreadable(f"Fashion-MNIST in {d} is incomplete: {', '.join(missing)} missing (a download cut "
                                 "short?); delete the folder and download it again with --set data.download=true")
        if cfg.download:
            from core.data.raw_images import load_fashion_mnist
            data = load_fashion_mnist(cfg)                   # downloads into data.root (or the cache) once, here
            return len(data.y_train), len(data.y_test)
        if cfg.root:
            raise DataMissing(f"Fashion-MNIST not found in data.root {cfg.root}: it holds none of the four idx "
                              f"files ({', '.join(_FMNIST_FILES.values())}, optionally .gz). Check the path, or "
                              "allow a download there with --set data.download=true.")
        raise DataMissing(f"Fashion-MNIST not found (looked in {', '.join(map(str, candidates))}). Get it with "
                          "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass --data-root DIR "
                          "holding the four idx files, or allow a download with --set data.download=true.")
    sizes = {}
    for key, path in found[complete[0]].items():
        try:
            sizes[key] = len(read_idx(path))
        except DataError as err:
            raise DataUnreadable(f"Fashion-MNIST is there but not readable: {err}") from None
        except Exception as err:                     # a .gz that does not decompress (EOFError, zlib), no permission
            raise DataUnreadable(f"Fashion-MNIST is there but not readable: {path}: {err}") from None
    for split in ("train", "test"):
        if sizes[f"x_{split}"] != sizes[f"y_{split}"]:
            raise DataUnreadable(f"Fashion-MNIST in {complete[0]}: {sizes[f'x_{split}']} {split} images but "
                                 f"{sizes[f'y_{split}']} labels (files of two versions mixed?)")
    return sizes["x_train"], sizes["x_test"]


# ---- CIFAR -----------------------------------------------------------------------------------------
def _check_cifar(cfg: DataConfig) -> int:
    import torchvision
    from torchvision.datasets.utils import check_integrity
    cls = torchvision.datasets.CIFAR10 if cfg.dataset == "cifar10" else torchvision.datasets.CIFAR100
    root = Path(cfg.root) if cfg.root else CACHE_DIR / cfg.dataset
    base = root / cls.base_folder
    if not base.is_dir():
        if cfg.download:
            for train in (True, False):
                cls(root, train=train, download=True)            # here, once; then checked below
        else:
            what = f"no directory {root}" if not root.is_dir() else f"{root} has no {cls.base_folder}/"
            hint = ("check the path" if cfg.root else "pass --data-root DIR holding it")
            raise DataMissing(f"{cfg.dataset} not found ({what}; {_where(cfg, 'the default place')}): {hint}, or "
                              "allow a download with --set data.download=true.")
    for name, md5 in [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]:
        path = base / name
        if not path.is_file():
            raise DataUnreadable(f"{cfg.dataset} in {base} is incomplete: {name} is missing (a download cut short?); "
                                 "delete the folder and download it again with --set data.download=true")
        if not check_integrity(str(path), md5):
            raise DataUnreadable(f"{cfg.dataset} in {base} is there but corrupt: {name} fails torchvision's integrity "
                                 "check (md5); delete the folder and download it again with --set data.download=true")
    return 50000


# ---- image folders ---------------------------------------------------------------------------------
def _check_folder(cfg: DataConfig, need: int, need_test: int = 0) -> tuple[int | None, int | None]:
    if not cfg.root:
        raise DataMissing("data.dataset folder needs the folder: pass --data-root DIR with train/ and val/ class "
                          "folders")
    root = Path(cfg.root)
    missing = [s for s in ("train", "val") if not (root / s).is_dir()]
    if missing:
        what = f"no directory {root}" if not root.is_dir() else f"{root} has no {' or '.join(s + '/' for s in missing)}"
        raise DataMissing(f"image folder not found ({what}): data.dataset folder needs --data-root DIR with train/ "
                          "and val/ class folders")
    caps = {"train": need, "val": max(need_test, 1)}
    counts = {split: _count_images(root / split, caps[split]) for split in ("train", "val")}
    for split, n in counts.items():
        if n == 0:
            raise DataUnreadable(f"{root / split} holds no images in class folders (train/<class>/*.jpg, ...)")
        _open_one(root / split)
    return _counted(cfg.train_subset, counts["train"], need), _counted(cfg.test_subset, counts["val"], caps["val"])


def _counted(subset: int, n: int, need: int) -> int | None:
    """The images a run uses of `n` counted up to `need`: None when there are at least `need` and no subset says
    how many (more are not counted)."""
    if not need or n < need:                     # counted them all
        return _subset(subset, n)
    return subset if 0 < subset <= n else None


def _image_files(split_dir: Path):
    from torchvision.datasets.folder import IMG_EXTENSIONS
    for cls in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        for path in sorted(cls.rglob("*")):
            if path.suffix.lower() in IMG_EXTENSIONS and path.is_file():
                yield path


def _count_images(split_dir: Path, cap: int) -> int:
    """Images in class folders, counted up to `cap` (0: all)."""
    n = 0
    for _ in _image_files(split_dir):
        n += 1
        if cap and n >= cap:
            break
    return n


def _open_one(split_dir: Path) -> None:
    from PIL import Image
    path = next(_image_files(split_dir))
    try:
        with Image.open(path) as img:
            img.convert("RGB")
    except Exception as err:                     # PIL raises many kinds for a file that does not decode
        raise DataUnreadable(f"{path} is there but does not decode as an image ({type(err).__name__}: {err})") from None
