"""The search loop: top a study up to its budget of new networks, with the multi-fidelity
schedule (``nas.schedule``) enqueuing promotions as runs finish and settling at the end.

``budget`` is the number of finished feasible new networks the study must hold, so running the
same search again tops it up; promotions and re-scoring runs come on top.
"""

from __future__ import annotations

import importlib
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import optuna
import torch
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

import nas
from nas.data import load_dataset
from nas.objective import Objective, TrialSetup
from nas.objectives import DEFAULT as DEFAULT_OBJECTIVES
from nas.proxy import ProxyResult, resolve_device, train_and_evaluate
from nas.schedule import DEFAULT_ETA, Schedule
from nas.search_config import SearchConfig
from nas.study import check_limits, data_options, find_existing, latency_setup, open_study
from nas.trials import budget_runs
from search_spaces import get_space

_logger = logging.getLogger(__name__)
OnTrial = Callable[[FrozenTrial, list[FrozenTrial], list[FrozenTrial]], None]  # trial, budget runs, all
OnStart = Callable[[optuna.Study, int, list[str]], None]


class SearchFailed(RuntimeError):
    """Too many trials failed in a row."""


def library_versions() -> dict[str, str]:
    return {"nas": nas.__version__, "torch": torch.__version__, "optuna": optuna.__version__,
            "python": platform.python_version()}  # fmt: skip


@dataclass
class FailureStreak:
    """Stops the search after ``limit`` failed trials in a row (finished trials are kept).
    ``last``: the last trial it saw."""

    limit: int
    count: int = 0
    last: FrozenTrial | None = None

    def record(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.last = trial
        self.count = self.count + 1 if trial.state == TrialState.FAIL else 0
        if self.count >= self.limit:
            study.stop()
            raise SearchFailed(
                f"{self.count} trials failed in a row (last: {trial.user_attrs.get('fail_reason')}); "
                "finished trials are kept"
            )


def _optimize(study: optuna.Study, objective: Objective, **kwargs: Any) -> None:
    """``study.optimize``, carrying on when Optuna refuses to record a trial that another worker
    failed meanwhile because its heartbeat fell silent (a paused process or machine, e.g. a laptop
    asleep or a preempted job): Optuna queued a retry of it, so this run's result is dropped with a
    warning, not the worker."""
    while True:
        try:
            study.optimize(objective, **kwargs)
            return
        except ValueError:  # "Cannot tell a FAIL trial."
            number, objective.current = objective.current, None  # a second error with no new trial: raised
            if number is None or not any(RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == number
                                         for t in study.get_trials(deepcopy=False)):  # fmt: skip
                raise
            _logger.warning(f"trial {number} was failed by another worker while this one ran it (its heartbeat "
                            "fell silent); its retry runs instead, this result is dropped")  # fmt: skip
            if kwargs.get("n_trials"):
                return


def run_search(
    config: SearchConfig,
    on_trial: OnTrial | None = None,
    on_start: OnStart | None = None,
    worker: int = 0,
    train: Callable[..., ProxyResult] = train_and_evaluate,
) -> optuna.Study:
    """Top the study up to ``config.budget`` finished feasible trials. Failed trials are kept as
    FAIL with their reason and do not count; ``max_failures`` failures in a row stop the search.
    Worker ``k`` of a parallel search samples with seed ``seed + k``. ``on_trial(trial, finished,
    trials)`` runs after each trial with the trials that count toward the budget, and all trials;
    ``on_start(study, done, lines)`` once the study is open, with lines that say how the data are
    read and latency measured."""
    device = resolve_device(config.device)
    existing = find_existing(config)
    config = replace(config, study_name=existing.study_name)
    # Load and check everything that can be wrong before the study is written to.
    data = load_dataset(config.dataset, config.data_dir, config.download, **data_options(config, existing.settings))
    objectives = config.objectives or existing.objectives or DEFAULT_OBJECTIVES
    latency = latency_setup(config, existing.settings, objectives)
    check_limits(config, data, latency)
    study, settings = open_study(config, data, worker, objectives, latency, existing.storage)
    done = budget_runs(study.get_trials(deepcopy=False))
    if on_start is not None:
        on_start(study, len(done), [data.describe()] + ([f"latency measured with {latency.describe()}"] if latency
                                                         else []))  # fmt: skip
    data = data.to(device)
    data.prepare(("train", "val"))  # every resolution resized once, on the device, before any trial
    torch.manual_seed(config.seed)
    # torch.optim imports torch._dynamo when it builds its first optimizer (~1 s): a start-up
    # cost, paid here rather than inside the first trial.
    importlib.import_module("torch._dynamo")
    eta = settings.eta or DEFAULT_ETA
    schedule = Schedule(settings.rungs, eta, config.refine, config.refine_budget, settings.val_size, worker)
    streak = FailureStreak(config.max_failures)

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        trials = study.get_trials(deepcopy=False)  # one read, for the budget and the promotions
        done = budget_runs(trials)
        if on_trial is not None:
            on_trial(trial, done, trials)
        streak.record(study, trial)
        schedule.enqueue_promotions(study, trials, after=trial)
        if len(done) >= config.budget:
            study.stop()

    setup = TrialSetup(config.dataset, settings.proxy, settings.rungs, config.limits, config.seed,  # the study's recipe
                       config.artifact_dir, library_versions(), objectives, latency)  # fmt: skip
    objective = Objective(get_space(config.space), data, device, setup, train=train)
    if len(done) < config.budget:
        schedule.enqueue_promotions(study)  # any left undone by an interrupted run
        _optimize(study, objective, callbacks=[callback], catch=(Exception,), gc_after_trial=False)
    queued_only = replace(objective, new_networks=False)  # the budget is met: only enqueued trials run

    def run_one() -> FrozenTrial:
        _optimize(study, queued_only, n_trials=1, callbacks=[callback], catch=(Exception,), gc_after_trial=False)
        return streak.last

    schedule.settle(study, run_one)
    return study
