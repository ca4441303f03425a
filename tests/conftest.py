from __future__ import annotations

import optuna
import pytest

from nas.data import Dataset, load_dataset
from search_spaces import SpaceContext, get_space


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")


def sample_specs(space: str, n: int, ctx: SpaceContext, seed: int = 0) -> list:
    """n specs from a space, drawn by Optuna's random sampler through real trials."""
    study = optuna.create_study(directions=["maximize"] * 3, sampler=optuna.samplers.RandomSampler(seed=seed))
    sample = get_space(space)
    return [sample(study.ask(), ctx) for _ in range(n)]


@pytest.fixture(scope="session")
def small_study(tmp_path_factory) -> tuple[str, str]:
    """A real finished study: 8 trials on digits, 1 epoch each. Returns (storage URL, study name)."""
    from nas.search import main

    storage = f"sqlite:///{tmp_path_factory.mktemp('study') / 'nas.db'}"
    assert main(["--budget", "8", "--epochs", "1", "--storage", storage, "--seed", "1"]) == 0
    return storage, "digits-mixed"
