"""Parallel workers on one SQLite study, and workers on several 'machines' sharing PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas import ArchSpec, count_cost
from nas.front import feasible_front
from nas.parallel import default_workers, worker_device
from nas.trials import counts_toward_budget

from .postgres import postgres_server

USER_ATTRS = {"arch", "digest", "seed", "train_seconds"}


def run_concurrently(commands: list[list[str]], timeout: float = 600) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in commands]
    results = []
    for cmd, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return results


def check_study(storage: str, budget: int, workers: int) -> list:
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    every = study.get_trials()
    done = [t for t in every if t.state == TrialState.COMPLETE and counts_toward_budget(t)]
    assert budget <= len(done) <= budget + workers - 1  # extras: trials in flight when the budget was met
    assert not [t for t in every if t.state in (TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)]
    for t in done:
        assert set(t.user_attrs) >= USER_ATTRS or "duplicate_of" in t.user_attrs
    # no architecture trained twice: repeats reuse the first result
    trained = [t.user_attrs["digest"] for t in done if "duplicate_of" not in t.user_attrs]
    assert len(trained) == len(set(trained))
    assert len({t.number for t in every}) == len(every)
    return done


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


def test_workers_flag_runs_processes_against_one_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    cmd = [sys.executable, "-m", "nas.search", "--budget", "6", "--epochs", "1", "--storage", storage, "--workers", "2"]
    (result,) = run_concurrently([cmd])
    assert result.returncode == 0, result.stderr
    assert f"2 workers, {max(1, (os.cpu_count() or 1) // 2)} torch threads each" in result.stdout
    done = check_study(storage, 6, 2)
    assert len(done) == int(result.stdout.split(" finished trials in study")[0].split()[-1])  # counted in the summary


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
            assert t.values[1:] == [cost.flops, cost.params]
        assert len({t.user_attrs["seed"] for t in done}) == len(done)
