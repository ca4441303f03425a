"""The study storage on every backend we support: SQLite files and a real PostgreSQL server.

Parametrized the way Optuna parametrizes its own storage tests: each test runs once per backend.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from nas import optuna_compat
from nas.storage import BatchingRDBStorage, batched_writes, load_existing_study, make_storage

from .helpers import main
from .postgres import postgres_server

_names = count()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nas.db'}"
    return request.getfixturevalue("postgres_url")


def new_study(url: str) -> optuna.Study:
    return optuna.create_study(storage=make_storage(url), study_name=f"s{next(_names)}", directions=["maximize"] * 3)


def test_batched_writes_land_together_when_the_block_ends(storage_url: str) -> None:
    study = new_study(storage_url)
    trial = study.ask()
    assert isinstance(optuna_compat.trial_storage(trial), BatchingRDBStorage)
    reader = make_storage(storage_url)  # another connection, as another worker would read
    trial_id = optuna_compat.trial_id(trial)
    with batched_writes(trial):
        trial.suggest_int("depth", 1, 3)
        trial.set_user_attr("arch", "x")
        trial.set_constraint("flops_over_limit", -1.0)
        seen = reader.get_trial(trial_id)
        assert seen.params == {} and seen.user_attrs == {}  # held back
    seen = reader.get_trial(trial_id)
    assert set(seen.params) == {"depth"} and seen.user_attrs == {"arch": "x"}
    assert seen.system_attrs  # the constraint


def test_batched_writes_are_kept_when_the_block_raises(storage_url: str) -> None:
    study = new_study(storage_url)
    trial = study.ask()
    with pytest.raises(RuntimeError), batched_writes(trial):
        trial.suggest_categorical("op", ["ir", "fire"])
        trial.set_user_attr("arch", "y")
        raise RuntimeError("a bug after sampling")
    seen = make_storage(storage_url).get_trial(optuna_compat.trial_id(trial))
    assert set(seen.params) == {"op"} and seen.user_attrs == {"arch": "y"}


def test_writes_outside_a_batch_commit_at_once(storage_url: str) -> None:
    study = new_study(storage_url)
    trial = study.ask()
    trial.set_user_attr("k", 1)
    assert make_storage(storage_url).get_trial(optuna_compat.trial_id(trial)).user_attrs == {"k": 1}


def test_existing_study_loads_by_name_or_alone(storage_url: str) -> None:
    study = new_study(storage_url)
    assert load_existing_study(storage_url, study.study_name).study_name == study.study_name
    with pytest.raises(ValueError, match="no study 'nope'"):
        load_existing_study(storage_url, "nope")


def test_sqlite_pragma_is_set_on_the_storage_engine_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    storage = make_storage(url)._backend  # under the trial cache
    with storage.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    other = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'other.db'}")  # someone else's engine
    with other.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: SQLite's default, untouched
    with sqlite3.connect(tmp_path / "nas.db") as db:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_dashboard_entry_point_loads_neither_torch_nor_the_search_stack() -> None:
    code = (
        "import sys, nas.dashboard; print(sorted(m for m in ('torch', 'nas.study', 'nas.search') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("kind", ["text", "foreign-sqlite", "corrupted-sqlite"])
def test_foreign_or_corrupted_database_is_refused_and_left_untouched(tmp_path: Path, capsys, kind) -> None:
    path = tmp_path / "nas.db"
    if kind == "text":
        path.write_text("my thesis, not a database")
    else:
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
            db.execute("INSERT INTO invoices VALUES (1, 9.5)")
        db.close()
        if kind == "corrupted-sqlite":
            data = bytearray(path.read_bytes())
            data[100:4096] = os.urandom(3996)
            path.write_bytes(bytes(data))
    before = path.read_bytes()
    assert main(["--budget", "1", "--storage", f"sqlite:///{path}"]) == 2
    err = capsys.readouterr().err
    assert "refusing" in err and len(err.strip().splitlines()) == 1
    assert path.read_bytes() == before
    assert {p.name for p in tmp_path.iterdir()} == {"nas.db"}


def test_a_trials_writes_land_together_when_the_block_ends_even_on_an_error(tmp_path: Path) -> None:
    from nas.storage import batched_writes, make_storage

    url = f"sqlite:///{tmp_path / 'nas.db'}"
    study = optuna.create_study(storage=make_storage(url), sampler=optuna.samplers.RandomSampler(seed=0))
    outside = optuna.load_study(study_name=study.study_name, storage=url)  # another connection's view
    trial = study.ask()
    with pytest.raises(RuntimeError, match="boom"), batched_writes(trial):
        x = trial.suggest_int("x", 0, 9)
        trial.set_user_attr("note", "held")
        assert trial.params == {"x": x} and trial.user_attrs == {"note": "held"}  # the trial sees its own
        assert outside.get_trials()[0].params == {} and outside.get_trials()[0].user_attrs == {}
        raise RuntimeError("boom")
    landed = optuna.load_study(study_name=study.study_name, storage=url).get_trials()[0]
    assert landed.params == {"x": x} and landed.user_attrs == {"note": "held"}
    trial.set_user_attr("after", 1)  # outside a block: written at once
    assert outside.get_trials()[0].user_attrs == {"note": "held", "after": 1}


_POP_ALL = """
import sys, optuna
from nas.storage import make_storage
study = optuna.load_study(study_name=sys.argv[2], storage=make_storage(sys.argv[1]))
while (trial_id := study._pop_waiting_trial_id()) is not None:
    print(trial_id, flush=True)
"""


@pytest.mark.slow  # several processes: their start-up is most of it
def test_workers_popping_queued_trials_together_never_take_the_same_one(storage_url: str) -> None:
    """Optuna claims a WAITING trial by reading its state, then writing RUNNING. PostgreSQL locks
    the row between the two (FOR UPDATE); SQLite ignores FOR UPDATE, so two workers could both
    run one queued promotion (seen in CI with 4 workers); the claim must be atomic there too."""
    study = new_study(storage_url)
    for k in range(150):
        study.enqueue_trial({"x": k}, skip_if_exists=False)
    command = [sys.executable, "-c", _POP_ALL, storage_url, study.study_name]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    popped = [int(line) for proc in procs for line in proc.communicate(timeout=120)[0].split()]
    assert all(proc.returncode == 0 for proc in procs)
    assert sorted(popped) == sorted(t._trial_id for t in study.get_trials())  # each one, once


_QUEUE_ALL = """
import sys, optuna
from nas.schedule import enqueue_once
from nas.storage import make_storage
study = optuna.load_study(study_name=sys.argv[2], storage=make_storage(sys.argv[1]))
runs = [(t, 1, 0) for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
for _ in range(3):
    print(enqueue_once(study, runs), flush=True)
"""


@pytest.mark.slow  # several processes: their start-up is most of it
def test_workers_queuing_the_same_promotions_together_queue_each_once(storage_url: str) -> None:
    """Workers that finish trials at the same moment find the same promotions due. The look at the
    study and the queuing happen under the study's lock (an advisory lock on PostgreSQL, a lock file
    beside SQLite), so 4 processes queuing 30 promotions, three times each, queue each once."""
    study = new_study(storage_url)
    for k in range(30):
        study.add_trial(optuna.trial.create_trial(
            params={"x": float(k)}, distributions={"x": optuna.distributions.FloatDistribution(0, 100)},
            values=[k / 30, 1.0, 1.0], user_attrs={"digest": f"net{k}"}))  # fmt: skip
    command = [sys.executable, "-c", _QUEUE_ALL, storage_url, study.study_name]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    queued = sum(int(n) for proc in procs for n in proc.communicate(timeout=120)[0].split())
    assert all(proc.returncode == 0 for proc in procs)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert queued == len(waiting) == 30
    assert sorted(t.user_attrs["digest"] for t in waiting) == sorted(f"net{k}" for k in range(30))


def test_writes_check_what_optuna_checks_and_overwrite_attrs(storage_url: str) -> None:
    study = new_study(storage_url)
    first, second = study.ask(), study.ask()
    with batched_writes(first):
        first.suggest_int("depth", 1, 3)
        first.set_user_attr("seed", 1)
        first.set_user_attr("seed", 2)  # the last value wins, as with Optuna's commit per write
    first.set_user_attr("seed", 3)
    with pytest.raises(ValueError, match="Cannot set different distribution kind"), batched_writes(second):
        second.suggest_categorical("depth", ["a", "b"])  # the study's "depth" is an int
    study.tell(first, [0.5, 1.0, 1.0])
    with pytest.raises(RuntimeError, match="finished"):
        first.set_user_attr("late", 1)
    seen = make_storage(storage_url).get_trial(optuna_compat.trial_id(first))
    assert seen.user_attrs == {"seed": 3} and seen.params == {"depth": seen.params["depth"]}
    assert make_storage(storage_url).get_trial(optuna_compat.trial_id(second)).params == {}
