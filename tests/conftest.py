from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from nas.data import load_dataset
from nas.dataset import Dataset
from nas.search import main as search_main

from .helpers import RETRAIN_SHORT, write_images


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def small_study(tmp_path_factory) -> tuple[str, str]:
    """A real finished study: 5 networks on digits, 1 epoch each, re-scored. Returns (storage URL, study name)."""
    from nas.search import main

    storage = f"sqlite:///{tmp_path_factory.mktemp('study') / 'nas.db'}"
    # a re-scoring budget as large as the search: a study this small re-scores whatever the timings
    assert main(["--budget", "5", "--epochs", "1", "--storage", storage, "--seed", "1", "--refine-budget", "1"]) == 0
    return storage, "digits-mixed"


@pytest.fixture(scope="session")
def retrained(small_study) -> tuple[str, list[int]]:
    """``small_study`` after ``python -m nas.retrain`` of two front members and two classics (x0.25),
    3 epochs, 2 seeds, a grid of 2 learning rates. Returns (storage URL, the trial numbers)."""

    from nas.front import feasible_front
    from nas.retrain import main

    storage, name = small_study
    chosen = sorted(t.number for t in feasible_front(optuna.load_study(study_name=name, storage=storage)))[:2]
    assert main(["--storage", storage, "--trials", ",".join(map(str, chosen)), "--references",
                 "squeezenet1_1,mobilenet_v2", "--reference-widths", "0.25", *RETRAIN_SHORT]) == 0  # fmt: skip
    return storage, chosen


@pytest.fixture(scope="module")
def swapped_folder(tmp_path_factory) -> tuple[str, Path]:
    """A folder whose test/ tree has its two classes' pictures swapped: a network trained on train
    (+ validation) scores about 1 on validation and about 0 on test."""
    root = tmp_path_factory.mktemp("swapped") / "bright"
    write_images(root / "train", {"dark": 150, "light": 150}, size=12, mode="L")
    write_images(root / "test", {"light": 40, "dark": 40}, size=12, mode="L")  # the dark pictures named light
    storage = f"sqlite:///{root.parent / 'nas.db'}"
    assert search_main(["--dataset", f"folder:{root}", "--budget", "2", "--epochs", "2", "--refine", "0",
                        "--batch-size", "16", "--storage", storage]) == 0  # fmt: skip
    return storage, root
