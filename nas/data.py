"""Datasets as tensors on the device: bundled digits, torchvision sets, image folders.

Every dataset is split once, deterministically, into train / validation / test. The search
trains on train and scores on validation; only ``nas.export --train-epochs`` touches test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas.cli import DEFAULT_DATA_DIR

SPLIT_SEED = 0  # fixed: every trial of every study on a dataset sees the same split
VAL_FRACTION = 0.2  # of the training data
TEST_FRACTION = 0.2  # where a dataset has no test split of its own (digits, single-tree folders)
FOLDER_RES = 32  # image-folder pictures are resized to this square size on loading


@dataclass
class Dataset:
    """Normalised float images (N, C, H, W) and integer labels, one tensor per split."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]  # per-channel normalisation applied to pixels in [0, 1]
    std: tuple[float, ...]
    hflip: bool  # whether a horizontal flip keeps the label (not for digits)
    resolutions: tuple[int, ...]  # input sizes the search may pick (MobileNet's resolution knob)
    _resized: dict = field(default_factory=dict, repr=False)

    @property
    def in_chs(self) -> int:
        return self.train_x.shape[1]

    @property
    def native_resolution(self) -> int:
        return self.train_x.shape[-1]

    def to(self, device: torch.device | str) -> Dataset:
        moved = {k: getattr(self, k).to(device) for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        return Dataset(
            self.name, **moved, num_classes=self.num_classes, mean=self.mean, std=self.std,
            hflip=self.hflip, resolutions=self.resolutions,
        )  # fmt: skip

    def split(self, name: str, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images of one split ('train', 'val', 'test') at a resolution, resized once and cached."""
        key = (name, resolution)
        if key not in self._resized:
            x = getattr(self, f"{name}_x")
            if x.shape[-1] != resolution:
                x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True)
            self._resized[key] = x.contiguous()
        return self._resized[key], getattr(self, f"{name}_y")


def holdout_split(labels: np.ndarray, fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (keep, holdout) index arrays: ``fraction`` of each class held out."""
    rng = np.random.default_rng(seed)
    keep, hold = [], []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_hold = int(round(len(idx) * fraction)) if len(idx) > 1 else 0
        hold.append(idx[:n_hold])
        keep.append(idx[n_hold:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(hold))


def _as_nchw(images: np.ndarray) -> np.ndarray:
    """uint8 images as (N, C, H, W) floats in [0, 1]; accepts NHW, NHWC and NCHW."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    return x.astype(np.float32) / 255.0


def make_dataset(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None,
    *,
    hflip: bool,
    resolutions: tuple[int, ...],
) -> Dataset:
    """Carve test (if missing) and validation splits, normalise with training statistics."""
    x, y = np.asarray(train[0], np.float32), np.asarray(train[1], np.int64)
    if test is None:
        keep, hold = holdout_split(y, TEST_FRACTION)
        test = (x[hold], y[hold])
        x, y = x[keep], y[keep]
    keep, hold = holdout_split(y, VAL_FRACTION, SPLIT_SEED + 1)
    num_classes = int(max(y.max(), np.max(test[1])) + 1)
    if len(np.unique(y)) < 2:
        raise ValueError(f"dataset {name!r} needs at least 2 classes, found {len(np.unique(y))}")
    mean = x[keep].mean(axis=(0, 2, 3))
    std = x[keep].std(axis=(0, 2, 3)) + 1e-6

    def tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((images - mean[:, None, None]) / std[:, None, None]).float()

    def labels(ys: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(ys, np.int64))

    return Dataset(
        name, tensor(x[keep]), labels(y[keep]), tensor(x[hold]), labels(y[hold]),
        tensor(np.asarray(test[0], np.float32)), labels(test[1]), num_classes,
        tuple(float(m) for m in mean), tuple(float(s) for s in std), hflip, resolutions,
    )  # fmt: skip


def _digits(data_dir: Path, download: bool) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()  # ships with scikit-learn: 1,797 8x8 images, pixels 0..16
    images = digits.images[:, None].astype(np.float32) / 16.0
    return make_dataset("digits", (images, digits.target), None, hflip=False, resolutions=(8, 12, 16))


def _torchvision(cls_name: str, *, hflip: bool, resolutions: tuple[int, ...], split_kw: bool = False):
    def load(data_dir: Path, download: bool) -> Dataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        root = data_dir / cls_name.lower()
        try:
            if split_kw:  # SVHN names its splits
                train = cls(str(root), split="train", download=download)
                test = cls(str(root), split="test", download=download)
            else:
                train = cls(str(root), train=True, download=download)
                test = cls(str(root), train=False, download=download)
        except (RuntimeError, OSError) as exc:
            hint = "" if download else " (downloads are off: drop --no-download)"
            raise ValueError(f"{cls_name} is not in {root} and could not be downloaded{hint}: {exc}") from None

        def arrays(ds) -> tuple[np.ndarray, np.ndarray]:
            labels = getattr(ds, "targets", None)
            labels = ds.labels if labels is None else labels
            return _as_nchw(np.asarray(ds.data)), np.asarray(labels)

        return make_dataset(cls_name.lower(), arrays(train), arrays(test), hflip=hflip, resolutions=resolutions)

    return load


def _read_folder(root: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    from torchvision.datasets import ImageFolder

    try:
        tree = ImageFolder(str(root))
    except (FileNotFoundError, RuntimeError) as exc:
        raise ValueError(f"image folder {root} has no class folders with images: {exc}") from None
    images = [_read_image(tree.loader, path) for path, _ in tree.samples]
    return tree.classes, _as_nchw(np.stack(images)), np.asarray(tree.targets)


def _read_image(loader: Callable, path: str) -> np.ndarray:
    """One picture as a FOLDER_RES-square uint8 RGB array; ValueError naming a file PIL cannot read."""
    from PIL import UnidentifiedImageError
    from torchvision.transforms import functional as TF

    try:
        return np.asarray(TF.resize(loader(path).convert("RGB"), [FOLDER_RES, FOLDER_RES]), np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:  # PIL raises SyntaxError for some broken files
        raise ValueError(f"{path} is not a readable image ({type(exc).__name__}); remove it or fix it") from None


def load_folder(path: str) -> Dataset:
    """An image-folder tree (one sub-folder per class), or ``train/`` + ``test/`` trees."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes, x, y = _read_folder(root / "train")
        test_classes, tx, ty = _read_folder(root / "test")
        if test_classes != classes:
            raise ValueError(f"image folder {root}: train classes {classes} differ from test classes {test_classes}")
        test = (tx, ty)
    else:
        classes, x, y = _read_folder(root)
        test = None
    if len(classes) < 2:
        raise ValueError(f"image folder {root} needs at least 2 class folders, found {classes}")
    return make_dataset(f"folder:{root.name}", (x, y), test, hflip=True, resolutions=(16, 24, 32))


DATASETS: dict[str, Callable[[Path, bool], Dataset]] = {
    "digits": _digits,
    "mnist": _torchvision("MNIST", hflip=False, resolutions=(14, 21, 28)),
    "fashion-mnist": _torchvision("FashionMNIST", hflip=True, resolutions=(14, 21, 28)),
    "cifar10": _torchvision("CIFAR10", hflip=True, resolutions=(16, 24, 32)),
    "cifar100": _torchvision("CIFAR100", hflip=True, resolutions=(16, 24, 32)),
    "svhn": _torchvision("SVHN", hflip=False, resolutions=(16, 24, 32), split_kw=True),
}


def check_dataset_name(name: str) -> str:
    """Validate a --dataset value without loading anything."""
    if name in DATASETS or (name.startswith("folder:") and len(name) > len("folder:")):
        return name
    raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)} or folder:PATH")


def load_dataset(name: str, data_dir: str | Path = DEFAULT_DATA_DIR, download: bool = True) -> Dataset:
    """Load a dataset by name (``digits``, ``cifar10``, ..., ``folder:PATH``) onto the CPU."""
    check_dataset_name(name)
    if name.startswith("folder:"):
        return load_folder(name[len("folder:") :])
    return DATASETS[name](Path(data_dir), download)
