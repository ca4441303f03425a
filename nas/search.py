"""python -m nas.search --budget 200: the multi-objective architecture search.

Re-running the same command resumes the study and tops it up to ``--budget`` finished trials.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

import optuna
import torch
from optuna.trial import TrialState
from tqdm import tqdm

from nas.cli import (
    DEFAULT_DATA_DIR,
    DEFAULT_STORAGE,
    OneLineErrorParser,
    int_list_arg,
    latency_arg,
    positive_int,
    size_arg,
)
from nas.data import DATASETS, load_dataset
from nas.device_choice import auto_device
from nas.fidelity import counts_toward_budget, replicate_of
from nas.front import feasible_front, front_table, pareto_front
from nas.latency import BACKENDS
from nas.objectives import parse_objectives, study_objectives
from nas.parallel import (
    default_workers,
    exit_code,
    raise_on_signals,
    start_workers,
    stop_workers,
    threads_per_worker,
    worker_config,
)
from nas.proxy import ProxyConfig
from nas.sampler import SAMPLERS
from nas.study import SearchConfig, SearchFailed, finished, run_search
from search_spaces import SPACES


def build_parser() -> argparse.ArgumentParser:
    p = OneLineErrorParser(prog="python -m nas.search", description=__doc__)
    p.add_argument("--budget", type=positive_int, default=200, help="finished trials the study must hold")
    p.add_argument(
        "--dataset", default="digits", help=f"{', '.join(DATASETS)} or folder:PATH (default: digits, offline)"
    )
    p.add_argument("--space", default="mixed", choices=sorted(SPACES), help="search space (default: mixed)")
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"proxy training epochs (default: the study's own when resuming, else {ProxyConfig.epochs})",
    )
    p.add_argument(
        "--min-epochs",
        type=positive_int,
        default=None,
        help="multi-fidelity: epochs of the lowest rung (default: --epochs, a single rung; resuming: the study's)",
    )
    p.add_argument("--eta", type=positive_int, default=None, help="multi-fidelity: top 1/eta of a rung go up (3)")
    p.add_argument(
        "--refine",
        type=int,
        default=2,
        help="once the budget is met, train the top-rung front and its near neighbours with this many more seeds",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help=f"proxy batch of a new study, learning rate scaled with it (default {ProxyConfig.batch_size})",
    )
    p.add_argument("--storage", default=DEFAULT_STORAGE, help="SQLAlchemy URL of the study database")
    p.add_argument("--study-name", default=None, help="default: <dataset>-<space>")
    p.add_argument("--sampler", default="tpe", choices=SAMPLERS)
    p.add_argument("--seed", type=int, default=0, help="fixes sampling and training")
    p.add_argument("--device", default="auto", help="auto (the faster of CUDA and CPU, by a probe), cpu, cuda, cuda:N")
    p.add_argument("--workers", type=positive_int, default=None, help="processes (default: 1; one per GPU on cuda)")
    p.add_argument("--max-flops", type=size_arg, default=None, help="e.g. 5M: bigger ones are never trained")
    p.add_argument("--max-params", type=size_arg, default=None, help="e.g. 50K: bigger ones are never trained")
    p.add_argument("--max-latency", type=latency_arg, default=None, help="e.g. 5ms: slower ones are never trained")
    p.add_argument(
        "--objectives",
        default=None,
        help="accuracy and costs among flops, params, latency (default: accuracy,flops,params; resuming: the study's)",
    )
    p.add_argument("--latency-threads", type=positive_int, default=None, help="threads for latency (default 1)")
    p.add_argument("--latency-backend", choices=BACKENDS, default=None, help="torch (default) or onnxruntime")
    p.add_argument(
        "--mix-latencies", action="store_true", help="resume a study whose latencies were measured on another machine"
    )
    p.add_argument(
        "--resolutions",
        type=int_list_arg,
        default=None,
        help="input sizes to search, e.g. 64,96,128 (default: the dataset's; folders: from the images' size)",
    )
    p.add_argument(
        "--hflip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether horizontal flips keep labels (default: the dataset's; folders: yes)",
    )
    p.add_argument("--data-memory", type=size_arg, default=None, help="most memory the images may take, e.g. 4G")
    p.add_argument("--max-failures", type=positive_int, default=5, help="failed trials in a row that stop it")
    p.add_argument("--heartbeat", type=positive_int, default=30, help="seconds; a silent trial is re-run")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="where torchvision datasets live")
    p.add_argument("--no-download", dest="download", action="store_false", help="never download datasets")
    p.add_argument("-v", "--verbose", action="store_true", help="show Optuna's per-trial log lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)
    try:
        config = SearchConfig(
            budget=args.budget,
            dataset=args.dataset,
            space=args.space,
            epochs=args.epochs,
            min_epochs=args.min_epochs,
            eta=args.eta,
            refine=args.refine,
            batch_size=args.batch_size,
            storage=args.storage,
            study_name=args.study_name,
            sampler=args.sampler,
            seed=args.seed,
            device=args.device,
            data_dir=args.data_dir,
            download=args.download,
            max_flops=args.max_flops,
            max_params=args.max_params,
            max_latency=args.max_latency,
            objectives=parse_objectives(args.objectives) if args.objectives else None,
            latency_threads=args.latency_threads,
            latency_backend=args.latency_backend,
            mix_latencies=args.mix_latencies,
            resolutions=args.resolutions,
            hflip=args.hflip,
            data_memory=args.data_memory,
            max_failures=args.max_failures,
            heartbeat=args.heartbeat,
            command=["python", "-m", "nas.search", *(sys.argv[1:] if argv is None else argv)],
        )
        if config.device == "auto":  # the faster device for this workload, measured where there is a choice
            device, why = auto_device(lambda: load_dataset(config.dataset, config.data_dir, config.download,
                                                           resolutions=config.resolutions))  # fmt: skip
            config = replace(config, device=device)
            print(f"device {device} (auto: {why})")
    except ValueError as exc:
        parser.error(str(exc))
    workers = args.workers or default_workers(config.device)

    bar: tqdm | None = None
    procs: list = []
    started = time.perf_counter()

    def on_start(study: optuna.Study, done: int, lines: list[str]) -> None:
        nonlocal bar, procs
        print(f"study {study.study_name!r} in {config.storage}: {done} finished trials, budget {config.budget}")
        for line in lines:
            print(line)
        bar = tqdm(total=config.budget, initial=min(done, config.budget), unit="trial", dynamic_ncols=True)
        if done < config.budget and workers > 1:
            torch.set_num_threads(threads_per_worker(config, workers))
            procs = start_workers(config, workers)
            print(f"{workers} workers, {threads_per_worker(config, workers)} torch threads each")

    def on_trial(trial: optuna.trial.FrozenTrial, done: list[optuna.trial.FrozenTrial]) -> None:
        assert bar is not None
        bar.n = min(len(done), config.budget)
        bar.set_postfix(front=len(pareto_front(done)), last=trial.state.name.lower())
        bar.refresh()

    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    raise_on_signals()
    try:
        study = run_search(worker_config(config, 0), on_trial=on_trial, on_start=on_start)
        for proc in procs:  # they stop by themselves once the study holds the budget
            proc.join()
    except ValueError as exc:  # bad input found once the storage or dataset is opened
        parser.error(str(exc))
    except KeyboardInterrupt as exc:
        stop_workers(procs)
        if bar is not None:
            bar.close()
        print(
            f"\n{parser.prog}: interrupted ({exc}); finished trials are kept, the trial in flight is marked "
            "failed. Resume with the same command.",
            file=sys.stderr,
        )
        return exit_code(exc)
    except SearchFailed as exc:
        stop_workers(procs)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        if bar is not None:
            bar.close()

    elapsed = time.perf_counter() - started
    total = len(finished(study))
    extra = (
        f" ({total - config.budget} beyond the budget: in flight when it was reached)" if total > config.budget else ""
    )
    runs = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if not counts_toward_budget(t)]
    promoted = sum(replicate_of(t) == 0 for t in runs)
    more = f"; plus {promoted} promotions and {len(runs) - promoted} re-scoring runs" if runs else ""
    print(f"\n{total} finished trials in study {study.study_name!r}{extra}{more} ({elapsed / 60:.1f} min this run)")
    objectives = study_objectives(study)
    print(f"Pareto front (accuracy up, {', '.join(f'{n} down' for n in objectives[1:])}), by each network's "
          "best evidence:")  # fmt: skip
    print(front_table(feasible_front(study), objectives))
    where = f" --storage {config.storage} --study-name {study.study_name}"
    print("\nNext:")
    print(f"  python -m nas.dashboard --storage {config.storage}   # browse the study in optuna-dashboard")
    print(f"  python -m nas.report{where}   # HTML report with the reference networks")
    print(f"  python -m nas.export{where} --pick knee   # standalone PyTorch code of the knee model")
    print("  (the same search command with a larger --budget tops the study up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
