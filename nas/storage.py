"""Study storage: SQLite made safe for several processes, any SQLAlchemy URL, heartbeats.

Optuna's docs warn against bare SQLite for parallel workers. We set the database to WAL mode
(readers never block the writer) and give every connection a long busy timeout, so concurrent
workers wait for the lock instead of failing with "database is locked" (a test hammers one
study with 4 processes). Across machines use PostgreSQL: same flags, ``--storage postgresql://``.
A trial's parameters and attrs are written in one transaction per block (``batched_writes``,
``nas.rdb_storage``), not one commit each as Optuna does; each worker caches the study's trials
and re-reads only those that changed (``nas.trial_cache``).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback

from nas.grpc_client import connect, grpc_address
from nas.optuna_compat import quiet_experimental, trial_id, trial_storage
from nas.paths import DEFAULT_STORAGE, STUDIES_DIR
from nas.rdb_storage import BatchingRDBStorage
from nas.trial_cache import ChangedTrialsCache

SQLITE_BUSY_TIMEOUT_S = 300  # how long a worker waits for another's write before giving up
STALE_RETRIES = 3  # a trial whose worker died is re-run up to this many times
TABLE_CREATION_TRIES = 5


def _sqlite_path(url: str) -> Path | None:
    if grpc_address(url):
        return None
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"malformed storage URL {url!r} (expected e.g. {DEFAULT_STORAGE})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database)
    return None


def default_artifact_dir(storage: str) -> Path:
    """Where trial artifacts go: beside a SQLite file, or studies/artifacts for a server."""
    try:
        path = _sqlite_path(storage)
    except ValueError:
        path = None
    return path.parent / "artifacts" if path else Path(STUDIES_DIR) / "artifacts"


def prepare_storage(url: str) -> str:
    """Validate a URL; for SQLite create its folder, refuse a file that is not a SQLite
    database (left untouched), and switch the database to WAL mode."""
    path = _sqlite_path(url)
    if path is not None:
        if path.exists() and path.stat().st_size:
            _check_is_optuna_database(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _switch_to_wal(path)
    return url


def _switch_to_wal(path: Path) -> None:
    """WAL mode is stored in the database file, so only the first worker switches it. The switch
    needs the database to itself, and SQLite answers "locked" at once (no busy wait) while another
    worker starting beside this one holds it: retry until it is done or the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)) as db:
        while True:
            try:
                if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    return
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05 + 0.1 * random.random())


def _check_is_optuna_database(path: Path) -> None:
    """Refuse (and leave untouched) a file that is not a SQLite database of Optuna's."""
    if path.read_bytes()[:16] != b"SQLite format 3\x00":
        raise ValueError(f"{path} exists and is not a SQLite database; refusing to touch it")
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path} is a corrupted SQLite database ({exc}); refusing to touch it") from None
    if tables and "studies" not in tables:
        raise ValueError(f"{path} is a SQLite database of something else (tables {sorted(tables)}); refusing it")


def batched_writes(trial: optuna.Trial) -> contextlib.AbstractContextManager:
    """Hold the trial's writes back until the block ends, where its storage can (else: no-op)."""
    storage = trial_storage(trial)
    return storage.batched(trial_id(trial)) if isinstance(storage, BatchingRDBStorage) else contextlib.nullcontext()


def study_lock(study: optuna.Study) -> contextlib.AbstractContextManager:
    """One worker at a time, across processes and machines, for a look at the study followed by a
    write that depends on it (queuing promotions). Through the gRPC proxy: no lock."""
    storage = getattr(study._storage, "_backend", study._storage)  # under Optuna's cache, if any
    return storage.study_lock(study._study_id) if isinstance(storage, BatchingRDBStorage) else contextlib.nullcontext()


def annotate_finished_trial(study: optuna.Study, number: int, attrs: dict[str, Any]) -> None:
    """Write ``attrs`` onto finished trial ``number`` of a study opened by this module."""
    storage = getattr(study._storage, "_backend", study._storage)  # under Optuna's cache, if any
    if not isinstance(storage, BatchingRDBStorage):
        raise ValueError(f"study {study.study_name!r} is not in a storage opened by nas.storage")
    trial_id = next(t._trial_id for t in study.get_trials(deepcopy=False) if t.number == number)
    storage.annotate_finished_trial(trial_id, attrs)


def make_storage(url: str, heartbeat_interval: int | None = None) -> BaseStorage:
    """An RDB storage, its trials cached (``nas.trial_cache``); with a heartbeat, trials of a worker
    that died are failed after ``2 x heartbeat_interval`` of silence and re-queued (same parameters)
    for another run.
    ``grpc://HOST:PORT``: a client of the gRPC storage proxy (no heartbeat through it)."""
    if grpc_address(url):
        return connect(url)
    prepare_storage(url)
    engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}} if _sqlite_path(url) else {}
    heartbeat = {}
    if heartbeat_interval:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": 2 * heartbeat_interval,
        }
        with quiet_experimental():
            heartbeat["heartbeat_stale_trial_callback"] = RetryHeartbeatStaleTrialCallback(max_retry=STALE_RETRIES)
    for attempt in range(1, TABLE_CREATION_TRIES + 1):
        try:
            with quiet_experimental():  # heartbeats are "experimental" in name only (since Optuna 2.x)
                return ChangedTrialsCache(BatchingRDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat))
        except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
            error = exc
            # Workers starting together on a new database race to create Optuna's tables
            # (PostgreSQL: duplicate key / relation exists; SQLite: "table ... already exists");
            # the loser retries and finds them.
            racing = isinstance(exc, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError))
            if not (racing or "already exists" in str(exc)):
                break
            time.sleep(0.2 * attempt + random.random())
    raise ValueError(f"cannot open storage {url!r}: {str(error).strip().splitlines()[0]}")


def not_created_yet(url: str) -> bool:
    """A SQLite URL whose file does not exist yet (opening it would create it)."""
    path = _sqlite_path(url)
    return path is not None and not path.exists()


def open_existing_storage(url: str) -> BaseStorage:
    """The storage of a database that must already exist (never creates one)."""
    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        raise ValueError(f"no study database at {url}: run python -m nas.search first")
    return make_storage(url)


def existing_study_names(url: str) -> list[str]:
    """Names of the studies in a storage that must already exist."""
    return optuna.get_all_study_names(storage=open_existing_storage(url))


def load_existing_study(url: str, study_name: str | None) -> optuna.Study:
    """Load a study that must exist; a storage holding a single study needs no name."""
    storage = open_existing_storage(url)
    names = optuna.get_all_study_names(storage=storage)
    if study_name is None:
        if len(names) != 1:
            raise ValueError(f"{url} holds {len(names)} studies {names}: pass --study-name")
        study_name = names[0]
    if study_name not in names:
        raise ValueError(f"no study {study_name!r} in {url}; studies there: {names}")
    return optuna.load_study(study_name=study_name, storage=storage)
