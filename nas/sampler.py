"""The samplers a search can use, and how they are seeded on a first run and on each resume."""

from __future__ import annotations

import dataclasses
import functools
import threading

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.optuna_compat import quiet_experimental, tpe_module
from nas.tpe_kept import (
    COMPLETE,
    INFEASIBLE,
    PRUNED,
    RUNNING,
    GroupsReadOnce,
    InternalReprs,
    LeadingFronts,
    TrialKinds,
    TrialSnapshot,
)

SAMPLERS = ("tpe", "nsga2", "random")


@dataclasses.dataclass
class _Kept:
    """What nas's TPE keeps between samples of one study."""

    reprs: InternalReprs = dataclasses.field(default_factory=InternalReprs)
    fronts: LeadingFronts = dataclasses.field(default_factory=LeadingFronts)
    kinds: TrialKinds = dataclasses.field(default_factory=TrialKinds)


@dataclasses.dataclass
class _Split:
    """One sample's split of the trials into TPE's "good" and "bad" ones, with their trial ids."""

    below: list[FrozenTrial]
    above: list[FrozenTrial]
    ids: dict[int, np.ndarray]  # by id() of the list: each list's trial ids, for ``InternalReprs``


class _TPESampler(optuna.samplers.TPESampler):
    """Optuna's TPE, proposing exactly what it proposes, with each trial read and worked out once
    (``nas.tpe_kept``) instead of at every sample."""

    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        if self._group_decomposed_search_space is not None:
            self._group_decomposed_search_space = GroupsReadOnce(self._group_decomposed_search_space)
        self._kept: dict[tuple, _Kept] = {}  # by (storage, study id): a sampler may serve two studies
        self._now: _Kept | None = None
        self._split: _Split | None = None  # the sample's split, once worked out
        self._lock = threading.Lock()  # what is kept is shared: one sample at a time (study.optimize(n_jobs=...))

    def _get_internal_repr(self, trials: list[FrozenTrial], search_space: dict, study: optuna.Study) -> dict:
        if self._now is None:  # outside sample_relative (sample_independent): Optuna's own
            return super()._get_internal_repr(trials, search_space, study)
        ids = self._split.ids.get(id(trials)) if self._split is not None else None
        return self._now.reprs.get(self, trials, search_space, study, ids)

    def _split_once(self, study: optuna.Study, trial: FrozenTrial) -> _Split:
        """The head of Optuna's ``_sample`` and its ``_split_trials``, once per sample instead of
        once per parameter group (three times in our space), each finished trial's kind read once:
        the trials TPE fits (the current one left out), split into its "good" and "bad" ones."""
        if self._split is not None:
            return self._split
        states = [TrialState.COMPLETE, TrialState.PRUNED] + [TrialState.RUNNING] * self._constant_liar
        trials = study._get_trials(deepcopy=False, states=states, use_cache=not self._constant_liar)
        ids = np.fromiter((t._trial_id for t in trials), np.int64, len(trials))
        if self._constant_liar and (current := np.flatnonzero(ids == trial._trial_id)).size:
            del trials[int(current[0])]
            ids = np.delete(ids, current[0])
        kinds = self._now.kinds.of(trials, ids)
        if self._gamma is None:
            multi = len(study.directions) > 1
            self._gamma = tpe_module.default_gamma_multiobjective if multi else tpe_module.default_gamma
        n_below = self._gamma(int(np.count_nonzero(kinds != RUNNING)))  # running trials do not count (Optuna #4073)
        picked = []
        fronts = functools.partial(self._now.fronts.split, tpe_module._split_complete_trials)
        for kind, split in ((COMPLETE, fronts), (PRUNED, tpe_module._split_pruned_trials)):
            below, _ = split([trials[i] for i in np.flatnonzero(kinds == kind)], study, n_below)
            picked += below
            n_below = max(0, n_below - len(below))
        picked += tpe_module._split_infeasible_trials(
            [trials[i] for i in np.flatnonzero(kinds == INFEASIBLE)], n_below
        )[0]
        is_below = np.isin(ids, np.fromiter((t._trial_id for t in picked), np.int64, len(picked)))
        parts = [np.flatnonzero(is_below), np.flatnonzero(~is_below)]  # each in trial order, as Optuna sorts them
        below, above = ([trials[i] for i in part] for part in parts)
        self._split = _Split(below, above, {id(below): ids[parts[0]], id(above): ids[parts[1]]})
        return self._split

    def _sample(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        """Optuna's ``_sample`` with the split worked out once per sample (``_split_once``)."""
        if self._now is None:
            return super()._sample(study, trial, search_space)
        split = self._split_once(study, trial)
        mpe_below = self._build_parzen_estimator(study, search_space, split.below, handle_below=True)
        mpe_above = self._build_parzen_estimator(study, search_space, split.above, handle_below=False)
        samples_below = mpe_below.sample(self._rng.rng, self._n_ei_candidates)
        acq_func_vals = self._compute_acquisition_func(samples_below, mpe_below, mpe_above)
        chosen = optuna.samplers.TPESampler._compare(samples_below, acq_func_vals)
        return {name: dist.to_external_repr(chosen[name]) for name, dist in search_space.items()}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        with self._lock:
            self._now = self._kept.setdefault((study._storage, study._study_id), _Kept())
            try:
                return super().sample_relative(TrialSnapshot(study), trial, search_space)  # type: ignore[arg-type]
            finally:
                self._now, self._split = None, None


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
