"""nas.grpc_server: its arguments are checked in one line (the proxy at work: tests/e2e/test_workers_e2e.py)."""

import subprocess
import sys
from pathlib import Path


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    for args, message in ((["--storage", "grpc://h:1"], "not another proxy"), (["--port", "0"], "--port")):
        proc = subprocess.run([sys.executable, "-m", "nas.grpc_server", *args], capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
