"""Faults: signals, killed workers, failing trials, foreign databases. Nothing finished is lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

import search_spaces
from nas.proxy import ProxyConfig, TrainingDiverged, train_and_evaluate
from nas.search import main as search_main
from nas.storage import make_storage
from search_spaces import mixed

from .helpers import SMALL, complete, main, start_search, trials, wait_for


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_marks_the_trial_failed_and_the_same_command_resumes(tmp_path: Path, signum, code) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--budget", "5", "--epochs", "4"]
    proc = start_search(storage, *args)
    wait_for(lambda: len([t for t in trials(storage) if t.state == TrialState.COMPLETE]) >= 2
             and trials(storage)[-1].state == TrialState.RUNNING)  # fmt: skip
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 10  # stops within a few seconds
    assert proc.returncode == code, err
    assert "Resume with the same command" in err
    after = trials(storage)
    assert not [t for t in after if t.state == TrialState.RUNNING]  # storage consistent
    failed = [t for t in after if t.state == TrialState.FAIL]
    assert failed and failed[-1].user_attrs["fail_reason"] == "interrupted"
    kept = [t.number for t in after if t.state == TrialState.COMPLETE]

    proc = start_search(storage, *args)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    done = complete(storage)
    assert len(done) == 5 and set(kept) <= {t.number for t in done}


@pytest.mark.slow
def test_worker_killed_hard_is_detected_by_heartbeat_and_rerun(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--budget", "3", "--epochs", "6", "--heartbeat", "1"]
    proc = start_search(storage, *args)

    def training() -> bool:  # the state to kill in: RUNNING with its parameters written (they are, before training)
        now = trials(storage)
        return len(now) >= 2 and now[-1].state == TrialState.RUNNING and bool(now[-1].params)

    wait_for(training)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = trials(storage)[-1]
    assert killed.state == TrialState.RUNNING  # nobody could mark it: the process is gone
    time.sleep(3)  # longer than the grace period (2 x heartbeat)

    proc = start_search(storage, *args)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    after = trials(storage)
    assert after[killed.number].state == TrialState.FAIL  # found stale
    retried = [t for t in after if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed.number]
    assert retried and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == killed.params  # the same architecture ran again
    assert len(complete(storage)) == 3


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


def test_nan_loss_raises_training_diverged(digits) -> None:
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        train_and_evaluate(SMALL, digits, ProxyConfig(epochs=1, lr=1e12), seed=0)


@pytest.mark.parametrize("kind", ["text", "foreign-sqlite", "corrupted-sqlite"])
def test_foreign_or_corrupted_database_is_refused_and_left_untouched(tmp_path: Path, capsys, kind) -> None:
    path = tmp_path / "nas.db"
    if kind == "text":
        path.write_text("my thesis, not a database")
    else:
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
            db.execute("INSERT INTO invoices VALUES (1, 9.5)")
        db.close()
        if kind == "corrupted-sqlite":
            data = bytearray(path.read_bytes())
            data[100:4096] = os.urandom(3996)
            path.write_bytes(bytes(data))
    before = path.read_bytes()
    assert main(["--budget", "1", "--storage", f"sqlite:///{path}"]) == 2
    err = capsys.readouterr().err
    assert "refusing" in err and len(err.strip().splitlines()) == 1
    assert path.read_bytes() == before
    assert {p.name for p in tmp_path.iterdir()} == {"nas.db"}


def test_search_main_restores_signal_handlers(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    search_main(["--budget", "1", "--epochs", "1", "--storage", f"sqlite:///{tmp_path / 'nas.db'}"])
    assert signal.getsignal(signal.SIGTERM) == before
