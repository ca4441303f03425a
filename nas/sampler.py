"""The samplers a search can use, and how they are seeded on a first run and on each resume."""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from nas.optuna_compat import quiet_experimental

SAMPLERS = ("tpe", "nsga2", "random")


class _TrialSnapshot:
    """``study`` with its trials read from storage once. TPE with ``constant_liar`` re-reads every
    trial, running ones included, for each parameter group it samples; one read per trial gives
    it the same trials (they are sampled milliseconds apart) at a third of the storage queries."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study
        self._trials = study.get_trials(deepcopy=False)

    def __getattr__(self, name: str):  # everything else is the study's own
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = False, states=None, use_cache: bool = False) -> list[FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]


class _NewTrialsOnly:
    """``study`` showing, of its trials, only those not shown before (by number)."""

    def __init__(self, study: optuna.Study, shown: set[int]) -> None:
        self._study, self._shown = study, shown

    def __getattr__(self, name: str):
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = False, states=None, use_cache: bool = False) -> list[FrozenTrial]:
        new = [t for t in self._study._get_trials(False, states, use_cache) if t.number not in self._shown]
        self._shown.update(t.number for t in new)
        return new


class _GroupsReadOnce:
    """Optuna's group decomposition of the search space, reading each finished trial once. Optuna
    adds every finished trial's parameter names again at every sample (O(trials) per trial, 40 ms at
    5,000); names added again cannot split a group further, so only the new trials change it."""

    def __init__(self, groups) -> None:  # noqa: ANN001 (Optuna's private _GroupDecomposedSearchSpace)
        self._groups, self._shown = groups, set()

    def calculate(self, study: optuna.Study, use_cache: bool = False):  # noqa: ANN201
        return self._groups.calculate(_NewTrialsOnly(study, self._shown), use_cache)


class _TPESampler(optuna.samplers.TPESampler):
    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        if self._group_decomposed_search_space is not None:
            self._group_decomposed_search_space = _GroupsReadOnce(self._group_decomposed_search_space)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        return super().sample_relative(_TrialSnapshot(study), trial, search_space)  # type: ignore[arg-type]


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """Samplers read infeasibility from ``trial.set_constraint`` (Optuna 5)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {list(SAMPLERS)}")
    with quiet_experimental():  # multivariate/group TPE is "experimental" in name only
        if name == "tpe":
            # group=True: the space is conditional (stages 3 and 4 exist or not); constant_liar:
            # parallel workers do not all sample next to the same running trial. Settings chosen
            # by bench/sampler_efficiency.py (bench/RESULTS.md).
            return _TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10, constant_liar=True)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        return optuna.samplers.RandomSampler(seed=seed)


def sampler_seed(seed: int, worker: int, trials_before: int) -> int:
    """The sampler's seed: ``seed + worker`` for a new study, a fresh stream for each resume.
    Re-seeding a resumed study with its first seed would draw its first random architectures
    again, and they would come back as duplicates that use up the budget."""
    if trials_before == 0:
        return seed + worker
    return int(np.random.SeedSequence([seed, worker, trials_before]).generate_state(1)[0])
