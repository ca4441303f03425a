"""Worker processes on one SQLite study and on PostgreSQL 'machines', end to end (slow)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from nas import ArchSpec, count_cost
from nas.front import feasible_front

from ..browser import free_port
from ..helpers import check_study, main, run_concurrently, settled_rescoring
from ..postgres import open_connections, postgres_server


@pytest.mark.slow
def test_four_processes_hammering_one_sqlite_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    commands = [
        [sys.executable, "-m", "nas.search", "--budget", "12", "--epochs", "1", "--storage", storage, "--seed", str(k)]
        for k in range(4)
    ]
    for result in run_concurrently(commands):
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
    check_study(storage, 12, 4)


@pytest.mark.slow
def test_workers_starting_together_on_a_new_postgresql_database() -> None:
    script = "import sys; from nas.storage import make_storage; make_storage(sys.argv[1], 30)"
    with postgres_server() as url:
        results = run_concurrently([[sys.executable, "-c", script, url] for _ in range(8)])
        assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results if r.returncode]


@pytest.mark.slow
def test_three_machines_share_one_postgresql_study() -> None:
    with postgres_server() as url:
        commands = [
            [sys.executable, "-m", "nas.search", "--budget", "9", "--epochs", "1", "--storage", url, "--seed", str(k)]
            for k in range(3)
        ]
        for result in run_concurrently(commands):
            assert result.returncode == 0, result.stderr
        done = check_study(url, 9, 3)
        study = optuna.load_study(study_name="digits-mixed", storage=url)
        front = feasible_front(study)
        assert front
        for t in front:  # the front reads back intact
            spec = ArchSpec.from_string(t.user_attrs["arch"])
            assert spec.digest() == t.user_attrs["digest"]
            cost = count_cost(spec)
            assert t.values[1:] == (cost.flops, cost.params)  # the evidence record: a tuple
        assert len({t.user_attrs["seed"] for t in done}) == len(done)


@pytest.mark.slow
def test_workers_flag_runs_processes_against_one_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    cmd = [sys.executable, "-m", "nas.search", "--budget", "6", "--epochs", "1", "--storage", storage, "--workers", "2"]
    (result,) = run_concurrently([cmd])
    assert result.returncode == 0, result.stderr
    assert f"2 workers, {max(1, (os.cpu_count() or 1) // 2)} torch threads each" in result.stdout
    done = check_study(storage, 6, 2)
    assert len(done) == int(result.stdout.split(" finished trials in study")[0].split()[-1])  # counted in the summary


@pytest.mark.slow
def test_eight_workers_through_the_grpc_proxy_on_postgresql_lose_nothing() -> None:
    """Eight worker processes reach the study only through one gRPC proxy; the proxy holds the
    only database connections (at most its pool's 15), counted on the server while they run."""
    with postgres_server() as database:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "nas.grpc_server", "--storage", database, "--port",
                                   str(port)], stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert "gRPC storage proxy for" in server.stdout.readline()
            cmd = [sys.executable, "-m", "nas.search", "--budget", "16", "--epochs", "1", "--refine", "1",
                   "--refine-budget", "1", "--storage", f"grpc://127.0.0.1:{port}"]  # fmt: skip
            procs = [subprocess.Popen([*cmd, "--seed", str(k)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True) for k in range(8)]  # fmt: skip
            engine = sqlalchemy.create_engine(database)
            peak = 0
            while any(p.poll() is None for p in procs):
                peak = max(peak, open_connections(engine))
                time.sleep(0.5)
            engine.dispose()
            for proc in procs:
                _, err = proc.communicate()
                assert proc.returncode == 0, err
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert 1 <= peak <= 15, peak  # the proxy's pool, not one pool per worker
        done = check_study(database, 16, 8)
        study = optuna.load_study(study_name="digits-mixed", storage=database)
        refined = [t for t in study.trials if t.user_attrs.get("replicate", 0) > 0 and t.state.name == "COMPLETE"]
        keys = [(t.user_attrs["digest"], t.user_attrs["replicate"]) for t in refined]
        assert refined and len(keys) == len(set(keys)) and len(done) <= 16 + 7  # no re-scoring run trained twice
        settled_rescoring(study, refine=1, share=1.0)  # the race decided by 8 workers: within budget, finished


@pytest.mark.slow
def test_a_search_through_the_proxy_lands_in_the_database(tmp_path: Path) -> None:
    database, port = f"sqlite:///{tmp_path / 'nas.db'}", free_port()
    server = subprocess.Popen([sys.executable, "-m", "nas.grpc_server", "--storage", database, "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert "gRPC storage proxy for" in server.stdout.readline()
        url = f"grpc://127.0.0.1:{port}"
        assert main(["--budget", "3", "--epochs", "1", "--refine", "0", "--storage", url]) == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
    check_study(database, 3, 1)  # read from the database itself: every trial is there
    assert optuna.load_study(study_name="digits-mixed", storage=database).user_attrs["settings"]["epochs"] == 1
