"""Wall time of the default search, re-scoring included, against the same search without it.

    python bench/default_search_time.py [--budget 200] [--repeats 2] [-- extra search flags]

Per repetition (search seed = repetition index), on a fresh database:
1. ``python -m nas.search --budget N --refine 0 --seed S``: the baseline, the search as it was
   before re-scoring existed;
2. the same command with the default re-scoring (no ``--refine``): the study already holds its N
   networks, so this run only re-scores. Re-scoring starts once the budget is met, so steps 1 + 2
   train exactly the trials the default command would in one go, plus one more start-up:
   the figure is, if anything, a little high.
Prints the minutes and runs of each, and the ratio (1 + 2) / 1 over all repetitions. Goal <= 1.3x.
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


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def complete_runs(storage: str) -> int:
    return len(optuna.load_study(study_name="digits-mixed", storage=storage).get_trials(states=(TrialState.COMPLETE,)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("extra", nargs="*", help="more search flags, after --, e.g. -- --refine-budget 0.5")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base_total = rescore_total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.repeats):
            storage = f"sqlite:///{Path(tmp) / f'seed{seed}.db'}"
            cmd = [sys.executable, "-m", "nas.search", "--budget", str(args.budget), "--storage", storage,
                   "--seed", str(seed), *args.extra]  # fmt: skip
            base = timed([*cmd, "--refine", "0"])
            runs = complete_runs(storage)
            rescore = timed(cmd)
            extra = complete_runs(storage) - runs
            base_total, rescore_total = base_total + base, rescore_total + rescore
            print(f"seed {seed}: --refine 0 {base / 60:.2f} min ({runs} runs); then the default's re-scoring "
                  f"{rescore / 60:.2f} min ({extra} runs): {(base + rescore) / base:.2f}x", flush=True)  # fmt: skip
    print(f"baseline (--refine 0):                {base_total / 60:.2f} min")
    print(f"figure   (default, re-scoring on):   {(base_total + rescore_total) / 60:.2f} min")
    print(f"ratio {(base_total + rescore_total) / base_total:.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
