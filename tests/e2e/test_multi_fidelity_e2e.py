"""Multi-fidelity searches end to end: promotions, re-scoring, workers, kills (slow)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.front import feasible_front
from nas.schedule import due_promotions
from nas.settings import study_settings
from nas.trials import counts_toward_budget, replicate_of, rung_of

from ..helpers import complete, kill_and_resume, main, settled_rescoring, start_search, trials, wait_for
from ..postgres import postgres_server

MF = ["--epochs", "2", "--min-epochs", "1", "--eta", "2", "--refine", "1", "--refine-budget", "1"]


def run_key(t) -> tuple:
    return t.user_attrs.get("digest"), rung_of(t), replicate_of(t)


def trained_keys(storage: str) -> Counter:
    """(network, rung, replicate) of every run that trained (not reused results)."""
    return Counter(
        run_key(t) for t in trials(storage) if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
    )


@pytest.mark.slow
def test_multi_fidelity_search_promotes_rescores_and_resumes(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--budget", "6", "--storage", storage, "--seed", "2", "--max-params", "60K", *MF]
    assert main(args) == 0
    out = capsys.readouterr().out
    every = trials(storage)
    assert len(complete(storage)) == 6  # --budget counts new networks only
    assert study_settings(optuna.load_study(study_name="digits-mixed", storage=storage)).rungs == (1, 2)
    promoted = [t for t in every if rung_of(t) == 1 and t.state == TrialState.COMPLETE]
    assert promoted and all(t.user_attrs["epochs"] == 2 for t in promoted)
    by_number = {t.number: t for t in every}
    for t in promoted:  # the same architecture, trained again from its own seed
        source = by_number[t.user_attrs["promoted_from"]]
        assert t.params == source.params and t.user_attrs["digest"] == source.user_attrs["digest"]
        assert t.user_attrs["seed"] != source.user_attrs["seed"]
        assert "2 epochs" in t.user_attrs["accuracy_by_rung"] and "1 epochs" in t.user_attrs["accuracy_by_rung"]
    assert max(trained_keys(storage).values()) == 1  # no run trained twice
    infeasible = [t for t in every if t.user_attrs.get("infeasible")]
    assert all(rung_of(t) == 0 and "train_seconds" not in t.user_attrs for t in infeasible)
    infeasible_digests = {t.user_attrs["digest"] for t in infeasible}
    assert not infeasible_digests & {t.user_attrs["digest"] for t in promoted}

    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    front = feasible_front(study)
    assert front and all(t.epochs == 2 and t.seeds <= 2 for t in front)
    rescored = settled_rescoring(study, refine=1, share=1.0)  # those contested (maybe none): raced to the end
    assert all(rung_of(t) == 1 for t in rescored)  # the top rung only
    assert "promotions and" in out

    before = len(every)
    assert main(args) == 0  # the same command again: nothing is due
    assert len(trials(storage)) == before
    assert main([*args[:1], "7", *args[2:-4], "--refine", "2", "--refine-budget", "1"]) == 0  # larger budget, seeds
    assert len(complete(storage)) == 7
    assert len(settled_rescoring(study, refine=2, share=1.0)) >= len(rescored)
    assert all(t.seeds <= 3 for t in feasible_front(study))


def _concurrent_searches(storage: str, n: int) -> None:
    cmd = [sys.executable, "-m", "nas.search", "--budget", "8", "--storage", storage, *MF]
    procs = [subprocess.Popen([*cmd, "--seed", str(k)], stderr=subprocess.PIPE, text=True) for k in range(n)]
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err


def _check_promotions(storage: str) -> None:
    every = trials(storage)
    assert not [t for t in every if t.state in (TrialState.RUNNING, TrialState.WAITING, TrialState.FAIL)]
    assert max(trained_keys(storage).values()) == 1  # decided by several workers, trained once
    # none lost: every network in the top half of rung 0 reached rung 1, and the front was re-scored
    assert due_promotions(every, 2, 2) == []
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    assert settled_rescoring(study, refine=1, share=1.0)
    assert 8 <= len([t for t in every if t.state == TrialState.COMPLETE and counts_toward_budget(t)]) <= 9


@pytest.mark.slow
def test_two_processes_promote_asynchronously_on_one_sqlite_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    _concurrent_searches(storage, 2)
    _check_promotions(storage)


@pytest.mark.slow
def test_two_machines_promote_asynchronously_on_postgresql() -> None:
    with postgres_server() as url:
        _concurrent_searches(url, 2)
        _check_promotions(url)


@pytest.mark.slow
def test_worker_killed_during_a_promotion_loses_nothing_and_the_promotion_is_redone(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--budget", "8", "--epochs", "8", "--min-epochs", "2", "--eta", "2", "--refine", "0", "--heartbeat", "1"]
    proc = start_search(storage, *args)

    def promoting() -> bool:  # a promoted run, parameters written, training
        return any(t.state == TrialState.RUNNING and rung_of(t) > 0 and t.params for t in trials(storage))

    wait_for(promoting, timeout=600)
    killed = next(t for t in trials(storage) if t.state == TrialState.RUNNING and rung_of(t) > 0)
    kept = {t.number for t in complete(storage)}
    kill_and_resume(proc, storage, *args)
    after = trials(storage)
    assert kept <= {t.number for t in complete(storage)}
    key = (killed.user_attrs["digest"], rung_of(killed), 0)
    redone = [t for t in after if t.state == TrialState.COMPLETE and run_key(t) == key]
    assert len(redone) == 1 and redone[0].number != killed.number
    assert after[killed.number].state == TrialState.FAIL
