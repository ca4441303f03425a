"""nas.dataset: fixed, disjoint, stratified splits and their normalisation."""

from __future__ import annotations

import numpy as np
import torch

from nas.data import load_dataset
from nas.dataset import holdout_split


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
