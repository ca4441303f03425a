"""Signals and hard kills during a search: nothing finished is lost (slow)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from ..helpers import complete, start_search, trials, wait_for


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
