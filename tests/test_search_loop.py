"""nas.search_loop: failures are recorded and counted, killed trials retried."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

import search_spaces
from nas.storage import make_storage
from search_spaces import mixed

from .helpers import complete, main, trials


def test_trial_killed_before_its_parameters_were_written_is_retried_with_a_new_architecture(tmp_path: Path) -> None:
    """A worker that died inside the batched write of a trial's parameters left a RUNNING trial
    with no parameters: nothing was trained, so its retry samples afresh and the search goes on."""
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "1", "--epochs", "1", "--storage", storage, "--heartbeat", "1"]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=make_storage(storage, heartbeat_interval=1))
    killed = study.ask()  # as the dead worker left it: RUNNING, one heartbeat, no parameters
    study._storage.record_heartbeat(killed._trial_id)
    time.sleep(4)  # longer than the grace period (2 x heartbeat), with SQLite timestamps in whole seconds
    assert main(["--budget", "2", "--epochs", "1", "--storage", storage, "--heartbeat", "1"]) == 0
    after = trials(storage)
    assert after[killed.number].state == TrialState.FAIL
    retried = [t for t in after if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed.number]
    assert retried and retried[0].state == TrialState.COMPLETE and retried[0].params
    assert len(complete(storage)) == 2


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
