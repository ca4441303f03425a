"""A study's trials cached in each worker, re-reading from the database only the trials that changed.

Optuna's cache (``_CachedStorage``) keeps finished trials, but on every read of the study it reads
every unfinished trial again whole (its parameters, values and attributes: six queries and a
frozen trial built per trial). With 16 workers and queued promotions that is a dozen or more
trials, at five reads per trial: a third of a worker's CPU per trial (bench/scale.py, profiled).
Here one light query first gives, for the same trials Optuna would re-read, each one's state and
how many parameters, attributes and intermediate values it has; only trials new to this worker
and those whose state or counts moved are read whole. Every read still goes to the database (the
design stays storage-derived: what another worker wrote is seen at once). One thing is seen later
than with Optuna's cache: a running trial's attribute overwritten under the same key by a later
commit, which shows once the trial finishes (nas writes a trial's attributes in two batches,
different keys, and never overwrites one of a running trial).
"""

from __future__ import annotations

import sqlalchemy
from optuna.storages import RDBStorage, _CachedStorage
from optuna.storages._cached_storage import _StudyInfo
from optuna.trial import FrozenTrial, TrialState

from nas.optuna_compat import rdb_models, scoped_session

Stamp = tuple[TrialState, int, int, int, int]


def stamp(trial: FrozenTrial) -> Stamp:
    """What moves when a trial is written to: its state, and how many params, user attrs, system
    attrs and intermediate values it has."""
    return (trial.state, len(trial.distributions), len(trial.user_attrs), len(trial.system_attrs),
            len(trial.intermediate_values))  # fmt: skip


def stored_stamps(storage: RDBStorage, study_id: int, ids: set[int], after_id: int) -> dict[int, Stamp]:
    """The stamps in the database of the study's trials in ``ids`` or with an id above ``after_id``."""
    trials = rdb_models.TrialModel

    def count(model) -> sqlalchemy.ScalarSelect:  # noqa: ANN001
        return sqlalchemy.select(sqlalchemy.func.count()).where(model.trial_id == trials.trial_id).scalar_subquery()

    wanted = trials.trial_id > after_id
    if ids:
        wanted = sqlalchemy.or_(wanted, trials.trial_id.in_(ids))
    query = sqlalchemy.select(
        trials.trial_id, trials.state, count(rdb_models.TrialParamModel), count(rdb_models.TrialUserAttributeModel),
        count(rdb_models.TrialSystemAttributeModel), count(rdb_models.TrialIntermediateValueModel),
    ).where(trials.study_id == study_id, wanted)  # fmt: skip
    with scoped_session(storage) as session:
        return {row[0]: tuple(row[1:]) for row in session.execute(query)}


class ChangedTrialsCache(_CachedStorage):
    """Optuna's cache of an RDB storage's trials that re-reads only the unfinished trials that changed."""

    def _cached(self, trial_id: int) -> FrozenTrial | None:
        where = self._trial_id_to_study_id_and_number.get(trial_id)
        return None if where is None else self._studies[where[0]].trials.get(where[1])

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        with self._lock:
            study = self._studies.setdefault(study_id, _StudyInfo())
            stamps = stored_stamps(self._backend, study_id, study.unfinished_trial_ids, study.last_finished_trial_id)
            changed = {i for i, s in stamps.items() if (t := self._cached(i)) is None or stamp(t) != s}
            if changed:
                # Trials created after the stamps were read come too (ids above the largest): new ones.
                fresh = self._backend._get_trials(study_id, None, changed, max(changed))
                self._add_trials_to_cache(study_id, fresh)
                stamps.update((t._trial_id, stamp(t)) for t in fresh)
            for trial_id, (state, *_) in stamps.items():
                if not state.is_finished():
                    study.unfinished_trial_ids.add(trial_id)
                    continue
                study.last_finished_trial_id = max(study.last_finished_trial_id, trial_id)
                study.unfinished_trial_ids.discard(trial_id)
