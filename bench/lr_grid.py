"""Is the final training's learning-rate grid wide enough? (nas.final_train.GRID)

For every network a study's final training judged (searched and classic), the selection run (the
proxy's epochs, train split -> validation, seed 0) is repeated at two more rates outside the
default grid, one above and one below (x2 and x1/64 of the study's rate), and compared, side by
side in one run, with the default grid (x1, x1/4, x1/16) and with a two-value grid (x1, x1/4):
how often each rate wins, and the validation accuracy the smaller grids lose against the widest
(mean, with a 95% t-interval over networks). The default grid's runs are read from the study.

    python bench/lr_grid.py --storage sqlite:///studies/bench-fvc-shapes/bench.db --study-name shapes-s0
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import Counter

import optuna
import torch
from scipy import stats

from nas.arch import ArchSpec
from nas.final_store import SELECT, Job, Setup, networks, runs_of
from nas.final_train import GRID, load_data, run_job
from nas.settings import study_settings

WIDE = (2.0, *GRID, 1 / 64)


def interval(values: list[float]) -> str:
    m = statistics.fmean(values)
    if len(values) < 2:
        return f"{m:.4f}"
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{m:.4f} ({m - half:.4f}..{m + half:.4f})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--storage", required=True)
    p.add_argument("--study-name", action="append", required=True, help="repeat for several studies")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    wins: Counter = Counter()
    lost_default, lost_two = [], []
    for name in args.study_name:
        study = optuna.load_study(study_name=name, storage=args.storage)
        setup, proxy = Setup.of(study), study_settings(study).proxy
        data = load_data(study, "studies/data", torch.device("cpu"))
        attrs = study.user_attrs
        for digest, network in networks(attrs).items():
            known = runs_of(attrs, digest, SELECT, setup.select_epochs)
            scores = {}
            for factor in WIDE:
                lr = float(f"{proxy.lr * factor:.4g}")
                if (lr, 0) in known:
                    scores[factor] = known[(lr, 0)]["accuracy"]
                else:
                    job = Job(digest, SELECT, setup.select_epochs, lr, 0)
                    scores[factor] = run_job(
                        job, ArchSpec.from_string(network["arch"]), data, proxy, data.train_x.device
                    )["accuracy"]  # noqa: E501
            best = max(scores.values())
            wins[max(WIDE, key=lambda f: scores[f])] += 1
            lost_default.append(best - max(scores[f] for f in GRID))
            lost_two.append(best - max(scores[f] for f in GRID[:2]))
            print(f"{name} {network['name']:>22}: " + "  ".join(f"x{f:g} {scores[f]:.3f}" for f in WIDE), flush=True)
    print(f"\n# learning-rate grid, {len(lost_default)} networks, selection runs of the proxy's epochs")
    print("wins by rate (x the study's): " + ", ".join(f"x{f:g}: {wins[f]}" for f in WIDE))
    print(f"validation accuracy lost against the 5-value grid: default 3-value grid {interval(lost_default)}, "
          f"2-value grid (x1, x1/4) {interval(lost_two)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
