"""The samplers a search can use, and how they are seeded on a first run and on each resume."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from nas.optuna_compat import TPE_SCORE, TPE_SPLIT, TPE_SPLIT_COMPLETE, quiet_experimental, tpe_module
from nas.tpe_kept import (
    FrontsKept,
    GroupsReadOnce,
    InternalReprs,
    LeadingFronts,
    ScoresKept,
    SplitOncePerSample,
    TrialSnapshot,
    WrappedTPEFunction,
)

SAMPLERS = ("tpe", "nsga2", "random")


@dataclasses.dataclass
class _Kept:
    """What nas's TPE keeps between samples of one study."""

    reprs: InternalReprs = dataclasses.field(default_factory=InternalReprs)
    scores: dict = dataclasses.field(default_factory=dict)  # finished trials' infeasibility
    fronts: LeadingFronts = dataclasses.field(default_factory=LeadingFronts)


def _install(name: str, wrapper: type[WrappedTPEFunction]) -> WrappedTPEFunction:
    """Optuna's TPE module function ``name`` wrapped (once) by ``wrapper``."""
    function = getattr(tpe_module, name)
    if not isinstance(function, wrapper):
        function = wrapper(function)
        setattr(tpe_module, name, function)
    return function


class _TPESampler(optuna.samplers.TPESampler):
    """Optuna's TPE, proposing exactly what it proposes, with each trial read and worked out once
    (``nas.tpe_kept``) instead of at every sample."""

    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        if self._group_decomposed_search_space is not None:
            self._group_decomposed_search_space = GroupsReadOnce(self._group_decomposed_search_space)
        self._kept: dict[tuple, _Kept] = {}  # by (storage, study id): a sampler may serve two studies
        self._now: _Kept | None = None
        self._lock = threading.Lock()  # what is kept is shared: one sample at a time (study.optimize(n_jobs=...))

    def _get_internal_repr(self, trials: list[FrozenTrial], search_space: dict, study: optuna.Study) -> dict:
        if self._now is None:  # outside sample_relative (sample_independent): Optuna's own
            return super()._get_internal_repr(trials, search_space, study)
        return self._now.reprs.get(self, trials, search_space, study)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        with self._lock:
            kept = self._now = self._kept.setdefault((study._storage, study._study_id), _Kept())
            try:
                with (
                    _install(TPE_SPLIT, SplitOncePerSample).using({}),
                    _install(TPE_SCORE, ScoresKept).using(kept.scores),
                    _install(TPE_SPLIT_COMPLETE, FrontsKept).using(kept.fronts),
                ):
                    return super().sample_relative(TrialSnapshot(study), trial, search_space)  # type: ignore[arg-type]
            finally:
                self._now = None


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
