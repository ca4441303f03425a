"""Search efficiency: normalised hypervolume over trials for TPE (default) vs random vs NSGA-II.

    python bench/sampler_efficiency.py [--budget 60] [--epochs 2] [--seeds 0 1 2]

Every sampler searches the default space on digits with the same cheap proxy (``--epochs``,
default 2: cheaper than the search default, stated here on purpose) and the same budget, once
per seed, side by side in this one run. Hypervolume: see bench/hypervolume.py (fixed reference
point (1, 1, 1) over 1 - accuracy and log-scaled FLOPs / params). The figure: the trial at which
the mean TPE curve reaches random search's mean final hypervolume, as a share of the budget
(goal: at most 0.5).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import optuna

from nas.hypervolume import REFERENCE_POINT, hypervolume_history
from nas.search_config import SearchConfig
from nas.search_loop import run_search


def curve(sampler: str, seed: int, budget: int, epochs: int, folder: Path) -> np.ndarray:
    config = SearchConfig(budget=budget, epochs=epochs, sampler=sampler, seed=seed, device="cpu", refine=0,
                          storage=f"sqlite:///{folder / f'{sampler}-{seed}.db'}")  # fmt: skip
    study = run_search(config)
    history = hypervolume_history(study.get_trials())
    return np.maximum.accumulate(np.array(history[:budget]))


def first_reaching(values: np.ndarray, target: float) -> int | None:
    hits = np.flatnonzero(values >= target - 1e-12)
    return int(hits[0]) + 1 if len(hits) else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=int, default=60)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--samplers", nargs="+", default=["tpe", "random", "nsga2"])
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    curves: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in args.samplers:
            runs = [curve(sampler, seed, args.budget, args.epochs, Path(tmp)) for seed in args.seeds]
            curves[sampler] = np.mean(runs, axis=0)
            finals = ", ".join(f"{r[-1]:.4f}" for r in runs)
            print(f"{sampler:>6}: final hypervolume per seed {finals}; mean {curves[sampler][-1]:.4f}")
    print(f"reference point {REFERENCE_POINT}, budget {args.budget}, proxy epochs {args.epochs}, seeds {args.seeds}")
    if "random" in curves:
        target = curves["random"][-1]
        print(f"baseline: random search's mean final hypervolume {target:.4f} at trial {args.budget}")
        for sampler, values in curves.items():
            if sampler == "random":
                continue
            n = first_reaching(values, target)
            share = f"{n / args.budget:.2f} of the budget" if n else "not reached"
            print(f"figure  : {sampler} reaches it at trial {n} ({share}; goal <= 0.50)")
    for sampler, values in curves.items():
        marks = ", ".join(f"{i}:{values[i - 1]:.3f}" for i in (10, 20, 30, 45, 60) if i <= len(values))
        print(f"{sampler:>6} mean hypervolume by trial: {marks}")


if __name__ == "__main__":
    main()
