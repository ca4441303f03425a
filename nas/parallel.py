"""Parallel workers on one machine, and clean stops on Ctrl-C / SIGTERM.

Every worker is a process running the same ``run_search`` against the same study; the storage
(SQLite in WAL mode, or a database server) is the only thing they share. Workers stop when the
study holds the budget, so trials still running at that moment finish too: a parallel search
can end with up to ``workers - 1`` finished trials beyond the budget (all kept and counted).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from dataclasses import replace

import optuna
import torch

from nas.search_config import SearchConfig
from nas.search_loop import SearchFailed, run_search


class Interrupted(KeyboardInterrupt):
    """Raised in place of the default handling of SIGINT / SIGTERM, so that the trial in flight
    is marked failed (Optuna treats KeyboardInterrupt that way) before the process exits."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def raise_on_signals() -> None:
    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def exit_code(exc: KeyboardInterrupt) -> int:
    """130 for SIGINT (Ctrl-C), 143 for SIGTERM: 128 + the signal number, as shells do."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def _spread_over_gpus(device: str, gpu_count: int) -> bool:
    """``cuda`` (and ``auto`` where CUDA is present) means every visible GPU; ``cuda:N`` means GPU N."""
    return gpu_count > 0 and (device == "cuda" or device == "auto")


def default_workers(device: str, gpu_count: int | None = None) -> int:
    """One per visible GPU with --device cuda, else one (``cuda:N`` is one GPU: one worker)."""
    gpu_count = torch.cuda.device_count() if gpu_count is None else gpu_count
    return max(1, gpu_count) if device == "cuda" else 1


def worker_device(device: str, worker: int, gpu_count: int | None = None) -> str:
    """The device of worker ``k``: GPUs are taken in turn (cuda:k mod count) when the search may
    use them all; ``cuda:N`` keeps every worker on GPU N; CPU workers share the cores."""
    gpu_count = torch.cuda.device_count() if gpu_count is None else gpu_count
    return f"cuda:{worker % gpu_count}" if _spread_over_gpus(device, gpu_count) else device


def worker_config(config: SearchConfig, worker: int) -> SearchConfig:
    return replace(config, device=worker_device(config.device, worker))


def _worker(config: SearchConfig, worker: int, threads: int) -> None:
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    raise_on_signals()
    try:
        run_search(worker_config(config, worker), worker=worker)
    except KeyboardInterrupt as exc:
        sys.exit(exit_code(exc))
    except SearchFailed as exc:
        print(f"worker {worker}: {exc}", file=sys.stderr)
        sys.exit(1)


def start_workers(config: SearchConfig, workers: int) -> list[mp.Process]:
    """Start workers 1..N-1 in their own processes (worker 0 is the caller)."""
    threads = threads_per_worker(config, workers)
    ctx = mp.get_context("spawn")  # a clean interpreter: no inherited torch threads or DB connections
    procs = [ctx.Process(target=_worker, args=(config, k, threads), daemon=False) for k in range(1, workers)]
    for proc in procs:
        proc.start()
    return procs


def threads_per_worker(config: SearchConfig, workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def stop_workers(procs: list[mp.Process], timeout: float = 30) -> None:
    """Ask workers to stop (SIGTERM: their trial in flight is marked failed) and wait for them."""
    for proc in procs:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
