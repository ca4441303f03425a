"""Per-trial time spent outside training, as a share of trial time, and whether it grows.

    python bench/overhead.py                             # runs a budget-200 search (default settings)
    python bench/overhead.py --storage sqlite:///studies/nas.db --study-name digits-mixed   # analyse one

For each trial, its period is the time from its start to the next trial's start (the last one:
to its end), so sampling, building, cost counting, storage writes, artifact upload and callbacks
all count; training is ``train_seconds + eval_seconds`` as the trainer measured it. The figure
is the overhead share over all trials (goal: under 5%), and the mean overhead of the first 20
trials next to the last 20 (flat = no per-trial cost that grows with the study).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile

import optuna
from optuna.trial import TrialState


def analyse(study: optuna.Study) -> None:
    trials = [t for t in study.get_trials() if t.datetime_start and t.datetime_complete]
    trials.sort(key=lambda t: t.datetime_start)
    periods, overheads = [], []
    for i, t in enumerate(trials):
        end = trials[i + 1].datetime_start if i + 1 < len(trials) else t.datetime_complete
        period = (end - t.datetime_start).total_seconds()
        trained = t.user_attrs.get("train_seconds", 0.0) + t.user_attrs.get("eval_seconds", 0.0)
        periods.append(period)
        overheads.append(period - trained)
    n = len(trials)
    done = sum(t.state == TrialState.COMPLETE for t in trials)
    share = sum(overheads) / sum(periods)
    k = min(20, n // 2)
    first, last = statistics.mean(overheads[:k]), statistics.mean(overheads[-k:])
    print(f"study {study.study_name}: {n} trials ({done} complete), {sum(periods) / 60:.1f} min of trial time")
    print(f"baseline: training {sum(periods) - sum(overheads):.0f} s; overhead {sum(overheads):.1f} s")
    print(f"figure  : overhead share {100 * share:.2f}% of trial time (goal < 5%)")
    print(f"flatness: mean overhead per trial, first {k}: {first * 1000:.0f} ms, last {k}: {last * 1000:.0f} ms "
          f"(ratio {last / first:.2f})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--storage", default=None, help="analyse this study instead of running one")
    p.add_argument("--study-name", default="digits-mixed")
    p.add_argument("--budget", type=int, default=200)
    args = p.parse_args()
    if args.storage is None:
        with tempfile.TemporaryDirectory() as tmp:
            storage = f"sqlite:///{tmp}/nas.db"
            cmd = [sys.executable, "-m", "nas.search", "--budget", str(args.budget), "--storage", storage]
            subprocess.run(cmd, check=True, capture_output=True)
            analyse(optuna.load_study(study_name=args.study_name, storage=storage))
    else:
        analyse(optuna.load_study(study_name=args.study_name, storage=args.storage))


if __name__ == "__main__":
    main()
