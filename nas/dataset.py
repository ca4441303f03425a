"""A dataset as uint8 tensors, one per split, and how it is split and scaled.

Every dataset is split once, deterministically, into train / validation / test. The search
trains on train and scores on validation; only final training (``nas.retrain``) and
``nas.export --train-epochs`` touch test. Images are held as uint8 (a quarter of float32's memory)
and scaled and normalised per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

SPLIT_SEED = 0  # fixed: every trial of every study on a dataset sees the same split
VAL_FRACTION = 0.2  # of the training data
TEST_FRACTION = 0.2  # where a dataset has no test split of its own (digits, single-tree folders)
MAX_RESOLUTION = 512
MIN_RESOLUTION = 8
RESIZE_CHUNK = 1024  # images resized at a time: bounds the float copy F.interpolate needs


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

    def head(self, n: int) -> Dataset:
        """The same dataset with only its first ``n`` training images (a probe's sample)."""
        return replace(self, train_x=self.train_x[:n], train_y=self.train_y[:n], _resized={}, _norm={})

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


def as_nchw(images: np.ndarray) -> np.ndarray:
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
    x, y = as_nchw(train[0]), np.asarray(train[1], np.int64)
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
        return torch.from_numpy(as_nchw(images))

    def labels(ys: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(ys, np.int64))

    return Dataset(
        name, tensor(train_x), labels(y[keep]), tensor(val_x), labels(y[hold]), tensor(test[0]), labels(test[1]),
        num_classes, tuple(float(m) for m in mean), tuple(float(s) for s in std), hflip, tuple(resolutions), note,
    )  # fmt: skip


def check_resolutions(resolutions: Sequence[int]) -> tuple[int, ...]:
    bad = [r for r in resolutions if not MIN_RESOLUTION <= r <= MAX_RESOLUTION]
    if not resolutions or bad:
        raise ValueError(f"resolutions must be {MIN_RESOLUTION}..{MAX_RESOLUTION} px, got {list(resolutions)}")
    return tuple(sorted(set(resolutions)))
