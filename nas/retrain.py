"""python -m nas.retrain: train the study's front and the classic networks for real, score them on
the test split, and say which classics the front beats at equal or lower cost.

Each network, searched or classic, gets the same treatment: a learning rate chosen from a small
grid by a short run on the validation split, then ``--seeds`` runs of ``--epochs`` from scratch on
train + validation, scored on the test split. Every run is written to the study as it finishes;
the same command resumes, and a running search is not disturbed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

import optuna
import torch
from optuna.trial import FrozenTrial
from tqdm import tqdm

from nas.cli import OneLineErrorParser, float_list_arg, int_list_arg, positive_int
from nas.export import get_trial
from nas.final_figures import verdicts
from nas.final_store import Setup
from nas.final_train import (
    REFERENCE_WIDTHS,
    classics,
    default_setup,
    load_data,
    register,
    searched,
    start_workers,
    total_runs,
    train_pending,
)  # fmt: skip
from nas.front import RULES, feasible_front, knee
from nas.objectives import cost_text
from nas.parallel import default_workers, exit_code, raise_on_signals, stop_workers, worker_device
from nas.paths import DEFAULT_DATA_DIR, DEFAULT_STORAGE
from nas.proxy import resolve_device
from nas.references import REFERENCES
from nas.settings import study_settings
from nas.storage import load_existing_study
from nas.units import human
from nas.verdict import beaten_share, proxy_agreement, verdict_table


def build_parser() -> argparse.ArgumentParser:
    p = OneLineErrorParser(prog="python -m nas.retrain", description=__doc__)
    p.add_argument("--storage", default=DEFAULT_STORAGE)
    p.add_argument("--study-name", default=None, help="needed only when the storage holds several studies")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--trials", type=int_list_arg, help="trial numbers, e.g. 12,40 (default: the whole front)")
    which.add_argument("--top", type=positive_int, help="the first K front members by --rule")
    p.add_argument("--rule", choices=RULES, default="max-accuracy", help="order of the front for --top")
    p.add_argument("--epochs", type=positive_int, help="final training epochs (default: 4 x the study's proxy)")
    p.add_argument("--seeds", type=positive_int, default=3, help="final runs per network (default 3)")
    p.add_argument("--lrs", type=float_list_arg, help="learning-rate grid (default: the study's x 1, 1/4, 1/16)")
    p.add_argument("--references", default=",".join(REFERENCES), help="classic networks, comma-separated, or none")
    p.add_argument("--reference-widths", type=float_list_arg, default=REFERENCE_WIDTHS, help="width multipliers")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--workers", type=positive_int, help="processes sharing the runs (default: as nas.search)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    return p


def ordered_front(front: list[FrozenTrial], rule: str) -> list[FrozenTrial]:
    """The front by a pick rule: most accurate first, cheapest first, or nearest the knee first."""
    if rule == "max-accuracy":
        return sorted(front, key=lambda t: (-t.values[0], *t.values[1:]))
    by_cost = sorted(front, key=lambda t: (*t.values[1:], -t.values[0]))
    if rule == "min-flops":
        return by_cost
    at = by_cost.index(knee(front))
    return sorted(by_cost, key=lambda t: abs(by_cost.index(t) - at))


def chosen_trials(study: optuna.Study, args: argparse.Namespace) -> list[FrozenTrial]:
    if args.trials:
        return [get_trial(study, n) for n in dict.fromkeys(args.trials)]
    front = feasible_front(study)
    if not front:
        raise ValueError(f"study {study.study_name!r} has no finished trial to train")
    return ordered_front(front, args.rule)[: args.top] if args.top else front


def reference_names(text: str) -> list[str]:
    names = [] if text == "none" else [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in REFERENCES]
    if unknown:
        raise ValueError(f"unknown reference {unknown}; known: {list(REFERENCES)}")
    return names


def report(study: optuna.Study, setup: Setup) -> None:
    """The members' test accuracy, the verdict on each classic and how far the proxy agreed."""
    members, _, judged = verdicts(study)
    print(f"\nFinal training ({setup.epochs} epochs x {setup.seeds} seeds, train + validation -> test):")
    for m in sorted(members, key=lambda m: m.costs["flops"]):
        low, high = m.interval()
        proxy = f"proxy {m.proxy_accuracy:.4f}" if m.proxy_accuracy is not None else ""
        print(f"  {m.name:>10}: test {m.mean:.4f} ({low:.4f}..{high:.4f}) at lr {m.lr:g}, "
              f"{human(m.costs['flops'])} FLOPs, {human(m.costs['params'])} params; {proxy}")  # fmt: skip
    if judged:
        print("\nClassic networks against the front (costs no higher, test accuracy over seeds):")
        print(verdict_table(judged, cost_text))
        beaten, learned = beaten_share(judged)
        print(f"\nThe front beats {beaten} of the {learned} classics that learned.")
    tau, gap = proxy_agreement(members)
    if tau is not None:
        print(f"Proxy vs final: Kendall tau {tau:.3f}, mean gap (final - proxy) {gap:+.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.storage.startswith("grpc://"):  # the proxy refuses attrs on finished trials, which this writes
        parser.error("--storage: give the study database's own URL (postgresql://...), not a grpc:// proxy")
    try:  # everything checked before anything is written
        names = reference_names(args.references)
        study = load_existing_study(args.storage, args.study_name)
        study_settings(study)
        trials = chosen_trials(study, args)
        device = resolve_device(args.device)
        data = load_data(study, args.data_dir, device)
    except ValueError as exc:
        parser.error(str(exc))
    setup = default_setup(study, epochs=args.epochs, seeds=args.seeds, lrs=args.lrs)
    networks = searched(trials) + classics(names, args.reference_widths, data)
    register(study, networks, setup, {t.number: t for t in trials})
    digests = list(dict.fromkeys(n.spec.digest() for n in networks))
    rates = ", ".join(map(str, setup.lrs))
    print(f"study {study.study_name!r}: final training of {len(trials)} searched and {len(networks) - len(trials)} "
          f"classic networks; learning rate from {rates} by a {setup.select_epochs}-epoch run, then {setup.seeds} "
          f"seeds x {setup.epochs} epochs; {total_runs(digests, setup)} runs")  # fmt: skip
    workers = args.workers or default_workers(args.device)
    devices = [worker_device(args.device, k) for k in range(workers)]
    bar = tqdm(total=total_runs(digests, setup), unit="run", dynamic_ncols=True)
    procs = []
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))

    def progress(done: int, doing: str) -> None:
        if done >= 0:
            bar.n = done
        bar.set_postfix_str(doing, refresh=True)

    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    raise_on_signals()
    try:
        procs = start_workers(args.storage, study.study_name, digests, setup, args.data_dir, devices)
        train_pending(study, digests, setup, data, resolve_device(devices[0]), on_progress=progress)
        for proc in procs:
            proc.join()
    except KeyboardInterrupt as exc:
        stop_workers(procs)
        bar.close()
        print(f"\n{parser.prog}: interrupted ({exc}); finished runs are kept. Resume with the same command.",
              file=sys.stderr)  # fmt: skip
        return exit_code(exc)
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        bar.close()
    report(study, setup)
    where = "" if args.storage == DEFAULT_STORAGE else f" --storage {args.storage}"
    print(f"\nNext: python -m nas.report{where} --study-name {study.study_name}   # the verdict and its figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
