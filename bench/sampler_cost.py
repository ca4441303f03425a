"""CPU seconds per TPE sample as a study grows: nas's TPE against Optuna's own, side by side.

    python bench/sampler_cost.py [--trials 1000 5000] [--samples 20]

An in-memory study of the default space is grown to each size with random architectures and
synthetic objective values (only the sampler is timed: no training, no database). Then the two
samplers, same settings (multivariate, group, constant liar), take turns sampling the next
architecture; each sample's trial is told synthetic values, as in a search (the fronts and TPE's
tie-break move), and both samplers sample from the same, shared history.
nas's TPE reads the trials once per sample, each finished trial's parameter names once for the
groups, its parameters once in TPE's internal representation and its infeasibility once, and
splits the complete trials on the leading non-dominated fronts only (``nas/tpe_kept.py``); what it
proposes is what Optuna's proposes (tests/test_sampler.py). Figure: nas / Optuna CPU per sample.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import optuna  # noqa: E402

from nas.optuna_compat import quiet_experimental  # noqa: E402
from nas.sampler import make_sampler  # noqa: E402
from search_spaces import SpaceContext, get_space  # noqa: E402


def synthetic_values(spec, rng: random.Random) -> list[float]:  # noqa: ANN001
    return [rng.random(), spec.stem.out_chs * rng.random(), len(spec.stages) + rng.random()]


def grown_study(trials: int) -> optuna.Study:
    ctx, sample = SpaceContext(1, 10, (8, 12, 16)), get_space("mixed")
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))  # fmt: skip
    rng = random.Random(0)
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, synthetic_values(sample(trial, ctx), rng))
    return study


def cpu_per_sample(study: optuna.Study, samplers: dict, samples: int) -> dict[str, list[float]]:
    ctx, sample = SpaceContext(1, 10, (8, 12, 16)), get_space("mixed")
    times: dict[str, list[float]] = {name: [] for name in samplers}
    rng = random.Random(1)
    for _ in range(samples):
        for name, sampler in samplers.items():  # alternating: drift hits both alike
            study.sampler = sampler
            start = time.process_time()
            trial = study.ask()
            spec = sample(trial, ctx)
            times[name].append(time.process_time() - start)
            study.tell(trial, synthetic_values(spec, rng))  # as in a search: each sample's trial joins the history
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--samples", type=int, default=20)
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for size in args.trials:
        study = grown_study(size)
        with quiet_experimental():
            samplers = {
                "nas": make_sampler("tpe", 1),
                "optuna": optuna.samplers.TPESampler(
                    seed=1, multivariate=True, group=True, n_startup_trials=10, constant_liar=True
                ),  # fmt: skip
            }
        times = cpu_per_sample(study, samplers, args.samples)
        ours, theirs = (statistics.median(times[name][1:]) for name in samplers)  # the first warms nas's caches
        print(f"{size} trials: nas TPE {ours:.4f} s/sample, baseline Optuna TPE {theirs:.4f} s/sample; "
              f"ratio {ours / theirs:.2f} (median of {args.samples - 1} samples each, CPU s)")  # fmt: skip


if __name__ == "__main__":
    main()
