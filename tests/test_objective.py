"""nas.objective: limits, reused results, seeds: what one trial records and trains."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from nas.front import feasible_front, pick
from nas.latency_setup import LatencySetup, this_machine
from nas.objective import Objective, TrialSetup
from nas.objectives import directions
from nas.recipe import ProxyConfig
from nas.schedule import promotion_attrs
from nas.search_config import Limits
from search_spaces import get_space

from .helpers import complete, main


def test_infeasible_architectures_are_never_trained_and_marked_for_the_sampler(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "4", "--epochs", "1", "--storage", storage, "--max-flops", "150K"]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    infeasible = [t for t in done if t.constraints["flops_over_limit"] > 0]
    feasible = [t for t in done if t.constraints["flops_over_limit"] <= 0]
    assert infeasible, "the space's typical networks exceed 150K MACs"
    for t in infeasible:
        assert t.user_attrs["infeasible"] and "train_seconds" not in t.user_attrs  # never trained
        assert t.values[1] > 150_000
    assert all(t.values[1] <= 150_000 and "train_seconds" in t.user_attrs for t in feasible)
    # the budget counts new feasible networks (re-scoring runs come on top)
    assert len([t for t in complete(storage) if t.constraints["flops_over_limit"] <= 0]) == 4
    front = feasible_front(study)
    assert front and {t.number for t in front} <= {t.number for t in feasible}
    assert pick(study, "max-accuracy").values[1] <= 150_000


def test_a_network_already_evaluated_reuses_its_result(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--epochs", "1", "--storage", storage]
    assert main(["--budget", "2", *args]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    first = study.get_trials()[0]
    study.enqueue_trial(first.params)  # the sampler proposes the very same network again
    assert main(["--budget", "3", *args]) == 0
    twin = complete(storage)[-1]
    assert twin.user_attrs["digest"] == first.user_attrs["digest"]
    assert twin.user_attrs["duplicate_of"] == first.number
    assert twin.values == first.values and "train_seconds" not in twin.user_attrs
    assert twin.number not in {t.number for t in feasible_front(study)}  # the front lists each network once


@pytest.mark.slow  # three searches
def test_same_seed_same_architectures_and_accuracies(tmp_path: Path) -> None:
    runs = []
    for run in ("a", "b"):
        storage = f"sqlite:///{tmp_path / run}.db"
        assert main(["--budget", "3", "--epochs", "1", "--seed", "11", "--storage", storage]) == 0
        runs.append([(t.user_attrs["arch"], t.values[0], t.user_attrs["seed"]) for t in complete(storage)])
    assert runs[0] == runs[1]
    other = tmp_path / "c.db"
    assert main(["--budget", "3", "--epochs", "1", "--seed", "12", "--storage", f"sqlite:///{other}"]) == 0
    assert [t.user_attrs["arch"] for t in complete(f"sqlite:///{other}")] != [r[0] for r in runs[0]]


def test_one_read_of_the_study_per_trial_serves_every_check(tmp_path: Path, digits, monkeypatch) -> None:
    """A new network, the same network sampled again (reused), and its promotion (race check,
    latency reused, accuracy by rung): each trial reads the study's trials once."""
    objectives = ("accuracy", "flops", "params", "latency")
    setup = TrialSetup("digits", ProxyConfig(epochs=1), (1, 2), Limits(), 0, tmp_path, {}, objectives,
                       LatencySetup(this_machine()))  # fmt: skip
    objective = Objective(get_space("mixed"), digits, torch.device("cpu"), setup)
    study = optuna.create_study(directions=directions(objectives), sampler=optuna.samplers.RandomSampler(seed=3))
    reads, inside = [], [False]
    get_trials, evaluate = optuna.Study.get_trials, Objective.evaluate

    def counted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        reads.append(inside[0])
        return get_trials(self, *args, **kwargs)

    def evaluate_once(self, trial):  # noqa: ANN001, ANN202
        inside[0] = True
        try:
            return evaluate(self, trial)
        finally:
            inside[0] = False

    monkeypatch.setattr(optuna.Study, "get_trials", counted)
    monkeypatch.setattr(Objective, "evaluate", evaluate_once)
    per_trial = []
    for queue in ("new", "again", "promotion"):
        if queue == "again":
            study.enqueue_trial(study.trials[0].params)
        elif queue == "promotion":
            study.enqueue_trial(study.trials[0].params, user_attrs=promotion_attrs(study.trials[0], 1))
        reads.clear()
        study.optimize(objective, n_trials=1)
        per_trial.append(sum(reads))
    first, again, promoted = study.trials
    assert again.user_attrs["duplicate_of"] == 0 and promoted.user_attrs["epochs"] == 2
    assert promoted.user_attrs["latency_ms"] == first.user_attrs["latency_ms"]  # measured once, reused
    assert set(promoted.user_attrs["accuracy_by_rung"]) == {"1 epochs", "2 epochs"}
    assert per_trial == [1, 1, 1]
