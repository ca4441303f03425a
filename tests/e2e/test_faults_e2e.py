"""Signals and hard kills during a search: nothing finished is lost (slow)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from nas.storage import make_storage
from nas.trials import replicate_of, run_key

from ..helpers import complete, kill_and_resume, main, settled_rescoring, start_search, trials, wait_for


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


@pytest.mark.slow
def test_worker_paused_past_its_heartbeat_carries_on_and_its_trial_is_retried(tmp_path: Path) -> None:
    """A worker paused (SIGSTOP: a laptop asleep, a preempted job) longer than the heartbeat's grace
    period has its trial failed and re-queued by another worker; woken up, it must not die on the
    trial it can no longer record (Optuna: "Cannot tell a FAIL trial"), but go on to the budget."""
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    proc = start_search(storage, "--budget", "3", "--epochs", "6", "--heartbeat", "1")

    def training() -> bool:
        now = trials(storage)
        return len(now) >= 2 and now[-1].state == TrialState.RUNNING and bool(now[-1].params)

    wait_for(training)
    os.kill(proc.pid, signal.SIGSTOP)
    paused = trials(storage)[-1]
    time.sleep(4)  # past the grace period (2 x heartbeat), SQLite timestamps in whole seconds
    other_worker = optuna.load_study(study_name="digits-mixed", storage=make_storage(storage, heartbeat_interval=1))
    optuna.storages.fail_stale_trials(other_worker)  # what another worker does before each trial
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"trial {paused.number} was failed by another worker" in err
    after = trials(storage)
    assert after[paused.number].state == TrialState.FAIL
    retried = [t for t in after if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == paused.number]
    assert retried and retried[0].state == TrialState.COMPLETE and retried[0].params == paused.params
    assert len(complete(storage)) == 3


@pytest.mark.slow
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


@pytest.mark.slow
def test_worker_killed_while_re_scoring_loses_nothing_and_the_run_is_redone(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--budget", "8", "--epochs", "6", "--refine", "2", "--refine-budget", "1", "--heartbeat", "1"]
    proc = start_search(storage, *args)

    def re_scoring() -> bool:  # a re-scoring run, parameters written, training
        return any(t.state == TrialState.RUNNING and replicate_of(t) >= 1 and t.params for t in trials(storage))

    wait_for(re_scoring, timeout=600)
    killed = next(t for t in trials(storage) if t.state == TrialState.RUNNING and replicate_of(t) >= 1)
    kill_and_resume(proc, storage, *args)
    assert trials(storage)[killed.number].state == TrialState.FAIL
    rescored = settled_rescoring(optuna.load_study(study_name="digits-mixed", storage=storage), refine=2, share=1.0)
    keys = [run_key(t) for t in rescored]
    assert len(keys) == len(set(keys)) and run_key(killed) in keys  # redone once, under its own index
