"""CPU seconds per promotion decision as a study grows: the index a worker keeps against a fresh one.

    python bench/promotion_cost.py [--trials 1000 7000] [--decisions 20]

Synthetic finished trials of a 3-rung multi-fidelity study (7 in 10 at rung 0, 2 at rung 1, 1 at
rung 2; promotions carry an earlier network's digest; random accuracy and costs), no training, no
database. Then trials arrive one at a time and after each a decision is taken, as a worker takes
one after each run finishes (``due_promotions`` on the rungs the run can change): once from the
index a worker keeps across decisions (``RunIndex``: each trial read once, each rung's ranks grown
run by run), once from a fresh index (every trial read and every rung sorted again: the cost
without an index). Both must decide the same promotions. Figure: kept / fresh CPU per decision.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from optuna.distributions import FloatDistribution  # noqa: E402
from optuna.trial import FrozenTrial, create_trial  # noqa: E402

from nas.schedule import RunIndex, due_promotions  # noqa: E402
from nas.trials import DIGEST_ATTR, REPLICATE_ATTR, RUNG_ATTR  # noqa: E402

RUNGS, ETA = 3, 3


def synthetic_trials(n: int, seed: int = 0) -> list[FrozenTrial]:
    rng, trials = random.Random(seed), []
    for number in range(n):
        rung = 0 if number % 10 < 7 else 1 if number % 10 < 9 else 2
        digest = f"net{number if rung == 0 or number == 0 else rng.randrange(number)}"
        trial = create_trial(
            values=[rng.random(), rng.random() * 1e6, rng.random() * 1e4],
            params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
            user_attrs={DIGEST_ATTR: digest, RUNG_ATTR: rung, REPLICATE_ATTR: 0},
        )  # fmt: skip
        trial.number = number
        trials.append(trial)
    return trials


def cpu_per_decision(trials: list[FrozenTrial], decisions: int) -> tuple[list[float], list[float]]:
    kept, times = RunIndex(), ([], [])
    start = len(trials) - decisions
    due_promotions(trials[:start], RUNGS, ETA, index=kept)  # the worker's index, up to date
    for end in range(start + 1, len(trials) + 1):
        seen, rung = trials[:end], trials[end - 1].user_attrs[RUNG_ATTR]
        t0 = time.process_time()
        ours = due_promotions(seen, RUNGS, ETA, (rung, rung - 1), kept)
        t1 = time.process_time()
        fresh = due_promotions(seen, RUNGS, ETA, (rung, rung - 1))
        t2 = time.process_time()
        assert [t.number for t in ours] == [t.number for t in fresh], f"different decisions at trial {end}"
        times[0].append(t1 - t0)
        times[1].append(t2 - t1)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, nargs="+", default=[1000, 7000])
    p.add_argument("--decisions", type=int, default=20)
    args = p.parse_args()
    for size in args.trials:
        kept, fresh = (statistics.median(t) for t in cpu_per_decision(synthetic_trials(size), args.decisions))
        print(f"{size} trials: kept index {kept:.4f} s/decision, baseline fresh index {fresh:.4f} s/decision; "
              f"ratio {kept / fresh:.3f} (median of {args.decisions} each, CPU s; same decisions)")  # fmt: skip


if __name__ == "__main__":
    main()
