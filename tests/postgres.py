"""A real PostgreSQL server on loopback for the tests that need one (Debian's postgresql).

Started in a temporary folder as the ``postgres`` user when the tests run as root, stopped at
the end. Tests skip with the reason when the server binaries are not installed.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .browser import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.skip("no PostgreSQL server on this machine (apt-get install postgresql; .ci/run installs it)")
    return found[-1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh database on a private server."""
    psycopg = pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = tempfile.mkdtemp(prefix="nas-pg-")
    if as_postgres:
        shutil.chown(root, "postgres")
    data, port = os.path.join(root, "data"), free_port()
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(initdb, "-D", data, "-U", "nas", "--auth=trust")
    run(pg_ctl, "-D", data, "-w", "-l", os.path.join(root, "log"), "-o", f"-p {port} -k {root} -h 127.0.0.1",
        "start")  # fmt: skip
    try:
        url = f"postgresql://nas@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(host="127.0.0.1", port=port, user="nas", dbname="postgres").close()
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, "PostgreSQL did not start"
                time.sleep(0.2)
        yield url
    finally:
        subprocess.run([*as_postgres, pg_ctl, "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def open_connections(engine) -> int:  # noqa: ANN001 (a SQLAlchemy engine on the database)
    """Connections open to the engine's database now, the one asking not counted."""
    import sqlalchemy

    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with engine.connect() as conn:
        return conn.execute(sqlalchemy.text(query)).scalar()
