"""What nas's TPE keeps between samples, so that each sample does not work out every trial again.

Optuna's multi-objective TPE reads every trial, converts every trial's parameters, scores every
trial's infeasibility and sorts every complete trial into non-dominated fronts at every sample,
some of it once per parameter group. A finished trial never changes, so each of these is worked out
once per trial here; what TPE proposes stays exactly what Optuna's proposes (tests/test_sampler.py).
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from nas.optuna_compat import non_domination_rank, reference_point, solve_hssp, tpe_module
from nas.pareto import GrowingRanks


class TrialSnapshot:
    """``study`` with its trials read from storage once. TPE with ``constant_liar`` re-reads every
    trial, running ones included, for each parameter group it samples; one read per trial gives
    it the same trials (they are sampled milliseconds apart) at a third of the storage queries."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study
        self._trials = study.get_trials(deepcopy=False)
        self._by_states: dict[tuple | None, list[FrozenTrial]] = {}

    def __getattr__(self, name: str):  # everything else is the study's own
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = False, states=None, use_cache: bool = False) -> list[FrozenTrial]:
        key = None if states is None else tuple(states)
        if key not in self._by_states:
            self._by_states[key] = [t for t in self._trials if states is None or t.state in states]
        return list(self._by_states[key])


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


class GroupsReadOnce:
    """Optuna's group decomposition of the search space, reading each finished trial once. Optuna
    adds every finished trial's parameter names again at every sample (O(trials) per trial, 40 ms at
    5,000); names added again cannot split a group further, so only the new trials change it."""

    def __init__(self, groups) -> None:  # noqa: ANN001 (Optuna's private _GroupDecomposedSearchSpace)
        self._groups, self._shown = groups, set()

    def calculate(self, study: optuna.Study, use_cache: bool = False):  # noqa: ANN201
        return self._groups.calculate(_NewTrialsOnly(study, self._shown), use_cache)


# A trial's row, or: not worked out yet; lacks a parameter of the group; running (-3 - its place)
_UNSEEN, _LACKS, _RUNNING = -1, -2, -3


class _GroupRows:
    """One parameter group's finished trials in TPE's internal representation: a column per
    parameter, a row per trial that has them all, and each trial's row by trial id."""

    def __init__(self) -> None:
        self.row_of = np.full(256, _UNSEEN, dtype=np.int64)
        self.columns: list[np.ndarray] = []
        self.size = 0

    def rows(self, ids: np.ndarray) -> np.ndarray:
        if ids.size and ids.max() >= self.row_of.size:
            grown = np.full(2 * int(ids.max()) + 1, _UNSEEN, dtype=np.int64)
            grown[: self.row_of.size] = self.row_of
            self.row_of = grown
        return self.row_of[ids]

    def append(self, trial_id: int, values: list | None) -> int:
        if values is None:
            self.row_of[trial_id] = _LACKS
            return _LACKS
        if not self.columns:  # each column of its first value's type, as np.asarray gives Optuna
            self.columns = [np.empty(16, dtype=np.asarray(v).dtype) for v in values]
        elif self.size == len(self.columns[0]):  # full: double (amortised O(1) per row)
            self.columns = [np.resize(c, 2 * self.size) for c in self.columns]
        for j, value in enumerate(values):
            if np.result_type(self.columns[j], value) != self.columns[j].dtype:  # e.g. an int, then a float
                self.columns[j] = self.columns[j].astype(np.result_type(self.columns[j], value))
            self.columns[j][self.size] = value
        self.row_of[trial_id] = self.size
        self.size += 1
        return self.size - 1


class InternalReprs:
    """Finished trials' parameters in TPE's internal representation, per search-space group,
    worked out once per trial and kept in arrays. Optuna works them out for every trial again at
    every sample, twice per group (its two densities): a third of its time per sample at 5,000."""

    def __init__(self) -> None:
        self._groups: dict[tuple, _GroupRows] = {}

    def get(self, sampler: optuna.samplers.TPESampler, trials: list[FrozenTrial], space: dict, study: optuna.Study,
            ids: np.ndarray | None = None):  # noqa: ANN201  # fmt: skip
        """What ``TPESampler._get_internal_repr`` returns: a column per parameter of ``space``, a
        row per trial that has all of them, in the order of ``trials`` (``ids``: their trial ids)."""
        if not space:
            return {}
        group = self._groups.setdefault(tuple(space.items()), _GroupRows())
        if ids is None:
            ids = np.fromiter((t._trial_id for t in trials), np.int64, len(trials))
        rows = group.rows(ids)
        running: list[list] = []  # running trials' rows change: not kept
        for i in np.flatnonzero(rows == _UNSEEN).tolist():
            trial = trials[i]
            params = sampler._get_params(trial, study)
            values = (
                [d.to_internal_repr(params[n]) for n, d in space.items()] if space.keys() <= params.keys() else None
            )
            if trial.state.is_finished():
                rows[i] = group.append(trial._trial_id, values)
            elif values is None:
                rows[i] = _LACKS
            else:
                rows[i] = _RUNNING - len(running)
                running.append(values)
        rows[rows <= _RUNNING] = group.size + _RUNNING - rows[rows <= _RUNNING]  # after the kept rows
        picked = rows[rows != _LACKS]
        if picked.size == 0:
            return {name: np.asarray([]) for name in space}  # as Optuna's: empty float arrays
        columns = [column[: group.size] for column in group.columns]
        if running:  # np.concatenate promotes types as Optuna's np.asarray of one list does
            more = [np.asarray(values) for values in zip(*running, strict=True)]
            columns = [np.concatenate([c, m]) for c, m in zip(columns, more, strict=True)] if columns else more
        return {name: column[picked] for name, column in zip(space, columns, strict=True)}


# What a trial is to TPE's split (``TrialKinds``): not read yet, running (never kept: it will
# change), or one of the three kinds of finished trial Optuna's split tells apart.
UNSEEN, RUNNING, COMPLETE, PRUNED, INFEASIBLE = -1, 0, 1, 2, 3


class TrialKinds:
    """Each finished trial's kind for TPE's split, worked out once and kept by trial id. Optuna
    tells them apart at every sample, in this order: running; infeasible (a constraint violated,
    scored by ``_get_infeasible_trial_score``); complete; pruned."""

    def __init__(self) -> None:
        self._kinds = np.full(256, UNSEEN, dtype=np.int8)

    def of(self, trials: list[FrozenTrial], ids: np.ndarray) -> np.ndarray:
        """The kind of each of ``trials`` (``ids``: their trial ids)."""
        if ids.size and ids.max() >= self._kinds.size:
            self._kinds = np.append(self._kinds, np.full(int(ids.max()) + 1, UNSEEN, dtype=np.int8))
        kinds = self._kinds[ids]
        for i in np.flatnonzero(kinds == UNSEEN).tolist():
            trial = trials[i]
            if trial.state == optuna.trial.TrialState.RUNNING:
                kinds[i] = RUNNING
                continue
            if tpe_module._get_infeasible_trial_score(trial) > 0:
                kinds[i] = INFEASIBLE
            elif trial.state == optuna.trial.TrialState.COMPLETE:
                kinds[i] = COMPLETE
            elif trial.state == optuna.trial.TrialState.PRUNED:
                kinds[i] = PRUNED
            else:
                raise ValueError(f"TPE fits complete, pruned and running trials, not {trial.state.name}")
            self._kinds[ids[i]] = kinds[i]
        return kinds


def _losses(trials: list[FrozenTrial], study: optuna.Study) -> np.ndarray:
    signs = [-1.0 if d == optuna.study.StudyDirection.MAXIMIZE else 1.0 for d in study.directions]
    return np.array([t.values for t in trials]) * signs


def _held(ranks: np.ndarray) -> np.ndarray:
    """How many trials the fronts up to each front hold. The split uses the fronts up to the first
    that holds n_below (``np.searchsorted``: one past the last if none): whole fronts while they
    fit, then a tie-break on that one. (Optuna's sort counts distinct points, so it stops there or
    later; the fronts past that one do not change the split.)"""
    return np.cumsum(np.bincount(ranks))


class LeadingFronts:
    """The complete trials in the first ``depth`` non-dominated fronts of all the complete trials
    seen so far, with their ranks. A new trial can push a trial to a later front, never to an
    earlier one; so the first ``depth`` fronts of all the trials are those of these trials and the
    new ones, exactly. When the split needs a front past them, the whole sort runs once more."""

    def __init__(self) -> None:
        self._seen: set[int] = set()  # trial numbers
        self._ranks = GrowingRanks()  # of the leading trials (and the new ones), by trial number
        self._depth = 0
        self._last_tie: tuple = (None, np.zeros(0, dtype=int))  # the last greedy tie-break, by front

    def split(self, split, trials: list[FrozenTrial], study: optuna.Study, n_below: int):  # noqa: ANN001, ANN201
        """What Optuna's ``split(trials, study, n_below)`` returns: (below, above)."""
        if len(study.directions) < 2 or not 0 < n_below < len(trials):
            return split(trials, study, n_below)
        reach = n_below + max(n_below // 2, 10)  # fronts past what this split needs: room to grow
        known, seen = self._ranks.keys, self._seen
        kept = [t for t in trials if t.number in known or t.number not in seen]
        new = [t for t in kept if t.number not in known]
        if self._depth and len(kept) - len(new) == len(known) and n_below < len(kept) and len(new) < len(known):
            self._seen.update(t.number for t in new)
            for trial, loss in zip(new, _losses(new, study) if new else [], strict=True):
                self._ranks.add(trial.number, loss)
            rows = [known[t.number] for t in kept]
            losses, ranks = self._ranks.points[rows], self._ranks.ranks[rows]
            held = _held(ranks)
            last = int(np.searchsorted(held, n_below))  # the last front the split uses
            if last < self._depth:  # every front it needs is exact
                below = [kept[i] for i in sorted(self._below(losses, np.minimum(ranks, last + 1), n_below))]
                self._depth = min(self._depth, int(np.searchsorted(held, reach)) + 1)
                self._ranks.drop_from(self._depth)
                below_ids = set(map(id, below))
                return below, [t for t in trials if id(t) not in below_ids]
        losses = _losses(trials, study)
        ranks = non_domination_rank(losses, n_below=reach)  # exact up to the front holding `reach`
        self._depth = min(int(np.searchsorted(_held(ranks), reach)), int(ranks.max())) + 1
        self._seen = {t.number for t in trials}
        leading = np.flatnonzero(ranks < self._depth)
        self._ranks = GrowingRanks()
        self._ranks.of([trials[i].number for i in leading], losses[leading])
        return split(trials, study, n_below)

    def _below(self, losses: np.ndarray, ranks: np.ndarray, n_below: int) -> list[int]:
        """Optuna's choice of the "good" trials, given the ranks its sort gives (exact up to the
        front it stops at, that front's rank + 1 past it): whole fronts while they fit, then the
        greedy hypervolume subset of the next (``_split_complete_trials_multi_objective``)."""
        values, counts = np.unique(ranks, return_counts=True)
        fitting = int(np.max(values[np.cumsum(counts) <= n_below], initial=-1))
        below = np.flatnonzero(ranks <= fitting)
        if below.size < n_below:
            tie = np.flatnonzero(ranks == fitting + 1)
            below = np.append(below, tie[self._tie_break(losses[tie], n_below - below.size)])
        return below.tolist()

    def _tie_break(self, losses: np.ndarray, size: int) -> np.ndarray:
        """Which ``size`` of these points Optuna's greedy hypervolume subset selection keeps (by
        position). Kept for the next samples: the greedy picks one point at a time, so while the
        front stays the same the first ``size`` of a longer pick are the pick of ``size`` (Optuna
        keeps its last pick only for the same size). Fewer distinct points than asked for, or all
        of them, are picked another way: those are not kept."""
        key = (losses.tobytes(), losses.shape)
        kept_key, picked = self._last_tie
        if kept_key != key or size > len(picked):
            picked = solve_hssp(losses, np.arange(len(losses)), size, reference_point(losses))
            if size < len(np.unique(losses, axis=0)):  # a greedy pick
                self._last_tie = (key, picked)
            return picked
        return picked[:size]
