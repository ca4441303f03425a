from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from nas.data import check_dataset_name, load_dataset
from nas.dataset import holdout_split

from .helpers import write_images


def test_digits_splits_are_fixed_disjoint_and_normalised(digits) -> None:
    assert digits.num_classes == 10 and digits.in_chs == 1 and digits.native_resolution == 8
    sizes = len(digits.train_x), len(digits.val_x), len(digits.test_x)
    assert sum(sizes) == 1797 and min(sizes) > 250
    again = load_dataset("digits")
    assert torch.equal(again.val_x, digits.val_x) and torch.equal(again.test_y, digits.test_y)
    assert digits.train_x.dtype == torch.uint8  # held as bytes, scaled per batch
    scaled = digits.scale(digits.train_x)
    assert abs(scaled.mean().item()) < 1e-3 and abs(scaled.std().item() - 1) < 1e-2
    x, y = digits.split("val", 16)
    assert x.shape[1:] == (1, 16, 16) and x.dtype == torch.uint8 and len(y) == len(digits.val_y)
    assert digits.split("val", 16)[0] is x  # resized once, cached
    fresh = load_dataset("digits")
    fresh.prepare(("train", "val"))  # the search resizes everything before its first trial
    assert {("train", r) for r in fresh.resolutions} | {("val", r) for r in fresh.resolutions} == set(fresh._resized)


def test_holdout_split_is_stratified_disjoint_and_complete() -> None:
    labels = np.array([0] * 50 + [1] * 30 + [2] * 1)
    keep, hold = holdout_split(labels, 0.2)
    assert not set(keep) & set(hold) and len(keep) + len(hold) == len(labels)
    assert np.bincount(labels[hold]).tolist() == [10, 6]  # a one-image class stays in training
    assert np.array_equal(holdout_split(labels, 0.2)[1], hold)


def test_folder_dataset_single_tree_is_split_deterministically(tmp_path: Path) -> None:
    write_images(tmp_path / "shapes", {"circle": 20, "square": 15, "star": 10})
    data = load_dataset(f"folder:{tmp_path / 'shapes'}")
    # 20x24 pictures: stored at their shorter side, searched at about half, three quarters and all of it
    assert data.num_classes == 3 and data.in_chs == 3 and data.native_resolution == 20
    assert data.resolutions == (8, 16, 20) and data.hflip
    assert len(data.train_x) + len(data.val_x) + len(data.test_x) == 45
    assert set(data.test_y.tolist()) == {0, 1, 2}
    assert torch.equal(load_dataset(f"folder:{tmp_path / 'shapes'}").test_x, data.test_x)


def test_folder_images_keep_their_size_and_channels(tmp_path: Path) -> None:
    write_images(tmp_path / "photos", {"a": 6, "b": 6}, size=64)
    data = load_dataset(f"folder:{tmp_path / 'photos'}")
    assert data.native_resolution == 64 and data.resolutions == (32, 48, 64) and data.in_chs == 3
    assert data.train_x.dtype == torch.uint8 and "64 px" in data.describe()
    chosen = load_dataset(f"folder:{tmp_path / 'photos'}", resolutions=[40, 24], hflip=False)
    assert chosen.native_resolution == 40 and chosen.resolutions == (24, 40) and not chosen.hflip
    assert chosen.split("train", 24)[0].shape[1:] == (3, 24, 24)

    write_images(tmp_path / "scans", {"a": 5, "b": 5}, size=28, mode="L")
    grey = load_dataset(f"folder:{tmp_path / 'scans'}")
    assert grey.in_chs == 1 and len(grey.mean) == 1 and grey.native_resolution == 28
    assert load_dataset(f"folder:{tmp_path / 'scans'}", channels=3).in_chs == 3  # as studies of before read them


def test_folder_reads_gif_and_16_bit_pictures_and_says_what_it_skipped(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("a", "b")):
        (tmp_path / "set" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 50, (30, 30), dtype=np.uint8) + np.uint8(100 * c)).save(
                tmp_path / "set" / name / f"{i}.gif"
            )
        deep = np.full((30, 30), 60_000 * c + 1_000, np.uint16)  # a 16-bit scan: 1,000 or 61,000 of 65,535
        Image.fromarray(deep).save(tmp_path / "set" / name / "scan.png")
    (tmp_path / "set" / "a" / "notes.txt").write_text("not a picture")
    data = load_dataset(f"folder:{tmp_path / 'set'}")
    assert len(data.train_y) + len(data.val_y) + len(data.test_y) == 10 and data.in_chs == 1
    assert data.native_resolution == 28 and "1 file not pictures by their name skipped" in data.describe()
    from nas.folders import read_images

    scans = read_images([str(tmp_path / "set" / n / "scan.png") for n in ("a", "b")], 8, 1)
    assert scans[0].max() == 4 and scans[1].min() == 237  # scaled from 16 bits, not clipped to white


def test_large_folder_images_are_capped_unless_asked(tmp_path: Path) -> None:
    write_images(tmp_path / "big", {"a": 3, "b": 3}, size=200)
    data = load_dataset(f"folder:{tmp_path / 'big'}")
    assert data.native_resolution == 128 and "at most 128" in data.describe()
    assert load_dataset(f"folder:{tmp_path / 'big'}", resolutions=[160]).native_resolution == 160
    with pytest.raises(ValueError, match="resolutions must be 8..512"):
        load_dataset(f"folder:{tmp_path / 'big'}", resolutions=[1024])


def test_a_folder_too_big_for_memory_is_refused_before_decoding(tmp_path: Path) -> None:
    write_images(tmp_path / "set", {"a": 10, "b": 10}, size=64)
    with pytest.raises(ValueError, match=r"20 images at 3x64x64 need about .*B in memory, more than the 10KB"):
        load_dataset(f"folder:{tmp_path / 'set'}", memory_limit=10_000)


def test_folder_dataset_with_train_and_test_trees(tmp_path: Path) -> None:
    write_images(tmp_path / "set" / "train", {"a": 12, "b": 12})
    write_images(tmp_path / "set" / "test", {"a": 3, "b": 4})
    data = load_dataset(f"folder:{tmp_path / 'set'}")
    assert len(data.test_x) == 7 and len(data.train_x) + len(data.val_x) == 24


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (None, "does not exist"),
        ({}, "has no class folders with images"),
        ({"only": 5}, "needs at least 2 class folders"),
    ],
)
def test_bad_folders_are_clear_errors(tmp_path: Path, layout, message: str) -> None:
    root = tmp_path / "data"
    if layout is not None:
        root.mkdir()
        write_images(root, layout)
    with pytest.raises(ValueError, match=message):
        load_dataset(f"folder:{root}")


def write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format MNIST ships in (big-endian dims after a type/rank magic)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_read_from_data_dir(tmp_path: Path) -> None:
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 10)):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28)))
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    data = load_dataset("mnist", tmp_path, download=False)
    assert data.in_chs == 1 and data.native_resolution == 28 and data.num_classes == 10
    assert len(data.test_x) == 10 and len(data.train_x) + len(data.val_x) == 40


def test_cifar10_read_from_data_dir(tmp_path: Path, monkeypatch) -> None:
    base = tmp_path / "cifar10" / tvd.CIFAR10.base_folder
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(name: str, n: int) -> list[str]:
        data = {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), "labels": list(np.arange(n) % 10)}
        (base / name).write_bytes(pickle.dumps(data))
        return [name, hashlib.md5((base / name).read_bytes()).hexdigest()]

    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    meta = {**tvd.CIFAR10.meta, "md5": hashlib.md5((base / "batches.meta").read_bytes()).hexdigest()}
    # torchvision checks files against CIFAR-10's real checksums: point it at these small files'.
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [batch(f"data_batch_{i}", 20) for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [batch("test_batch", 30)])
    monkeypatch.setattr(tvd.CIFAR10, "meta", meta)
    data = load_dataset("cifar10", tmp_path, download=False)
    assert data.in_chs == 3 and data.native_resolution == 32 and data.hflip
    assert len(data.test_x) == 30 and len(data.train_x) + len(data.val_x) == 100


def test_svhn_read_from_data_dir(tmp_path: Path, monkeypatch) -> None:
    """SVHN names its splits (split="train"/"test", not train=True) and ships MATLAB files."""
    from scipy.io import savemat

    root = tmp_path / "svhn"
    root.mkdir()
    rng = np.random.default_rng(0)
    split_list = {}
    for split, n in (("train", 30), ("test", 12)):
        path = root / f"{split}_32x32.mat"
        # SVHN's layout: X is (32, 32, 3, N); labels 1..10, where 10 stands for the digit 0
        savemat(
            path, {"X": rng.integers(0, 255, (32, 32, 3, n), dtype=np.uint8), "y": (np.arange(n) % 10 + 1)[:, None]}
        )
        split_list[split] = ["file:///nowhere", path.name, hashlib.md5(path.read_bytes()).hexdigest()]
    monkeypatch.setattr(tvd.SVHN, "split_list", split_list)  # torchvision checks the real files' checksums
    data = load_dataset("svhn", tmp_path, download=False)
    assert data.in_chs == 3 and data.native_resolution == 32 and not data.hflip and data.num_classes == 10
    assert len(data.test_x) == 12 and len(data.train_x) + len(data.val_x) == 30
    assert set(data.test_y.tolist()) == set(range(10))


def test_folder_with_a_file_that_is_not_an_image_is_a_clear_error(tmp_path: Path) -> None:
    write_images(tmp_path / "set", {"a": 4, "b": 4})
    (tmp_path / "set" / "a" / "notes.jpg").write_text("not a picture")
    with pytest.raises(ValueError, match="notes.jpg is not a readable image"):
        load_dataset(f"folder:{tmp_path / 'set'}")


def test_missing_torchvision_set_without_download_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CIFAR10 is not in .*downloads are off"):
        load_dataset("cifar10", tmp_path, download=False)


def test_unknown_dataset_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        check_dataset_name("imagenet")
