"""nas.sampler: the samplers a search can use."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from nas.settings import study_settings
from search_spaces import SpaceContext

from .helpers import complete, main


@pytest.mark.parametrize("sampler", ["nsga2", "random"])
def test_other_samplers_run_a_search(tmp_path: Path, sampler: str) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "3", "--epochs", "1", "--storage", storage, "--sampler", sampler]) == 0
    done = complete(storage)
    assert len(done) == 3 and len({t.user_attrs["digest"] for t in done}) >= 2
    assert study_settings(optuna.load_study(study_name="digits-mixed", storage=storage)).sampler == sampler


def test_tpe_reading_trials_once_samples_what_optuna_tpe_samples() -> None:
    """nas's TPE reads the trials once per trial instead of once per parameter group; on the same
    history it must propose exactly what Optuna's TPESampler proposes."""
    from nas.sampler import make_sampler
    from search_spaces import get_space

    ctx, sample = SpaceContext(1, 10, (8, 12, 16)), get_space("mixed")
    proposals = []
    for sampler in (
        make_sampler("tpe", seed=5),
        optuna.samplers.TPESampler(seed=5, multivariate=True, group=True, n_startup_trials=10, constant_liar=True),
    ):
        study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler)
        specs = []
        for i in range(30):
            trial = study.ask()
            spec = sample(trial, ctx)
            study.tell(trial, [(i * 7919 % 97) / 97, len(spec.stages), spec.stem.out_chs])
            specs.append(spec.to_string())
        proposals.append(specs)
    assert proposals[0] == proposals[1]
    assert len(set(proposals[0][10:])) > 1  # TPE (not the random start-up) proposed these
