"""nas.trial_cache: a worker's cached trials read what the database holds, re-reading changed trials only."""

from __future__ import annotations

import random
from pathlib import Path

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from nas.storage import batched_writes, make_storage
from nas.trial_cache import ChangedTrialsCache


def _view(trials: list) -> list:
    return [(t.number, t.state, t.params, t.user_attrs, t.system_attrs, t.values, t.intermediate_values)
            for t in trials]  # fmt: skip


@pytest.mark.slow  # two worker processes
def test_cached_trials_match_a_fresh_read_while_two_workers_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    workers = [
        optuna.create_study(storage=make_storage(url), study_name="s", direction="maximize", load_if_exists=True)
        for _ in range(2)
    ]
    assert all(isinstance(w._storage, ChangedTrialsCache) for w in workers)
    fresh = RDBStorage(url)  # no cache: reads the database whole
    rng = random.Random(0)
    running: list[tuple[optuna.Study, optuna.Trial]] = []
    for step in range(120):
        study = rng.choice(workers)
        action = rng.random()
        if action < 0.3 or not running:
            trial = study.ask()
            with batched_writes(trial):
                trial.suggest_int("width", 8, 64)
                trial.set_user_attr("digest", f"d{step}")
            running.append((study, trial))
        elif action < 0.45:
            study.enqueue_trial({"width": 16}, user_attrs={"rung": 1})
        elif action < 0.6:  # a running trial written to again (a new attr, then a report)
            _, trial = rng.choice(running)
            trial.set_user_attr(f"late{step}", step)
            trial.report(0.5, step)
        else:
            owner, trial = running.pop(rng.randrange(len(running)))
            if action < 0.9:
                owner.tell(trial, rng.random())
            else:
                owner.tell(trial, state=TrialState.FAIL)
        truth = fresh.get_all_trials(workers[0]._study_id, deepcopy=False)
        for reader in workers:
            assert _view(reader.get_trials(deepcopy=False)) == _view(truth), f"step {step}"


def test_an_unchanged_running_trial_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    study = optuna.create_study(storage=make_storage(url), directions=["maximize"])
    other = optuna.load_study(study_name=study.study_name, storage=make_storage(url))
    trial = other.ask()
    trial.set_user_attr("digest", "d")
    read_whole: list[set[int]] = []
    backend = study._storage._backend
    get_trials = backend._get_trials

    def counted(study_id, states, ids, after):  # noqa: ANN001, ANN202
        read_whole.append(set(ids))
        return get_trials(study_id, states, ids, after)

    monkeypatch.setattr(backend, "_get_trials", counted)
    assert study.get_trials(deepcopy=False)[0].user_attrs == {"digest": "d"}  # new to this worker: read whole
    study.get_trials(deepcopy=False)
    study.get_trials(deepcopy=False)
    assert len(read_whole) == 1  # Optuna's cache reads it whole every time
    trial.set_user_attr("seed", 3)
    assert study.get_trials(deepcopy=False)[0].user_attrs == {"digest": "d", "seed": 3}
    other.tell(trial, 0.5)
    assert study.get_trials(deepcopy=False)[0].state == TrialState.COMPLETE
    assert len(read_whole) == 3
    study.get_trials(deepcopy=False)
    assert len(read_whole) == 3  # finished: never read again
