"""Datasets as tensors on the device: bundled digits, torchvision sets, image folders.

Every dataset is split once, deterministically, into train / validation / test. The search
trains on train and scores on validation; only ``nas.export --train-epochs`` touches test.
Images are held as uint8 (a quarter of float32's memory) and scaled and normalised per batch.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas.cli import DEFAULT_DATA_DIR
from nas.cost import human

SPLIT_SEED = 0  # fixed: every trial of every study on a dataset sees the same split
VAL_FRACTION = 0.2  # of the training data
TEST_FRACTION = 0.2  # where a dataset has no test split of its own (digits, single-tree folders)
# Image folders keep their pictures' own size (the median shorter side), up to this by default:
# larger inputs make every proxy trial slow; --resolutions asks for more, up to MAX_RESOLUTION.
FOLDER_DEFAULT_MAX = 128
MAX_RESOLUTION = 512
MIN_RESOLUTION = 8
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}  # PIL modes kept as one channel
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
RESIZE_CHUNK = 1024  # images resized at a time: bounds the float copy F.interpolate needs
MEMORY_SHARE = 0.8  # of the memory available now, what a dataset may take by default


@dataclass
class Dataset:
    """uint8 images (N, C, H, W) and integer labels, one tensor per split; ``scale`` turns a
    batch into normalised floats."""

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
    note: str = ""  # how the images were read and the resolutions chosen, for the progress line
    _resized: dict = field(default_factory=dict, repr=False)
    _norm: dict = field(default_factory=dict, repr=False)

    @property
    def in_chs(self) -> int:
        return self.train_x.shape[1]

    @property
    def native_resolution(self) -> int:
        return self.train_x.shape[-1]

    def to(self, device: torch.device | str) -> Dataset:
        moved = {k: getattr(self, k).to(device) for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        return replace(self, **moved, _resized={}, _norm={})

    def describe(self) -> str:
        """One line: images, channels, size, resolutions searched, flips."""
        n = len(self.train_x) + len(self.val_x) + len(self.test_x)
        return (
            f"dataset {self.name}: {n:,} images, {self.num_classes} classes, {self.in_chs} channel"
            f"{'s' if self.in_chs > 1 else ''} at {self.native_resolution} px; resolutions "
            f"{','.join(map(str, self.resolutions))}; horizontal flips {'on' if self.hflip else 'off'}"
            f"{f' ({self.note})' if self.note else ''}"
        )

    def split(self, name: str, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images of one split ('train', 'val', 'test') at a resolution, resized once and
        cached, and its labels."""
        key = (name, resolution)
        if key not in self._resized:
            self._resized[key] = resize_uint8(getattr(self, f"{name}_x"), resolution)
        return self._resized[key], getattr(self, f"{name}_y")

    def prepare(self, splits: Sequence[str]) -> None:
        """Resize ``splits`` to every resolution now (the memory check counted these copies)."""
        for name in splits:
            for resolution in self.resolutions:
                self.split(name, resolution)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """A uint8 batch as normalised floats: (x / 255 - mean) / std per channel."""
        if x.device not in self._norm:
            mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1) * 255
            std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1) * 255
            self._norm[x.device] = (mean, std)
        mean, std = self._norm[x.device]
        return (x.float() - mean) / std


def resize_uint8(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Square uint8 images resized (bilinear, antialiased) in chunks: never a float copy of all."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x.contiguous()
    out = torch.empty((*x.shape[:2], resolution, resolution), dtype=torch.uint8, device=x.device)
    for i in range(0, len(x), RESIZE_CHUNK):
        chunk = F.interpolate(x[i : i + RESIZE_CHUNK].float(), size=(resolution, resolution), mode="bilinear",
                              antialias=True)  # fmt: skip
        out[i : i + RESIZE_CHUNK] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


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
    """uint8 images as (N, C, H, W) uint8; accepts NHW, NHWC and NCHW."""
    x = np.asarray(images, np.uint8)
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 images in [0, 1] units, in chunks (no float copy of all)."""
    total = np.zeros(x.shape[1])
    squares = np.zeros(x.shape[1])
    for i in range(0, len(x), RESIZE_CHUNK):
        chunk = x[i : i + RESIZE_CHUNK].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 2, 3))
        squares += (chunk**2).sum(axis=(0, 2, 3))
    count = len(x) * x.shape[2] * x.shape[3]
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean**2, 0.0)) + 1e-6


def make_dataset(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None,
    *,
    hflip: bool,
    resolutions: tuple[int, ...],
    note: str = "",
) -> Dataset:
    """Carve test (if missing) and validation splits of uint8 NCHW images; the normalisation is
    the training split's per-channel mean and std."""
    x, y = _as_nchw(train[0]), np.asarray(train[1], np.int64)
    if test is None:
        keep, hold = holdout_split(y, TEST_FRACTION)
        test = (x[hold], y[hold])
        x, y = x[keep], y[keep]
    keep, hold = holdout_split(y, VAL_FRACTION, SPLIT_SEED + 1)
    num_classes = int(max(y.max(), np.max(test[1])) + 1)
    if len(np.unique(y)) < 2:
        raise ValueError(f"dataset {name!r} needs at least 2 classes, found {len(np.unique(y))}")
    train_x, val_x = x[keep], x[hold]
    del x  # the splits are copies: let the whole go before the next one is made
    mean, std = _channel_stats(train_x)

    def tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(_as_nchw(images))

    def labels(ys: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(ys, np.int64))

    return Dataset(
        name, tensor(train_x), labels(y[keep]), tensor(val_x), labels(y[hold]), tensor(test[0]), labels(test[1]),
        num_classes, tuple(float(m) for m in mean), tuple(float(s) for s in std), hflip, tuple(resolutions), note,
    )  # fmt: skip


def _digits(data_dir: Path, download: bool) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()  # ships with scikit-learn: 1,797 8x8 images, pixels 0..16
    images = np.round(digits.images[:, None] * (255 / 16)).astype(np.uint8)  # 17 levels, kept distinct
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


@dataclass(frozen=True)
class FolderTree:
    """An image-folder tree, scanned: files, labels, and each picture's size and mode (headers only)."""

    classes: list[str]
    paths: list[str]
    labels: np.ndarray
    sizes: list[tuple[int, int]]
    grey: bool  # every picture is greyscale
    skipped: int  # files in the class folders that are not pictures by their extension


def scan_folder(root: Path) -> FolderTree:
    """List an image-folder tree and read each picture's header; ValueError naming a bad file."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets import DatasetFolder

    try:
        tree = DatasetFolder(str(root), loader=lambda path: path, extensions=IMAGE_EXTENSIONS)
    except (FileNotFoundError, RuntimeError) as exc:
        raise ValueError(f"image folder {root} has no class folders with images: {exc}") from None
    sizes, grey = [], True
    for path, _ in tree.samples:
        try:
            with Image.open(path) as img:
                sizes.append(img.size)
                grey = grey and _is_grey(img)
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:  # PIL raises SyntaxError for some files
            raise ValueError(f"{path} is not a readable image ({type(exc).__name__}); remove it or fix it") from None
    others = sum(1 for c in tree.classes for f in (root / c).rglob("*") if f.is_file()) - len(tree.samples)
    return FolderTree(tree.classes, [p for p, _ in tree.samples], np.asarray(tree.targets), sizes, grey, others)


def read_images(paths: Sequence[str], size: int, channels: int) -> np.ndarray:
    """Decode pictures into one (N, C, size, size) uint8 array, each squashed to the square (the
    whole picture kept, as Keras' image_dataset_from_directory does); decoded on a few threads."""
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(paths), channels, size, size), np.uint8)
    mode = "L" if channels == 1 else "RGB"

    def read(i: int) -> None:
        try:
            with Image.open(paths[i]) as img:
                picture = np.asarray(_8bit(img).convert(mode).resize((size, size), Image.Resampling.BILINEAR))
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise ValueError(
                f"{paths[i]} is not a readable image ({type(exc).__name__}); remove it or fix it"
            ) from None
        out[i] = picture[None] if channels == 1 else picture.transpose(2, 0, 1)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(read, range(len(paths))))  # PIL decodes without the GIL
    return out


def _is_grey(img) -> bool:  # noqa: ANN001 (a PIL image, from its header)
    """Greyscale by its mode, or a palette of greys only (a GIF of a greyscale picture)."""
    if img.mode == "P":
        palette = img.getpalette() or []
        return palette[0::3] == palette[1::3] == palette[2::3]
    return img.mode in GREY_MODES


def _8bit(img):  # noqa: ANN001, ANN202 (PIL images; PIL is imported lazily)
    """16-bit and float greyscale pictures as 8-bit ones, scaled (PIL's own convert clips them)."""
    if img.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return img
    from PIL import Image

    x = np.asarray(img, np.float64)
    top = 1.0 if img.mode == "F" and x.max() <= 1.0 else 255.0 if x.max() <= 255 else 65535.0
    return Image.fromarray(np.clip(np.round(x * (255.0 / top)), 0, 255).astype(np.uint8), mode="L")


def default_resolutions(size: int) -> tuple[int, ...]:
    """Half, three quarters and all of the stored size, in multiples of 4: 32 -> 16, 24, 32."""
    return tuple(sorted({max(MIN_RESOLUTION, 4 * round(size * f / 4)) for f in (0.5, 0.75)} | {size}))


def check_resolutions(resolutions: Sequence[int]) -> tuple[int, ...]:
    bad = [r for r in resolutions if not MIN_RESOLUTION <= r <= MAX_RESOLUTION]
    if not resolutions or bad:
        raise ValueError(f"resolutions must be {MIN_RESOLUTION}..{MAX_RESOLUTION} px, got {list(resolutions)}")
    return tuple(sorted(set(resolutions)))


def available_memory() -> int:
    """Bytes of memory available now (Linux MemAvailable; else all physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(what: str, n: int, channels: int, size: int, resolutions: Sequence[int], limit: int | None) -> None:
    """Refuse, before anything is decoded, a set whose uint8 images (with their copies at the
    other resolutions, and the one copy made while splitting) would not fit in ``limit`` bytes."""
    per_image = channels * sum(r * r for r in {*resolutions, size}) + channels * size * size
    needed = n * per_image
    limit = int(MEMORY_SHARE * available_memory()) if limit is None else limit
    if needed > limit:
        raise ValueError(
            f"{what}: {n:,} images at {channels}x{size}x{size} need about {human(needed)}B in memory, more than "
            f"the {human(limit)}B allowed (--data-memory); pass smaller --resolutions or use fewer images"
        )


def load_folder(
    path: str,
    *,
    resolutions: Sequence[int] | None = None,
    hflip: bool | None = None,
    channels: int | None = None,
    memory_limit: int | None = None,
) -> Dataset:
    """An image-folder tree (one sub-folder per class), or ``train/`` + ``test/`` trees.

    Pictures keep their own size: stored at ``max(resolutions)``, by default the median shorter
    side up to FOLDER_DEFAULT_MAX, searched at half, three quarters and all of it. Greyscale sets
    keep one channel (``channels`` forces 1 or 3). Flips are on unless ``hflip=False``."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist")
    split_trees = (root / "train").is_dir() and (root / "test").is_dir()
    trees = [scan_folder(root / "train"), scan_folder(root / "test")] if split_trees else [scan_folder(root)]
    if split_trees and trees[1].classes != trees[0].classes:
        raise ValueError(f"image folder {root}: train classes {trees[0].classes} differ from test classes "
                         f"{trees[1].classes}")  # fmt: skip
    if len(trees[0].classes) < 2:
        raise ValueError(f"image folder {root} needs at least 2 class folders, found {trees[0].classes}")
    sizes = [s for tree in trees for s in tree.sizes]
    median_side = int(statistics.median(min(w, h) for w, h in sizes))
    if resolutions:
        resolutions = check_resolutions(resolutions)
        note = f"images {median_side} px (median shorter side), stored at {max(resolutions)} px"
    else:
        size = max(MIN_RESOLUTION, 4 * (min(FOLDER_DEFAULT_MAX, median_side) // 4))  # whole multiples of 4
        resolutions = default_resolutions(size)
        limit = f", at most {FOLDER_DEFAULT_MAX} by default" if median_side > FOLDER_DEFAULT_MAX else ""
        note = f"resolutions from the images' median shorter side, {median_side} px{limit}; --resolutions to choose"
    if skipped := sum(tree.skipped for tree in trees):
        note += f"; {skipped} file{'s' * (skipped > 1)} not pictures by their name skipped"
    size = max(resolutions)
    channels = channels or (1 if all(tree.grey for tree in trees) else 3)
    check_memory(f"image folder {root}", len(sizes), channels, size, resolutions, memory_limit)
    arrays = [(read_images(tree.paths, size, channels), tree.labels) for tree in trees]
    return make_dataset(
        f"folder:{root.name}", arrays[0], arrays[1] if split_trees else None,
        hflip=True if hflip is None else hflip, resolutions=resolutions, note=note,
    )  # fmt: skip


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
    data = DATASETS[name](Path(data_dir), download)
    if resolutions:
        data = replace(data, resolutions=check_resolutions(resolutions))
    return data if hflip is None else replace(data, hflip=hflip)
