"""The samplers a search can use, and how they are seeded on a first run and on each resume."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from nas.optuna_compat import TPE_SCORE, TPE_SPLIT, quiet_experimental, tpe_module

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


_LACKS = -1  # the trial lacks a parameter of the group: no row


class _InternalReprs:
    """Finished trials' parameters in TPE's internal representation, per search-space group,
    worked out once per trial. Optuna works them out for every trial again at every sample, twice
    per group (its two densities): a third of its time per sample at 5,000 trials."""

    def __init__(self) -> None:
        self._groups: dict[tuple, tuple[dict[int, int], dict[str, list]]] = {}

    def get(self, sampler: optuna.samplers.TPESampler, trials: list[FrozenTrial], space: dict, study: optuna.Study):  # noqa: ANN201
        """What ``TPESampler._get_internal_repr`` returns: a column per parameter of ``space``, a
        row per trial that has all of them, in the order of ``trials``."""
        if not space:
            return {}
        rows, columns = self._groups.setdefault(tuple(space.items()), ({}, {name: [] for name in space}))
        unfinished: dict[str, list] = {name: [] for name in space}  # running trials change: not kept
        picked = []
        for trial in trials:
            finished = trial.state.is_finished()
            row = rows.get(trial._trial_id) if finished else None
            if row is None:
                params = sampler._get_params(trial, study)
                row = _LACKS
                if space.keys() <= params.keys():
                    target = columns if finished else unfinished
                    size = len(next(iter(target.values())))
                    row = size if finished else -2 - size  # unfinished rows go after the kept ones
                    for name, distribution in space.items():
                        target[name].append(distribution.to_internal_repr(params[name]))
                if finished:
                    rows[trial._trial_id] = row
            if row != _LACKS:
                picked.append(row)
        kept = len(next(iter(columns.values())))
        index = [row if row >= 0 else kept - 2 - row for row in picked]
        return {name: np.asarray(columns[name] + unfinished[name])[index] for name in space}


class _SplitOncePerSample:
    """Optuna's TPE splits the trials into its "good" and "bad" ones for each parameter group of a
    sample: the same trials, the same split, three times per sample in our space (non-dominated
    sort, hypervolume tie-break: two thirds of TPE's time at 5,000 trials). Inside ``once()`` (nas's
    TPE, one sample) the split is worked out once; elsewhere (Optuna's own TPESampler) it passes
    straight through."""

    def __init__(self, split) -> None:  # noqa: ANN001 (Optuna's private _split_trials)
        self._split, self._local = split, threading.local()

    def __call__(self, study: optuna.Study, trials: list[FrozenTrial], n_below: int):  # noqa: ANN204
        memo = getattr(self._local, "memo", None)
        if memo is None:
            return self._split(study, trials, n_below)
        key = (n_below, tuple(map(id, trials)))  # the trials stay alive in the sample: ids are unique
        if key not in memo:
            memo[key] = self._split(study, trials, n_below)
        below, above = memo[key]
        return list(below), list(above)  # fresh lists, as Optuna's are

    @contextlib.contextmanager
    def once(self) -> Iterator[None]:
        self._local.memo = {}
        try:
            yield
        finally:
            self._local.memo = None


class _ScoresKept:
    """Optuna's TPE works out every trial's infeasibility (the sum of its violated constraints) at
    every sample; a finished trial's constraints never change, so inside ``kept(memo)`` (nas's TPE)
    each finished trial's score is worked out once and kept in ``memo`` (by identity: the storage's
    cache hands out the same object for a finished trial; the memo holds it, so its id is never
    reused). Elsewhere (Optuna's own TPESampler) it passes straight through."""

    def __init__(self, score) -> None:  # noqa: ANN001 (Optuna's private _get_infeasible_trial_score)
        self._score, self._local = score, threading.local()

    def __call__(self, trial: FrozenTrial) -> float:
        memo = getattr(self._local, "memo", None)
        if memo is None or not trial.state.is_finished():
            return self._score(trial)
        kept = memo.get(id(trial))
        if kept is None or kept[0] is not trial:
            kept = memo[id(trial)] = (trial, self._score(trial))
        return kept[1]

    @contextlib.contextmanager
    def kept(self, memo: dict) -> Iterator[None]:
        self._local.memo = memo
        try:
            yield
        finally:
            self._local.memo = None


def _install(name: str, wrapper: type):  # noqa: ANN202
    """Optuna's TPE module function ``name`` wrapped (once) by ``wrapper``."""
    function = getattr(tpe_module, name)
    if not isinstance(function, wrapper):
        function = wrapper(function)
        setattr(tpe_module, name, function)
    return function


class _TPESampler(optuna.samplers.TPESampler):
    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        if self._group_decomposed_search_space is not None:
            self._group_decomposed_search_space = _GroupsReadOnce(self._group_decomposed_search_space)
        self._reprs = _InternalReprs()
        self._scores: dict[int, tuple[FrozenTrial, float]] = {}  # finished trials' infeasibility

    def _get_internal_repr(self, trials: list[FrozenTrial], search_space: dict, study: optuna.Study) -> dict:
        return self._reprs.get(self, trials, search_space, study)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        with _install(TPE_SPLIT, _SplitOncePerSample).once(), _install(TPE_SCORE, _ScoresKept).kept(self._scores):
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
