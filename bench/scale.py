"""The tool's own cost per trial as a study grows to thousands of trials, with 1 to 16 workers.

    python bench/scale.py [--trials 5000] [--window 500] [--setups sqlite:1,sqlite:2,postgres:8,postgres:16,grpc:16]
                          [--fidelity single,multi] [--sampler tpe] [--train-seconds 0.05] [--layer nas|optuna|both]

Benchmark mode only (never a stand-in for training in the tests): a synthetic trainer replaces
training, accuracy from a fixed formula of the architecture (its digest) and the rung's epochs plus
noise, and a fixed sleep for the training time. What is left is the tool's own cost: sampler,
storage, schedule (promotions, re-scoring, their evidence), cost counting, duplicates, artifacts.
Each worker process times the gap between its consecutive finished trials and subtracts the sleep
(wall), and the CPU time it used (the machine-independent figure when workers outnumber cores);
the parts are timed in CPU seconds by wrapping them in each process. Per window of trials the
script prints the medians and each part's mean, then the window of the last new network against
the first 100 trials: what grows; and how long settling took, on how many workers. ``--layer
both`` runs each setup twice, with nas's storage layer (its trial cache re-reads only the trials that
changed; one look-up of the trial per transaction) and then Optuna's (the baseline).
Goal (issue 23): at 5,000 trials the cost is at most 2x its cost at trial 100, and below 0.5 s, on
PostgreSQL with 16 workers; no trial lost; the budget met (one extra per worker at most).
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

PARTS = ("sampler", "schedule", "cost", "reads")


def synthetic_trainer(sleep: float):  # noqa: ANN201
    """Accuracy from the architecture's digest and the epochs, plus seed noise; ``sleep`` s of 'training'."""
    from nas.proxy import ProxyResult

    def train(spec, data, proxy, *, device, seed):  # noqa: ANN001, ANN202, ARG001
        quality = int(spec.digest()[:8], 16) / 16**8
        noise = ((seed * 2654435761) % 1000) / 1000 - 0.5
        accuracy = min(1.0, 0.5 + 0.45 * math.sqrt(quality) * (1 - math.exp(-proxy.epochs / 3)) + 0.01 * noise)
        time.sleep(sleep)
        return ProxyResult(accuracy, sleep, 0.0, 0.0, 0.0, None)

    return train


def instrument(totals: dict[str, float]) -> None:
    """Wrap the parts whose cost may grow with the study; their time adds up in ``totals``."""
    import nas.objective
    import nas.schedule
    import nas.study

    def timed(part: str, fn):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            start = time.process_time()  # CPU: 16 workers on a few cores would inflate wall time
            try:
                return fn(*args, **kwargs)
            finally:
                totals[part] += time.process_time() - start

        return wrapper

    nas.schedule.due_promotions = timed("schedule", nas.schedule.due_promotions)
    nas.schedule.due_rescoring = timed("schedule", nas.schedule.due_rescoring)
    nas.objective.count_cost = timed("cost", nas.objective.count_cost)
    optuna.Study.get_trials = timed("reads", optuna.Study.get_trials)  # every read of the study's trials
    make_sampler = nas.study.make_sampler

    def sampler(name: str, seed: int):  # noqa: ANN202
        s = make_sampler(name, seed)
        for method in ("infer_relative_search_space", "sample_relative", "sample_independent"):
            setattr(s, method, timed("sampler", getattr(s, method)))
        return s

    nas.study.make_sampler = sampler


def optuna_storage_layer() -> None:
    """The baseline: Optuna's own trial cache (every unfinished trial read whole on every read) and
    Optuna's look-up of the trial on every write, not one per transaction."""
    import nas.rdb_storage
    import nas.storage
    from nas.optuna_compat import rdb_models

    nas.storage.ChangedTrialsCache = lambda backend: backend  # Optuna wraps it in its own cache
    commit = nas.rdb_storage.BatchingRDBStorage._commit

    def looked_up(write, trial_id: int):  # noqa: ANN001, ANN202
        return lambda session, trial: (
            rdb_models.TrialModel.find_or_raise_by_id(trial_id, session),
            write(session, trial),
        )

    def per_write(self, trial_id: int, writes: list, ignore_integrity_error: bool) -> None:  # noqa: ANN001
        commit(self, trial_id, [looked_up(w, trial_id) for w in writes], ignore_integrity_error)

    nas.rdb_storage.BatchingRDBStorage._commit = per_write


@dataclass(frozen=True)
class Run:
    """One setup's search, as each worker process runs it."""

    url: str
    trials: int
    fidelity: str
    sleep: float
    folder: str
    sampler: str = "tpe"
    layer: str = "nas"  # "optuna": Optuna's trial cache and a trial lookup per write, the baseline
    profile: str | None = None  # cProfile stats to PROFILE-workerK.prof


def worker(run: Run, k: int, out: mp.Queue) -> None:
    import cProfile

    import torch

    from nas.search_config import SearchConfig
    from nas.search_loop import run_search

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if run.layer == "optuna":
        optuna_storage_layer()
    totals: dict[str, float] = defaultdict(float)
    instrument(totals)
    multi = (
        {"epochs": 9, "min_epochs": 1, "eta": 3, "refine": 1} if run.fidelity == "multi" else {"epochs": 1, "refine": 0}
    )
    config = SearchConfig(budget=run.trials, storage=run.url, seed=k, device="cpu", artifact_dir=run.folder,
                          max_failures=50, sampler=run.sampler, **multi)  # fmt: skip
    records = []
    last = [time.perf_counter(), time.process_time(), dict(totals)]

    def on_trial(trial: optuna.trial.FrozenTrial, done: list, trials: list) -> None:
        now, cpu = time.perf_counter(), time.process_time()  # the sleep takes no CPU time
        spent = trial.user_attrs.get("train_seconds", 0.0) if trial.state == TrialState.COMPLETE else 0.0
        parts = {p: totals[p] - last[2].get(p, 0.0) for p in PARTS}
        records.append((trial.number, now - last[0] - spent, cpu - last[1], parts, k, time.time()))
        last[:] = [now, cpu, dict(totals)]

    profiler = cProfile.Profile(time.process_time) if run.profile else None  # CPU, as the figures
    if profiler:
        profiler.enable()
    run_search(config, on_trial=on_trial, worker=k, train=synthetic_trainer(run.sleep))
    if profiler:
        profiler.disable()
        profiler.dump_stats(f"{run.profile}-worker{k}.prof")
    out.put(records)


def peak_connections(database: str, stop: threading.Event, peak: list[int]) -> None:
    """The most connections the database had open (this probe's own not counted), every 0.5 s."""
    import sqlalchemy

    from tests.postgres import open_connections

    engine = sqlalchemy.create_engine(database)
    while not stop.wait(0.5):
        peak[0] = max(peak[0], open_connections(engine))
    engine.dispose()


def run_setup(run: Run, workers: int, database: str | None) -> tuple[list, int | None]:
    """Every worker's records, and the database's peak connections (PostgreSQL only)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(run, k, out)) for k in range(workers)]
    stop, peak = threading.Event(), [0]
    probe = threading.Thread(target=peak_connections, args=(database, stop, peak)) if database else None
    for p in [*procs, probe]:
        if p:
            p.start()
    records = [r for _ in procs for r in out.get()]
    for p in procs:
        p.join()
    stop.set()
    if probe:
        probe.join()
    return sorted(records), peak[0] if database else None


def report(name: str, records: list, window: int, study: optuna.Study, trials: int, workers: int) -> None:
    from nas.trials import budget_runs, run_key

    print(f"\n{name}: {len(records)} trials timed (median per trial: wall s outside training, its CPU s, "
          "its CPU s without the sampler's; then each part's mean CPU s)")  # fmt: skip
    columns = ("wall s", "cpu s", "cpu-smp")
    print(f"{'trials':>13}  " + "  ".join(f"{c:>8}" for c in columns + PARTS))
    windows = defaultdict(list)
    for number, *record in records:
        windows[number // window].append(record[:3])

    def medians(rs: list) -> tuple[float, ...]:
        return tuple(statistics.median(r) for r in zip(*((s, c, c - p["sampler"]) for s, c, p in rs), strict=True))

    for w, rs in sorted(windows.items()):
        means = [statistics.fmean(p[part] for *_, p in rs) for part in PARTS]
        figures = medians(rs) + tuple(means)
        print(f"{w * window:>6}-{(w + 1) * window - 1:<6}  " + "  ".join(f"{m:8.3f}" for m in figures))
    first = medians([r[:3] for n, *r in records if n < 100])
    every = study.get_trials(deepcopy=False)
    done = budget_runs(every)
    last_new = max(t.number for t in done)  # then settling
    # The last `window` trials of the search itself: a window by trial number that also holds
    # settling trials (no sampling) would understate the cost at the last new network.
    end = (max(0, last_new - window + 1), last_new)
    last = medians([r[:3] for n, *r in records if end[0] <= n <= end[1]])
    print(
        "baseline: per-trial cost at trials < 100: "
        + ", ".join(f"{c} {f:.3f}" for c, f in zip(columns, first, strict=True))
    )
    print(
        f"figure  : the last {window} trials up to the last new network (trials {end[0]}-{end[1]}): "
        + ", ".join(f"{c} {v:.3f} ({v / f:.2f}x)" for c, v, f in zip(columns, last, first, strict=True))
        + " (goal <= 2x, < 0.5 s)"
    )
    settling = [(k, at) for n, *_, k, at in records if n > last_new]
    if settling:
        start = next(at for n, *_, at in records if n == last_new)
        print(
            f"settling (promotions left, re-scoring): {len(settling)} trials on {len({k for k, _ in settling})} "
            f"worker(s) in {max(at for _, at in settling) - start:.0f} s"
        )
    trained = [run_key(t) for t in every if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
    scheduled = [k for k in trained if k[1] or k[2]]  # promotions and re-scoring runs: must train once
    stuck = [t for t in every if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    twice = [t for t in every if t.state == TrialState.PRUNED and "already ran" in t.user_attrs.get("fail_reason", "")]
    print(f"budget {trials}: {len(done)} new networks (allowed up to {trials + workers - 1}); promotion or "
          f"re-scoring runs trained twice: {len(scheduled) - len(set(scheduled))}; new networks sampled by two "
          f"workers at once and both trained: {len(trained) - len(set(trained))}; left running or queued: "
          f"{len(stuck)}; runs queued twice by racing workers (the copy pruned, untrained): {len(twice)} of "
          f"{len(every)} trials")  # fmt: skip


@contextmanager
def storage(kind: str, folder: str) -> Iterator[tuple[str, str | None]]:
    """(the workers' storage URL, the PostgreSQL database behind it or None) for a setup kind:
    sqlite, postgres, or grpc (PostgreSQL behind ``python -m nas.grpc_server``)."""
    if kind == "sqlite":
        yield f"sqlite:///{Path(folder) / 'scale.db'}", None
        return
    from tests.postgres import postgres_server

    with postgres_server() as database:
        if kind == "postgres":
            yield database, database
            return
        from tests.browser import free_port

        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "nas.grpc_server", "--storage", database, "--port", str(port)],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            server.stdout.readline()  # it says it serves
            yield f"grpc://127.0.0.1:{port}", database
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=5000)
    p.add_argument("--window", type=int, default=500)
    p.add_argument("--setups", default="sqlite:1,sqlite:2,postgres:8,postgres:16",
                   help="KIND:WORKERS,... KIND: sqlite, postgres, grpc (PostgreSQL behind the gRPC proxy)")  # fmt: skip
    p.add_argument("--fidelity", default="single,multi")
    p.add_argument("--sampler", default="tpe")
    p.add_argument("--layer", default="nas", help="the storage layer: nas, optuna or both (optuna: Optuna's trial "
                   "cache and a look-up of the trial per write, the baseline)")  # fmt: skip
    p.add_argument("--train-seconds", type=float, default=0.05, help="the synthetic training's sleep")
    p.add_argument("--profile", metavar="PREFIX",
                   help="write each worker's cProfile stats to PREFIX-<setup>-workerK.prof")  # fmt: skip
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for setup in args.setups.split(","):
        kind, workers = setup.split(":")
        for fidelity, layer in itertools.product(
            args.fidelity.split(","), args.layer.replace("both", "nas,optuna").split(",")
        ):
            with tempfile.TemporaryDirectory() as tmp, storage(kind, tmp) as (url, database):
                start = time.perf_counter()
                profile = f"{args.profile}-{kind}{workers}-{fidelity}-{layer}" if args.profile else None
                run = Run(url, args.trials, fidelity, args.train_seconds, tmp, args.sampler, layer, profile)
                records, connections = run_setup(run, int(workers), database)
                study = optuna.load_study(study_name="digits-mixed", storage=database or url)
                minutes = (time.perf_counter() - start) / 60
                name = f"{kind}, {workers} worker(s), {fidelity} fidelity, {args.sampler}, {layer}'s storage layer"
                name += f" ({minutes:.1f} min)"
                report(name, records, args.window, study, args.trials, int(workers))
                if connections is not None:
                    print(f"database connections while it ran: at most {connections}")


if __name__ == "__main__":
    main()
