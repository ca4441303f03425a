"""The datasets the tool knows by name: bundled digits (offline), torchvision's sets, and
``folder:PATH`` (``nas.folders``), loaded onto the CPU as a ``Dataset``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nas.dataset import Dataset, as_nchw, check_resolutions, make_dataset
from nas.folders import load_folder
from nas.paths import DEFAULT_DATA_DIR


def load_digits() -> Dataset:
    """scikit-learn's digits, bundled with it: 1,797 8x8 images, pixels 0..16."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = np.round(digits.images[:, None] * (255 / 16)).astype(np.uint8)  # 17 levels, kept distinct
    return make_dataset("digits", (images, digits.target), None, hflip=False, resolutions=(8, 12, 16))


@dataclass(frozen=True)
class TorchvisionSet:
    """A torchvision dataset with its own train and test splits, read from (or downloaded to) a folder."""

    cls_name: str
    hflip: bool  # whether a horizontal flip keeps the label
    resolutions: tuple[int, ...]
    named_splits: bool = False  # SVHN takes split="train" rather than train=True

    def load(self, data_dir: Path, download: bool) -> Dataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, self.cls_name)
        root = data_dir / self.cls_name.lower()
        try:
            train, test = (cls(str(root), download=download, **({"split": split} if self.named_splits else
                                                                 {"train": split == "train"}))
                           for split in ("train", "test"))  # fmt: skip
        except (RuntimeError, OSError) as exc:
            hint = "" if download else " (downloads are off: drop --no-download)"
            raise ValueError(f"{self.cls_name} is not in {root} and could not be downloaded{hint}: {exc}") from None
        return make_dataset(self.cls_name.lower(), _arrays(train), _arrays(test), hflip=self.hflip,
                            resolutions=self.resolutions)  # fmt: skip


def _arrays(ds) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 (a torchvision dataset)
    labels = getattr(ds, "targets", None)
    return as_nchw(np.asarray(ds.data)), np.asarray(ds.labels if labels is None else labels)


TORCHVISION = {
    "mnist": TorchvisionSet("MNIST", hflip=False, resolutions=(14, 21, 28)),
    "fashion-mnist": TorchvisionSet("FashionMNIST", hflip=True, resolutions=(14, 21, 28)),
    "cifar10": TorchvisionSet("CIFAR10", hflip=True, resolutions=(16, 24, 32)),
    "cifar100": TorchvisionSet("CIFAR100", hflip=True, resolutions=(16, 24, 32)),
    "svhn": TorchvisionSet("SVHN", hflip=False, resolutions=(16, 24, 32), named_splits=True),
}
DATASETS = ("digits", *TORCHVISION)  # and folder:PATH


def check_dataset_name(name: str) -> str:
    """Validate a --dataset value without loading anything."""
    if name in DATASETS or (name.startswith("folder:") and len(name) > len("folder:")):
        return name
    raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)} or folder:PATH")


def load_dataset(
    name: str,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    download: bool = True,
    *,
    resolutions: Sequence[int] | None = None,
    hflip: bool | None = None,
    channels: int | None = None,
    memory_limit: int | None = None,
) -> Dataset:
    """Load a dataset by name (``digits``, ``cifar10``, ..., ``folder:PATH``) onto the CPU.
    ``resolutions`` and ``hflip`` replace the dataset's own choices; ``channels`` and
    ``memory_limit`` apply to image folders."""
    check_dataset_name(name)
    if name.startswith("folder:"):
        return load_folder(name[len("folder:") :], resolutions=resolutions, hflip=hflip, channels=channels,
                           memory_limit=memory_limit)  # fmt: skip
    data = load_digits() if name == "digits" else TORCHVISION[name].load(Path(data_dir), download)
    if resolutions:
        data = replace(data, resolutions=check_resolutions(resolutions))
    return data if hflip is None else replace(data, hflip=hflip)
