"""Wall time of the default search with front re-scoring against the same search without it.

    python bench/default_search_time.py [--budget 200] [--repeats 1]

Runs ``python -m nas.search --budget N`` (digits, the defaults: single fidelity, ``--refine 2``)
and the same command with ``--refine 0``, which is the search as it was before re-scoring existed,
each on a fresh database, alternating (ABBA with --repeats 2) on the same machine, and prints the
ratio. Goal: at most 1.3x. The re-scoring cost is about fixed (the front's size x 2 runs), so a
smaller budget than 200 overstates the ratio.
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


def timed(budget: int, refine: int, folder: Path, tag: str) -> tuple[float, int]:
    storage = f"sqlite:///{folder / f'{tag}.db'}"
    cmd = [sys.executable, "-m", "nas.search", "--budget", str(budget), "--storage", storage, "--refine", str(refine)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    runs = optuna.load_study(study_name="digits-mixed", storage=storage).get_trials(states=(TrialState.COMPLETE,))
    return seconds, len(runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--repeats", type=int, default=1, help="2: ABBA order")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    totals = {0: 0.0, 2: 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        order = [0, 2] if args.repeats == 1 else [0, 2, 2, 0]
        for i, refine in enumerate(order):
            seconds, runs = timed(args.budget, refine, Path(tmp), f"r{refine}-{i}")
            totals[refine] += seconds
            print(f"--refine {refine}: {seconds / 60:.2f} min, {runs} complete runs")
    print(f"baseline (no re-scoring, as before): {totals[0] / 60:.2f} min")
    print(f"figure   (default, --refine 2):      {totals[2] / 60:.2f} min")
    print(f"ratio {totals[2] / totals[0]:.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
