"""Parallel workers on one SQLite study, and workers on several 'machines' sharing PostgreSQL."""

from __future__ import annotations

import pytest

from nas.parallel import default_workers, worker_device


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
