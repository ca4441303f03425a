"""Parallel workers on one SQLite study, and workers on several 'machines' sharing PostgreSQL."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nas.parallel import default_workers, worker_device

from .helpers import check_study, run_concurrently


@pytest.mark.parametrize(
    ("device", "gpus", "workers", "expected"),
    [
        ("cuda", 1, 3, ["cuda:0", "cuda:0", "cuda:0"]),
        ("cuda", 2, 4, ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]),
        ("auto", 2, 2, ["cuda:0", "cuda:1"]),
        ("cuda:1", 2, 3, ["cuda:1", "cuda:1", "cuda:1"]),  # the GPU the user named, for every worker
        ("cpu", 2, 2, ["cpu", "cpu"]),
        ("auto", 0, 2, ["auto", "auto"]),  # no GPU: auto resolves to the CPU in each worker
    ],
)
def test_workers_are_placed_on_the_devices_asked_for(device: str, gpus: int, workers: int, expected: list) -> None:
    assert [worker_device(device, k, gpu_count=gpus) for k in range(workers)] == expected


@pytest.mark.parametrize(
    ("device", "gpus", "expected"), [("cuda", 2, 2), ("cuda", 1, 1), ("cuda:1", 2, 1), ("cpu", 2, 1)]
)
def test_default_worker_count(device: str, gpus: int, expected: int) -> None:
    assert default_workers(device, gpu_count=gpus) == expected


def test_workers_flag_runs_processes_against_one_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    cmd = [sys.executable, "-m", "nas.search", "--budget", "6", "--epochs", "1", "--storage", storage, "--workers", "2"]
    (result,) = run_concurrently([cmd])
    assert result.returncode == 0, result.stderr
    assert f"2 workers, {max(1, (os.cpu_count() or 1) // 2)} torch threads each" in result.stdout
    done = check_study(storage, 6, 2)
    assert len(done) == int(result.stdout.split(" finished trials in study")[0].split()[-1])  # counted in the summary
