"""Throughput of --workers N vs --workers 1: finished trials per minute, side by side.

    python bench/workers_throughput.py [--budget 24] [--epochs 3] [--workers 2]

Both runs search the same space with the same settings into fresh SQLite studies, one after the
other in this one invocation; the figure is the ratio of their trials per minute.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState


def trials_per_minute(workers: int, budget: int, epochs: int, folder: Path) -> tuple[float, int, float]:
    storage = f"sqlite:///{folder / f'workers{workers}.db'}"
    cmd = [sys.executable, "-m", "nas.search", "--budget", str(budget), "--epochs", str(epochs), "--storage",
           storage, "--workers", str(workers), "--sampler", "random", "--refine", "0"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    done = optuna.load_study(study_name="digits-mixed", storage=storage).get_trials(states=(TrialState.COMPLETE,))
    return len(done) / (seconds / 60), len(done), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--budget", type=int, default=24)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, n1, s1 = trials_per_minute(1, args.budget, args.epochs, Path(tmp))
        fig, n2, s2 = trials_per_minute(args.workers, args.budget, args.epochs, Path(tmp))
    print(f"baseline --workers 1: {n1} trials in {s1:.1f} s = {base:.1f} trials/min")
    print(f"figure   --workers {args.workers}: {n2} trials in {s2:.1f} s = {fig:.1f} trials/min")
    print(f"ratio {fig / base:.2f}x")


if __name__ == "__main__":
    main()
