"""nas.search_loop: failures are recorded and counted, killed trials retried."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

import search_spaces
from search_spaces import mixed

from .helpers import complete, main, trials


@pytest.fixture
def flaky_space():
    """A search space whose odd trials hit a bug (a real exception inside the objective)."""

    def sample(trial, ctx):
        spec = mixed.sample(trial, ctx)
        if trial.number % 2 == 1:
            raise RuntimeError(f"bug in a block of trial {trial.number}")
        return spec

    def broken(trial, ctx):
        raise RuntimeError("every block is broken")

    search_spaces.SPACES.update(flaky=sample, broken=broken)
    yield
    del search_spaces.SPACES["flaky"], search_spaces.SPACES["broken"]


def test_failing_trials_are_recorded_and_the_search_goes_on(tmp_path: Path, flaky_space) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "3", "--epochs", "1", "--storage", storage, "--space", "flaky"]) == 0
    all_trials = trials(storage, "digits-flaky")
    failed = [t for t in all_trials if t.state == TrialState.FAIL]
    assert len(failed) >= 2 and all("bug in a block" in t.user_attrs["fail_reason"] for t in failed)
    assert all("resolution" in t.params for t in failed)  # what was sampled before the error is kept
    assert len(complete(storage, "digits-flaky")) == 3


def test_consecutive_failures_stop_the_search_with_a_clear_error(tmp_path: Path, flaky_space, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    code = main(["--budget", "3", "--storage", storage, "--space", "broken", "--max-failures", "3"])
    assert code == 1
    err = capsys.readouterr().err
    assert "3 trials failed in a row" in err and "every block is broken" in err
    assert len(trials(storage, "digits-broken")) == 3
