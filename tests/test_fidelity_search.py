"""Multi-fidelity searches end to end: promotions, re-scoring, budgets, workers, kills, old studies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from nas.export import main as export_main
from nas.front import feasible_front, pick
from nas.report import write_report
from nas.schedule import due_promotions, due_refinements
from nas.settings import SETTINGS_ATTR, StudySettings, study_settings
from nas.trials import counts_toward_budget, replicate_of, rung_of

from .helpers import complete, main, start_search, trials, wait_for
from .postgres import postgres_server

FIXTURE = Path(__file__).parent / "fixtures" / "study_before_fidelity.db"  # made by the code of d4d7e47
MF = ["--epochs", "2", "--min-epochs", "1", "--eta", "2", "--refine", "1"]


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
    assert front and all(t.epochs == 2 and t.seeds == 2 for t in front)  # re-scored
    assert "promotions and" in out and "2 ep x 2 seeds" in out

    before = len(every)
    assert main(args) == 0  # the same command again: nothing is due
    assert len(trials(storage)) == before
    assert main([*args[:1], "7", *args[2:-2], "--refine", "2"]) == 0  # a larger budget and more seeds
    assert len(complete(storage)) == 7
    assert all(t.seeds == 3 for t in feasible_front(study))


def test_pick_and_export_use_the_refined_accuracy(tmp_path: Path) -> None:
    """Network a's first run beat b's, but its re-scoring runs did not: max-accuracy picks b."""
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize", "minimize"])
    settings = StudySettings(dataset="digits", space="mixed", epochs=4, recipe={}, mean=(0.5,), std=(0.2,),
                             rungs=(4,), eta=3, val_size=360)  # fmt: skip
    study.set_user_attr(SETTINGS_ATTR, asdict(settings))
    arch = "8px w0.5 in1 cls10 relu | stem:8 k3 s1 p1 bn1 | dwsep:{c}x1 s2 k3 | dwsep:16x1 s1 k3 | head:0 linear d0.0"
    for number, (net, acc, replicate) in enumerate([("a", 0.96, 0), ("b", 0.95, 0), ("a", 0.90, 1), ("b", 0.95, 1)]):
        attrs = {"digest": net, "arch": arch.format(c=16 if net == "a" else 24), "epochs": 4, "seed": number}
        if replicate:
            attrs |= {"rung": 0, "replicate": replicate, "promoted_from": 0 if net == "a" else 1}
        study.add_trial(create_trial(values=[acc, 1000, 100], user_attrs=attrs, params={"x": 1},
                                     distributions={"x": IntDistribution(0, 2)}))  # fmt: skip
    chosen = pick(study, "max-accuracy")
    assert chosen.user_attrs["digest"] == "b" and chosen.values[0] == pytest.approx(0.95)
    assert export_main(["--storage", storage, "--pick", "max-accuracy", "--out-dir", str(tmp_path)]) == 0
    source = (tmp_path / f"trial{chosen.number}.py").read_text()
    assert (
        "accuracy:  0.9500 (validation; proxy training of 4 epochs on digits, mean of 2 seeds, 95% interval" in source
    )
    assert export_main(["--storage", storage, "--trial", "0", "--out-dir", str(tmp_path)]) == 0  # a by number
    assert "accuracy:  0.9300" in (tmp_path / "trial0.py").read_text()
    assert "mean of 2 seeds" in (tmp_path / "trial0.py").read_text()


def test_a_study_made_before_multi_fidelity_opens_reports_exports_and_resumes(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "nas.db")
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    assert SETTINGS_ATTR not in study.user_attrs and study_settings(study).rungs == (1,)
    front = feasible_front(study)
    assert front and all(t.seeds == 1 and t.epochs == 1 for t in front)
    out = write_report(study, tmp_path / "report.html")
    assert "95% interval" in out.read_text()
    assert export_main(["--storage", storage, "--pick", "knee", "--out-dir", str(tmp_path)]) == 0
    assert main(["--budget", "4", "--storage", storage]) == 0  # resumes with its own epochs, then re-scores
    assert len(complete(storage)) == 4
    assert all(t.seeds == 3 for t in feasible_front(study))


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
    assert due_promotions(every, 2, 2) == [] and due_refinements(every, 1, 1) == []
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
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(4)  # past the grace period (2 x heartbeat; SQLite timestamps in whole seconds)
    proc = start_search(storage, *args)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    after = trials(storage)
    assert kept <= {t.number for t in complete(storage)}
    key = (killed.user_attrs["digest"], rung_of(killed), 0)
    redone = [t for t in after if t.state == TrialState.COMPLETE and run_key(t) == key]
    assert len(redone) == 1 and redone[0].number != killed.number
    assert after[killed.number].state == TrialState.FAIL
