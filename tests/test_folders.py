"""nas.folders: image folders as datasets, and the errors bad folders get."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data import load_dataset

from .helpers import write_images


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


def test_folder_with_a_file_that_is_not_an_image_is_a_clear_error(tmp_path: Path) -> None:
    write_images(tmp_path / "set", {"a": 4, "b": 4})
    (tmp_path / "set" / "a" / "notes.jpg").write_text("not a picture")
    with pytest.raises(ValueError, match="notes.jpg is not a readable image"):
        load_dataset(f"folder:{tmp_path / 'set'}")
