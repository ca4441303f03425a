"""Final training: the chosen networks and the classic ones, each trained the same fair way.

Every network gets a learning rate chosen from a small grid by a short run (the proxy's epochs,
train split -> validation), then ``seeds`` runs of the final length at that rate from scratch on
train + validation, scored on the test split, which the search never reads. Workers share the
runs through the study (``nas.final_store``): each run is claimed, trained, written as it
finishes, and skipped by a resumed command.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import optuna
import torch
from optuna.trial import FrozenTrial

from nas.arch import ArchSpec
from nas.cost import count_cost
from nas.data import load_dataset
from nas.dataset import Dataset
from nas.final_store import (
    NETWORK_PREFIX,
    SELECT,
    Job,
    Setup,
    chosen_lr,
    claim,
    claimed_by_another,
    jobs_for,
    release,
    summary,
    write_trial_attrs,
)  # fmt: skip
from nas.latency import measure
from nas.objectives import metric, study_objectives
from nas.proxy import ProxyConfig, TrainingDiverged, resolve_device, train_and_evaluate
from nas.references import REFERENCES, adapt
from nas.settings import study_settings
from nas.storage import load_existing_study
from search_spaces.common import WIDTH_MULTS

GRID = (1.0, 0.25, 0.0625)  # learning rates tried: these multiples of the study's (bench/RESULTS.md)
REFERENCE_WIDTHS = (min(WIDTH_MULTS), max(WIDTH_MULTS))  # the ends of the search spaces' width range
EPOCHS_FACTOR = 4  # final epochs: this many times the proxy's, by default
POLL_S = 2.0  # how often a worker with nothing to claim looks again
STALE_CLAIM_S = 1800.0  # a claim this old is a dead worker's: its run is trained again


@dataclass(frozen=True)
class Network:
    """A network to train: searched (from a trial) or classic (a reference at a width)."""

    name: str
    spec: ArchSpec
    kind: str  # "searched" or "classic"
    trial: int | None = None
    proxy_accuracy: float | None = None


def searched(trials: Sequence[FrozenTrial]) -> list[Network]:
    return [Network(f"trial {t.number}", ArchSpec.from_string(t.user_attrs["arch"]), "searched", t.number,
                    t.values[0]) for t in trials]  # fmt: skip


def classics(names: Sequence[str], widths: Sequence[float], data: Dataset) -> list[Network]:
    """The references at each width, adapted to the dataset as the report adapts them."""
    return [
        Network(f"{name} x{width:g}", adapt(REFERENCES[name], in_chs=data.in_chs, num_classes=data.num_classes,
                                            resolution=max(data.resolutions), width_mult=width), "classic")
        for name in names for width in widths
    ]  # fmt: skip


def register(study: optuna.Study, networks: Sequence[Network], setup: Setup, trials: dict[int, FrozenTrial]) -> None:
    """Record what each network is (costs, latency where the study measures it) and the setup."""
    settings = study_settings(study)
    objectives = study_objectives(study)
    known = study.user_attrs
    for net in networks:
        key = NETWORK_PREFIX + net.spec.digest()
        if key in known:
            continue
        cost = count_cost(net.spec)
        costs = {"flops": cost.flops, "params": cost.params}
        if settings.latency_setup:  # the trials' own measurement, or one made the same way
            ms = metric(trials[net.trial], "latency", objectives) if net.trial is not None else None
            costs["latency"] = ms if ms is not None else measure(net.spec, settings.latency_setup).ms
        study.set_user_attr(key, {
            "name": net.name, "kind": net.kind, "arch": net.spec.to_string(), "costs": costs, "trial": net.trial,
            "proxy_accuracy": net.proxy_accuracy, "num_classes": net.spec.num_classes,
        })  # fmt: skip
    setup.save(study)


def run_job(job: Job, spec: ArchSpec, data: Dataset, proxy: ProxyConfig, device: torch.device) -> dict:
    """Train one run; a run that diverged or ran out of device memory scores 0 with no loss."""
    train_on, eval_on = (("train",), "val") if job.stage == SELECT else (("train", "val"), "test")
    start = time.perf_counter()
    try:
        result = train_and_evaluate(spec, data, replace(proxy, epochs=job.epochs, lr=job.lr), device=device,
                                    seed=job.seed, train_on=train_on, eval_on=eval_on)  # fmt: skip
        accuracy, loss = result.accuracy, result.final_loss
    except (TrainingDiverged, torch.OutOfMemoryError):
        accuracy, loss = 0.0, None
    return {"accuracy": accuracy, "loss": loss, "seconds": time.perf_counter() - start, "worker": os.getpid()}


def pending_jobs(attrs: dict, digests: Sequence[str], setup: Setup) -> list[Job]:
    return [job for d in digests for job in jobs_for(attrs, d, setup) if attrs.get(job.key) is None]


def total_runs(digests: Sequence[str], setup: Setup) -> int:
    return len(digests) * (len(setup.lrs) + setup.seeds)


def train_pending(
    study: optuna.Study,
    digests: Sequence[str],
    setup: Setup,
    data: Dataset,
    device: torch.device,
    *,
    worker: int = 0,
    on_progress: Callable[[int, str], None] | None = None,
) -> None:
    """Train every run still missing, sharing them with other workers; returns when all are done."""
    proxy = study_settings(study).proxy
    while True:
        attrs = study.user_attrs  # one read per run
        pending = pending_jobs(attrs, digests, setup)
        if on_progress:
            on_progress(total_runs(digests, setup) - len(pending) - _unchosen(attrs, digests, setup), "")
        if not pending:
            return
        ready = [j for j in pending if not claimed_by_another(attrs, j, STALE_CLAIM_S)]
        if not ready:  # all taken by other workers (or waiting for their selection runs)
            time.sleep(POLL_S)
            continue
        job = ready[min(worker, len(ready) - 1)]
        network = attrs[NETWORK_PREFIX + job.digest]
        if on_progress:
            on_progress(-1, f"{network['name']} {job.stage} lr {job.lr:g} seed {job.seed}")
        try:  # claimed inside: a Ctrl-C at any point from here on leaves no claim behind
            claim(study, job)
            if claimed_by_another(study.user_attrs, job, STALE_CLAIM_S):  # another worker's claim landed last
                continue
            result = run_job(job, ArchSpec.from_string(network["arch"]), data, proxy, device)
            study.set_user_attr(job.key, result)
        finally:
            release(study, job)
        if job.stage != SELECT and network["trial"] is not None:
            write_trial_attrs(study, summary(study.user_attrs, job.digest, setup))


def _unchosen(attrs: dict, digests: Sequence[str], setup: Setup) -> int:
    """Test runs not yet listed because their network's learning rate is still being chosen."""
    return sum(setup.seeds for d in digests if chosen_lr(attrs, d, setup) is None)


def load_data(study: optuna.Study, data_dir: str, device: torch.device) -> Dataset:
    """The study's data on the device; ValueError (one line) if it can no longer be read."""
    settings = study_settings(study)
    try:
        data = load_dataset(settings.dataset, data_dir, **settings.data_options())
    except (ValueError, OSError, RuntimeError) as exc:
        raise ValueError(f"the data of study {study.study_name!r} ({settings.dataset}) cannot be read: {exc}") from None
    return data.to(device)


def _worker(storage: str, study_name: str, digests: list[str], setup: Setup, data_dir: str, device: str,
            worker: int, threads: int) -> None:  # fmt: skip
    from nas.parallel import exit_code, raise_on_signals

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    raise_on_signals()
    try:
        study = load_existing_study(storage, study_name)
        dev = resolve_device(device)
        train_pending(study, digests, setup, load_data(study, data_dir, dev), dev, worker=worker)
    except KeyboardInterrupt as exc:
        sys.exit(exit_code(exc))


def start_workers(storage: str, study_name: str, digests: list[str], setup: Setup, data_dir: str,
                  devices: Sequence[str]) -> list[mp.Process]:  # fmt: skip
    """Workers 1..N-1 in their own processes (worker 0 is the caller), one device each."""
    threads = max(1, (os.cpu_count() or 1) // len(devices))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(storage, study_name, digests, setup, data_dir, devices[k], k, threads))
             for k in range(1, len(devices))]  # fmt: skip
    for proc in procs:
        proc.start()
    return procs


def default_setup(study: optuna.Study, *, epochs: int | None, seeds: int, lrs: Sequence[float] | None) -> Setup:
    proxy = study_settings(study).proxy
    grid = tuple(lrs) if lrs else tuple(float(f"{proxy.lr * f:.4g}") for f in GRID)
    return Setup(epochs=epochs or EPOCHS_FACTOR * proxy.epochs, seeds=seeds, lrs=grid, select_epochs=proxy.epochs)
