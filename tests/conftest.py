from __future__ import annotations

import pytest

from nas.data import load_dataset
from nas.dataset import Dataset


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def small_study(tmp_path_factory) -> tuple[str, str]:
    """A real finished study: 8 trials on digits, 1 epoch each. Returns (storage URL, study name)."""
    from nas.search import main

    storage = f"sqlite:///{tmp_path_factory.mktemp('study') / 'nas.db'}"
    assert main(["--budget", "8", "--epochs", "1", "--storage", storage, "--seed", "1"]) == 0
    return storage, "digits-mixed"


@pytest.fixture(scope="session")
def retrained(small_study) -> tuple[str, list[int]]:
    """``small_study`` after ``python -m nas.retrain`` of two front members and two classics (x0.25),
    3 epochs, 2 seeds, a grid of 2 learning rates. Returns (storage URL, the trial numbers)."""
    import optuna

    from nas.front import feasible_front
    from nas.retrain import main

    from .helpers import RETRAIN_SHORT

    storage, name = small_study
    chosen = sorted(t.number for t in feasible_front(optuna.load_study(study_name=name, storage=storage)))[:2]
    assert main(["--storage", storage, "--trials", ",".join(map(str, chosen)), "--references",
                 "squeezenet1_1,mobilenet_v2", "--reference-widths", "0.25", *RETRAIN_SHORT]) == 0  # fmt: skip
    return storage, chosen
