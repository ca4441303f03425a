from __future__ import annotations

import pytest

from nas.data import Dataset, load_dataset


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
