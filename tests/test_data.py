from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets as tvd

from nas.data import check_dataset_name, load_dataset


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


def test_missing_torchvision_set_without_download_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CIFAR10 is not in .*downloads are off"):
        load_dataset("cifar10", tmp_path, download=False)


def test_unknown_dataset_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        check_dataset_name("imagenet")
