"""Optuna's RDBStorage with a trial's writes batched into one transaction, safe claims of queued
trials on SQLite, and a lock on a study across processes and machines."""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy
from optuna import distributions
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from sqlalchemy.dialects import postgresql, sqlite

from nas.optuna_compat import rdb_models, scoped_session

QUEUE_LOCK_KEY = 0x4E4153  # "NAS": PostgreSQL advisory locks are (this, study id)
UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}  # dialects with INSERT ... ON CONFLICT

Write = Callable[[Any, Any], None]  # (session, the trial's row)


def _sqlite_commit_without_fsync(dbapi_connection, connection_record) -> None:
    """In WAL mode, synchronous=NORMAL skips the fsync on every commit (a trial makes dozens)
    and still never corrupts the database; only a power cut can lose the last commits."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class BatchingRDBStorage(RDBStorage):
    """Optuna's RDBStorage, but inside ``batched(trial_id)`` that trial's parameters and attrs are
    held back and written together in one transaction when the block ends (also on an error).
    Optuna commits each on its own, ~1 ms apiece, and a trial makes ~25 of them. On SQLite, the
    storage's own connections (and no other engine's) skip the fsync on commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[int, list[Write]] = {}
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._sqlite_file = self._sqlite and self.engine.url.database not in (None, "", ":memory:")
        if self._sqlite_file:
            sqlalchemy.event.listen(self.engine, "connect", _sqlite_commit_without_fsync)
            self.engine.dispose()  # the connections opened to create the tables reconnect with the PRAGMA

    @contextlib.contextmanager
    def batched(self, trial_id: int) -> Iterator[None]:
        self._held[trial_id] = []
        try:
            yield
        finally:
            if writes := self._held.pop(trial_id):
                self._commit(trial_id, writes, ignore_integrity_error=False)  # an error is raised, not dropped

    def _write(self, trial_id: int, write: Write) -> None:
        if trial_id in self._held:
            self._held[trial_id].append(write)
        else:  # as Optuna does: a transaction of its own
            self._commit(trial_id, [write], ignore_integrity_error=True)

    def _commit(self, trial_id: int, writes: list[Write], ignore_integrity_error: bool) -> None:
        """The writes in one transaction. The trial is looked up and checked once for all of them
        (Optuna: once per write, a query each)."""
        with scoped_session(self, ignore_integrity_error) as session:
            trial = rdb_models.TrialModel.find_or_raise_by_id(trial_id, session)
            self.check_trial_is_updatable(trial_id, trial.state)
            for write in writes:
                write(session, trial)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        """Optuna reads the trial's state, then writes the new one: a worker claims a WAITING trial
        (a queued promotion) only if it is still WAITING. PostgreSQL locks the row in between
        (FOR UPDATE); SQLite ignores FOR UPDATE, so two workers could both claim one trial. There
        the transaction takes the write lock first (BEGIN IMMEDIATE), which makes it atomic."""
        if self._sqlite:
            session = self.scoped_session()  # the one Optuna's transaction below runs in (per thread)
            try:
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            except sqlalchemy.exc.SQLAlchemyError:
                session.rollback()
                raise
        return super().set_trial_state_values(trial_id, state, values)

    @contextlib.contextmanager
    def study_lock(self, study_id: int) -> Iterator[None]:
        """Held by one worker of the study at a time, on every machine: PostgreSQL's advisory lock
        (on a connection of its own, released if the worker dies), a lock file beside a SQLite
        database (``flock``; SQLite is one machine's anyway). Elsewhere (in memory): no lock."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                key = {"space": QUEUE_LOCK_KEY, "study": study_id}
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:space, :study)"), key)
                try:
                    yield
                finally:
                    connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:space, :study)"), key)
        elif self._sqlite_file:
            with open(f"{self.engine.url.database}-queue.lock", "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        else:
            yield

    def _set_trial_param(self, trial_id, name, value, distribution, previous) -> None:  # noqa: ANN001
        """As Optuna's: the parameter's distribution must agree with the one the study has for it."""

        def write(session, trial) -> None:  # noqa: ANN001
            known = previous
            if known is None:  # Optuna's cache passes the one it knows; else the study's first record
                models = rdb_models.TrialParamModel, rdb_models.TrialModel
                record = (session.query(models[0]).join(models[1]).filter(models[1].study_id == trial.study_id)
                          .filter(models[0].param_name == name).first())  # fmt: skip
                known = distributions.json_to_distribution(record.distribution_json) if record else None
            if known is not None:
                distributions.check_distribution_compatibility(known, distribution)
            as_json = distributions.distribution_to_json(distribution)
            session.add(rdb_models.TrialParamModel(trial_id=trial_id, param_name=name, param_value=value,
                                                   distribution_json=as_json))  # fmt: skip

        self._write(trial_id, write)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write(trial_id, self._attr_write(rdb_models.TrialUserAttributeModel, trial_id, key, value))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write(trial_id, self._attr_write(rdb_models.TrialSystemAttributeModel, trial_id, key, value))

    def _attr_write(self, model: Any, trial_id: int, key: str, value: Any) -> Write:
        """An upsert of the attribute (SQLite, PostgreSQL); elsewhere Optuna's own write."""
        upsert = UPSERTS.get(self.engine.dialect.name)
        if upsert is None:
            return lambda session, _: self._set_trial_attr_without_commit(session, model, trial_id, key, value)
        insert = upsert(model).values(trial_id=trial_id, key=key, value_json=json.dumps(value))
        statement = insert.on_conflict_do_update(index_elements=[model.trial_id, model.key],
                                                 set_={"value_json": insert.excluded.value_json})  # fmt: skip
        return lambda session, _: session.execute(statement)

    def annotate_finished_trial(self, trial_id: int, attrs: dict[str, Any]) -> None:
        """User attrs on a finished trial, in one transaction. Optuna refuses these; results
        measured later (final training) go there so optuna-dashboard shows them on the trial."""
        self._annotating = True
        try:
            with self.batched(trial_id):
                for key, value in attrs.items():
                    self.set_trial_user_attr(trial_id, key, value)
        finally:
            self._annotating = False

    def check_trial_is_updatable(self, trial_id: int, trial_state: Any) -> None:
        if not getattr(self, "_annotating", False):
            super().check_trial_is_updatable(trial_id, trial_state)
