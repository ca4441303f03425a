"""nas.grpc_server: a real proxy process in front of a study database; a search through it."""

import subprocess
import sys
from pathlib import Path

import optuna

from .browser import free_port
from .helpers import check_study, main


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


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    for args, message in ((["--storage", "grpc://h:1"], "not another proxy"), (["--port", "0"], "--port")):
        proc = subprocess.run([sys.executable, "-m", "nas.grpc_server", *args], capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
