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
from dataclasses import fields, replace

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from nas.cli import (
    OneLineErrorParser,
    int_in,
    int_list_arg,
    latency_arg,
    non_negative_int,
    positive_int,
    seed_arg,
    share_arg,
    size_arg,
)
from nas.data import DATASETS, load_dataset
from nas.device_choice import auto_device
from nas.front import feasible_front, front_table
from nas.latency_setup import BACKENDS
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
from nas.pareto import pareto_front
from nas.racing import rescoring_cost, search_cost
from nas.recipe import ProxyConfig
from nas.sampler import SAMPLERS
from nas.schedule import DEFAULT_ETA
from nas.search_config import SearchConfig
from nas.search_loop import SearchFailed, run_search
from nas.study_note import save_note_with_front
from nas.trials import budget_runs, counts_toward_budget, is_trained_run, replicate_of, rung_of
from search_spaces import SPACES

DEFAULTS = {f.name: f.default for f in fields(SearchConfig)}  # the one place defaults are written


def objectives_arg(text: str) -> tuple[str, ...]:
    try:
        return parse_objectives(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """Every option that is a SearchConfig field has its name and no default here: unset, it keeps
    the config's (or, resuming, the study's own)."""
    p = OneLineErrorParser(prog="python -m nas.search", description=__doc__)
    d = DEFAULTS
    p.add_argument("--budget", type=positive_int, help=f"finished trials the study must hold (default {d['budget']})")
    p.add_argument("--dataset", help=f"{', '.join(DATASETS)} or folder:PATH (default: {d['dataset']}, offline)")
    p.add_argument("--space", choices=sorted(SPACES), help=f"search space (default: {d['space']})")
    p.add_argument(
        "--epochs",
        type=positive_int,
        help=f"proxy training epochs (default: the study's own when resuming, else {ProxyConfig.epochs})",
    )
    p.add_argument("--min-epochs", type=positive_int, help="multi-fidelity: epochs of the lowest rung (default: "
                   "--epochs, a single rung; resuming: the study's)")  # fmt: skip
    p.add_argument("--eta", type=int_in(2), help=f"multi-fidelity: top 1/eta of a rung go up ({DEFAULT_ETA})")
    p.add_argument("--refine", type=non_negative_int, help="once the budget is met, re-score the networks "
                   "whose place on the front is undecided with up to K more seeds "
                   f"(default {d['refine']}; 0: off)")  # fmt: skip
    p.add_argument("--refine-budget", type=share_arg, help="re-scoring training time: at most this share of the "
                   f"search's own (default {d['refine_budget']}: a quarter)")  # fmt: skip
    p.add_argument("--batch-size", type=positive_int, help="proxy batch of a new study, learning rate scaled with "
                   f"it (default {ProxyConfig.batch_size})")  # fmt: skip
    p.add_argument("--storage", help=f"SQLAlchemy URL of the study database (default {d['storage']})")
    p.add_argument("--study-name", help="default: <dataset>-<space>")
    p.add_argument("--sampler", choices=SAMPLERS, help=f"default {d['sampler']}")
    p.add_argument("--seed", type=seed_arg, help=f"fixes sampling and training (default {d['seed']})")
    p.add_argument("--device", help="auto (the faster of CUDA and CPU, by a probe; default), cpu, cuda, cuda:N")
    p.add_argument("--workers", type=positive_int, help="processes (default: 1; one per GPU on cuda)")
    p.add_argument("--max-flops", type=size_arg, help="e.g. 5M: bigger ones are never trained")
    p.add_argument("--max-params", type=size_arg, help="e.g. 50K: bigger ones are never trained")
    p.add_argument("--max-latency", type=latency_arg, help="e.g. 5ms: slower ones are never trained")
    p.add_argument("--objectives", type=objectives_arg, help="accuracy and costs among flops, params, latency "
                   "(default: accuracy,flops,params; resuming: the study's)")  # fmt: skip
    p.add_argument("--latency-threads", type=positive_int, help="threads for latency (default 1)")
    p.add_argument("--latency-backend", choices=BACKENDS, help="torch (default) or onnxruntime")
    p.add_argument("--mix-latencies", action="store_true", default=None,
                   help="resume a study whose latencies were measured on another machine")  # fmt: skip
    p.add_argument("--resolutions", type=int_list_arg, help="input sizes to search, e.g. 64,96,128 (default: the "
                   "dataset's; folders: from the images' size)")  # fmt: skip
    p.add_argument("--hflip", action=argparse.BooleanOptionalAction,
                   help="whether horizontal flips keep labels (default: the dataset's; folders: yes)")  # fmt: skip
    p.add_argument("--data-memory", type=size_arg, help="most memory the images may take, e.g. 4G")
    p.add_argument("--max-failures", type=positive_int, help=f"failed trials in a row that stop it "
                   f"(default {d['max_failures']})")  # fmt: skip
    p.add_argument("--heartbeat", type=positive_int, help=f"seconds; a silent trial is re-run (default "
                   f"{d['heartbeat']})")  # fmt: skip
    p.add_argument("--data-dir", help=f"where torchvision datasets live (default {d['data_dir']})")
    p.add_argument("--no-download", dest="download", action="store_false", default=None,
                   help="never download datasets")  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true", help="show Optuna's per-trial log lines")
    return p


def make_config(args: argparse.Namespace, argv: Sequence[str] | None) -> SearchConfig:
    """The config of the command line; ``--device auto`` resolved by a probe where there is a choice."""
    config = SearchConfig.from_args(args, ["python", "-m", "nas.search", *(sys.argv[1:] if argv is None else argv)])
    if config.device == "auto":
        device, why = auto_device(lambda: load_dataset(config.dataset, config.data_dir, config.download,
                                                       resolutions=config.resolutions))  # fmt: skip
        config = replace(config, device=device)
        print(f"device {device} (auto: {why})")
    return config


class Progress:
    """The progress bar of new networks and the workers, started once the study is open; then,
    once the budget is met, a line of its own for the promotions and re-scoring runs left."""

    def __init__(self, config: SearchConfig, workers: int) -> None:
        self.config, self.workers = config, workers
        self.bar: tqdm | None = None
        self.settling: tqdm | None = None
        self.procs: list = []

    def on_start(self, study: optuna.Study, done: int, lines: list[str]) -> None:
        budget = self.config.budget
        print(f"study {study.study_name!r} in {self.config.storage}: {done} finished trials, budget {budget}")
        for line in lines:
            print(line)
        self.bar = tqdm(total=budget, initial=min(done, budget), unit="trial", dynamic_ncols=True)
        if done < budget and self.workers > 1:
            threads = threads_per_worker(self.config, self.workers)
            torch.set_num_threads(threads)
            self.procs = start_workers(self.config, self.workers)
            print(f"{self.workers} workers, {threads} torch threads each")

    def on_trial(self, trial: FrozenTrial, done: list[FrozenTrial], trials: list[FrozenTrial]) -> None:
        assert self.bar is not None
        if len(done) >= self.config.budget and not counts_toward_budget(trial):
            self.on_settling_run(trial, trials)
            return
        self.bar.n = min(len(done), self.config.budget)
        self.bar.set_postfix(front=len(pareto_front(t for t in done if is_trained_run(t))),
                             last=trial.state.name.lower())  # fmt: skip
        self.bar.refresh()

    def on_settling_run(self, trial: FrozenTrial, trials: list[FrozenTrial]) -> None:
        """Runs done of those planned (finished here, plus queued or running anywhere), time left
        (tqdm's, from the rate), and what the last one was and why."""
        if self.settling is None:
            self.bar.close()
            self.settling = tqdm(desc="promotions and re-scoring", unit="run", dynamic_ncols=True)
        left = sum(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials if not counts_toward_budget(t))
        self.settling.n += 1
        self.settling.total = self.settling.n + left
        rung, replicate = rung_of(trial), replicate_of(trial)
        why = (f"seed {replicate + 1} of a network whose place on the front is undecided" if replicate else
               f"promotion to rung {rung} (top 1/eta of rung {rung - 1})")  # fmt: skip
        self.settling.set_postfix_str(f"last: trial {trial.number}, {why}, {trial.state.name.lower()}", refresh=True)

    def close(self) -> None:
        for bar in (self.bar, self.settling):
            if bar is not None:
                bar.close()


def summary(study: optuna.Study, config: SearchConfig, minutes: float, table: str) -> str:
    """What the study holds now: counts, the front by best evidence (``table``), the next commands."""
    total = len(budget_runs(study.get_trials(deepcopy=False)))
    extra = f" ({total - config.budget} beyond the budget: in flight when it was reached)" if total > config.budget \
        else ""  # fmt: skip
    every = study.get_trials(deepcopy=False)
    runs = [t for t in every if t.state == TrialState.COMPLETE and not counts_toward_budget(t)]
    promoted = sum(replicate_of(t) == 0 for t in runs)
    share = rescoring_cost(every) / (search_cost(every) or 1)
    more = (f"; plus {promoted} promotions and {len(runs) - promoted} re-scoring runs ({share:.2f} of the search's "
            f"training time; --refine-budget {config.refine_budget:g})") if runs else ""  # fmt: skip
    objectives = study_objectives(study)
    where = f" --storage {config.storage} --study-name {study.study_name}"
    return "\n".join([
        f"\n{total} finished trials in study {study.study_name!r}{extra}{more} ({minutes:.1f} min this run)",
        f"Pareto front (accuracy up, {', '.join(f'{n} down' for n in objectives[1:])}), by each network's best "
        "evidence:", table, "\nNext:",
        f"  python -m nas.dashboard --storage {config.storage}   # browse the study in optuna-dashboard",
        f"  python -m nas.report{where}   # HTML report with the reference networks",
        f"  python -m nas.export{where} --pick knee   # standalone PyTorch code of the knee model",
        "  (the same search command with a larger --budget tops the study up)",
    ])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)
    try:
        config = make_config(args, argv)
    except ValueError as exc:
        parser.error(str(exc))
    progress = Progress(config, args.workers or default_workers(config.device))
    started = time.perf_counter()
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    raise_on_signals()
    try:
        study = run_search(worker_config(config, 0), on_trial=progress.on_trial, on_start=progress.on_start)
        for proc in progress.procs:  # they stop by themselves once the study holds the budget
            proc.join()
    except ValueError as exc:  # bad input found once the storage or dataset is opened
        parser.error(str(exc))
    except KeyboardInterrupt as exc:
        stop_workers(progress.procs)
        progress.close()
        print(f"\n{parser.prog}: interrupted ({exc}); finished trials are kept, the trial in flight is marked "
              "failed. Resume with the same command.", file=sys.stderr)  # fmt: skip
        return exit_code(exc)
    except SearchFailed as exc:
        stop_workers(progress.procs)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        progress.close()
    table = front_table(feasible_front(study), study_objectives(study))
    save_note_with_front(study, config, table)
    print(summary(study, config, (time.perf_counter() - started) / 60, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
