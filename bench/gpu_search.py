"""The GPU path: trials per minute and GPU busy share of a real search, 1..8 trials per GPU, vs the CPU.

    python bench/gpu_search.py [--seconds 20] [--per-gpu 1 2 4 8] [--datasets random-cifar digits]
                               [--cifar-images 40000] [--batch-size 64] [--device cuda]

Written so that one run of at most about 8 minutes on one GPU measures everything: for each
dataset (``random-cifar``: 40,000 CIFAR-10-shaped training images, bench/workload.py; ``digits``),
K worker processes on the one GPU (K in ``--per-gpu``) run the search's own objective (the mixed
space, random sampler, SQLite storage, artifacts) for ``--seconds`` (then finish their trial in
flight), while NVML samples how busy the GPU is. digits trials train the default 10 epochs;
random-cifar trials train ``--cifar-epochs`` (1: a 10-epoch trial there takes minutes) and are
scaled to 10 by their own training time. Trials per minute = K x 60 / the mean trial time; data
loading and CUDA start-up are left out (a search pays them once). The CPU path on the same
workload is measured in the same call: the first networks of the same sample trained on the CPU
with every core, scaled the same way on random-cifar. Goals (issue: the GPU path): GPU busy >= 50% during a
search; >= 10 trials/min on random-cifar (a 200-trial search in 20 min); a GPU trial faster than
a CPU trial on every dataset. ``--device cpu`` runs the same code on the CPU (a smoke test).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.trainer_throughput import GpuUtilisation  # noqa: E402
from bench.workload import random_cifar, sample_specs  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.dataset import Dataset  # noqa: E402
from nas.objective import Objective, TrialSetup  # noqa: E402
from nas.objectives import DEFAULT, directions  # noqa: E402
from nas.proxy import ProxyConfig, train_and_evaluate  # noqa: E402
from nas.search_config import Limits  # noqa: E402
from search_spaces import get_space  # noqa: E402


def make_data(name: str, cifar_images: int) -> Dataset:
    return random_cifar(cifar_images) if name == "random-cifar" else load_dataset(name)


def worker(name: str, cifar_images: int, device: str, storage: str, seconds: float, seed: int, threads: int,
           proxy: ProxyConfig, ready: mp.Barrier, out: mp.Queue) -> None:  # fmt: skip
    """One search worker: the search's objective on ``device`` for ``seconds`` (then its trial in flight)."""
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = make_data(name, cifar_images).to(device)
    artifacts = Path(storage.removeprefix("sqlite:///")).parent / "artifacts"
    setup = TrialSetup(dataset_name=name, proxy=proxy, rungs=(proxy.epochs,), limits=Limits(), seed=seed,
                       artifact_dir=artifacts, versions={})  # fmt: skip
    objective = Objective(get_space("mixed"), data, torch.device(device), setup)
    study = optuna.load_study(study_name="gpu", storage=storage, sampler=optuna.samplers.RandomSampler(seed=seed))
    ready.wait()  # every worker has its data on the device: the timed window starts together
    start = time.perf_counter()
    study.optimize(objective, timeout=seconds, catch=(Exception,), gc_after_trial=False)
    out.put(time.perf_counter() - start)  # done


def search_rate(name: str, args: argparse.Namespace, workers: int, proxy: ProxyConfig) -> tuple[float, float, int]:
    """(trials per minute at the default epochs, mean GPU busy %, finished trials) of ``workers``
    processes on one device. Trials trained for fewer epochs than the default (``proxy``) are
    scaled up by their own training time: a trial's wall time plus (default / its epochs - 1) x its
    ``train_seconds``."""
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'gpu.db'}"
        optuna.create_study(study_name="gpu", storage=storage, directions=directions(DEFAULT))
        ctx = mp.get_context("spawn")
        ready, out = ctx.Barrier(workers + 1), ctx.Queue()
        threads = max(1, (os.cpu_count() or 1) // workers)
        epochs = args.cifar_epochs if name == "random-cifar" else proxy.epochs
        short = replace(proxy, epochs=epochs)
        procs = [ctx.Process(target=worker, args=(name, args.cifar_images, args.device, storage, args.seconds, k,
                                                  threads, short, ready, out)) for k in range(workers)]  # fmt: skip
        for p in procs:
            p.start()
        ready.wait()
        busy: list[int] = []
        with GpuUtilisation(torch.device(args.device), busy):
            for _ in procs:
                out.get()
        for p in procs:
            p.join()
        trials = optuna.load_study(study_name="gpu", storage=storage).get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
        )
    scale = proxy.epochs / epochs - 1
    seconds = [
        (t.datetime_complete - t.datetime_start).total_seconds() + scale * t.user_attrs.get("train_seconds", 0.0)
        for t in trials
    ]
    rate = workers * 60 / statistics.fmean(seconds) if seconds else 0.0
    return rate, statistics.fmean(busy) if busy else float("nan"), len(trials)


def cpu_trial_seconds(data: Dataset, networks: int, epochs: int, proxy: ProxyConfig) -> float:
    """Seconds of one default trial on the CPU (every core), from ``epochs`` of training scaled up
    the way ``search_rate`` scales trials."""
    torch.set_num_threads(os.cpu_count() or 1)
    total = 0.0
    for spec in sample_specs(data, networks):
        start = time.perf_counter()
        result = train_and_evaluate(spec, data, replace(proxy, epochs=epochs), device="cpu")
        total += time.perf_counter() - start + (proxy.epochs / epochs - 1) * result.train_seconds
    return total / networks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=15, help="search time per setting (then the trials in flight)")
    p.add_argument("--per-gpu", type=int, nargs="+", default=[1, 2, 4, 8], help="worker processes on the one GPU")
    p.add_argument("--datasets", nargs="+", default=["random-cifar", "digits"])
    p.add_argument("--cifar-images", type=int, default=40_000)
    p.add_argument("--cifar-epochs", type=int, default=1, help="random-cifar trials train this long, scaled to 10")
    p.add_argument("--cpu-networks", type=int, default=2, help="networks timed on the CPU per dataset")
    p.add_argument("--batch-size", type=int, default=ProxyConfig.batch_size, help="lr scaled with it")
    p.add_argument("--device", default="cuda")
    args = p.parse_args()
    proxy = ProxyConfig().with_batch(args.batch_size)
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(args.device))
        driver = torch.cuda.driver_version() if hasattr(torch.cuda, "driver_version") else "?"
        print(f"device {name} (driver {driver}), torch {torch.__version__} (CUDA {torch.version.cuda}), "
              f"{os.cpu_count()} CPU cores")  # fmt: skip
    else:
        print(f"device {args.device} (smoke run), torch {torch.__version__}, {os.cpu_count()} CPU cores")
    print(f"proxy: {proxy.epochs} epochs, batch {proxy.batch_size}, lr {proxy.lr:g}; {args.seconds:g} s of search "
          "per setting; random sampler, mixed space")  # fmt: skip
    for name in args.datasets:
        data = make_data(name, args.cifar_images)
        epochs = 1 if name == "random-cifar" else proxy.epochs
        cpu = cpu_trial_seconds(data, args.cpu_networks, epochs, proxy)
        scaled = f" (1 epoch x {proxy.epochs})" if epochs != proxy.epochs else ""
        print(f"{name}: {len(data.train_y):,} training images at {max(data.resolutions)} px")
        print(f"  baseline CPU path: {cpu:.1f} s per trial{scaled} = {60 / cpu:.2f} trials/min")
        for workers in args.per_gpu:
            rate, busy, trials = search_rate(name, args, workers, proxy)
            per_trial = 60 * workers / rate if rate else float("inf")
            print(f"  figure   {workers} per GPU: {rate:6.2f} trials/min ({trials} trials), GPU busy {busy:4.0f}%, "
                  f"{per_trial:.1f} s per trial per worker; {rate / (60 / cpu):.2f}x the CPU path")  # fmt: skip
    print("goals: GPU busy >= 50%; random-cifar >= 10 trials/min; a GPU trial faster than a CPU trial")


if __name__ == "__main__":
    main()
