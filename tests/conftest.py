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
