"""Re-scoring the front: racing under a budget (the default) against the band it replaced and
against no re-scoring, on the same searched networks.

    python bench/front_quality.py [--seeds 0 1 2] [--budget 30] [--epochs 6] [--refine 2]
        [--shares 0.25 0.5] [--long-epochs 18] [--long-seeds 2] [--per-class 80] [--cache FILE]

On the ``shapes`` set (``proxy_fidelity.draw_shapes``: 10 classes of small coloured shapes in
clutter, where long training separates networks and does not saturate), per search seed:
- **none**: a single-fidelity search of ``--budget`` networks, ``--refine 0``;
- **band** (the previous release's rule): a copy of that study, re-scored with ``--refine`` more
  seeds for every top-rung network within 0.01 accuracy of the front, repeated until none is due;
- **racing S**: another copy, re-scored as ``python -m nas.search`` does now with
  ``--refine-budget S`` (each share in ``--shares``);
- **racing =band**: racing with the budget of runs the band spent on that seed (equal compute).
All arms share the same first runs, so their differences are paired. Every member of any arm's
front is trained long (train + validation, ``--long-epochs``, ``--long-seeds`` seeds; cached) and
scored on the test split. Printed per seed and over seeds (mean; 95% paired t intervals of
racing - band and racing - none):
- re-scoring runs, and their training time as a share of the search's own (the compute each
  arm adds);
- Kendall tau between the accuracy the tool reports for its front and the long-run accuracy;
- hypervolume of the front under long-run accuracy (normalised axes, nas.hypervolume);
- the noise ceiling: tau between the long-run seeds on the same networks.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial
from scipy.stats import kendalltau
from scipy.stats import t as student_t

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_fidelity import draw_shapes  # noqa: E402

from nas import ArchSpec  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.dataset import Dataset  # noqa: E402
from nas.evidence import Evidence, best_evidence  # noqa: E402
from nas.front import feasible_front  # noqa: E402
from nas.hypervolume import hypervolume  # noqa: E402
from nas.pareto import dominates, minimised  # noqa: E402
from nas.proxy import ProxyConfig, train_and_evaluate  # noqa: E402
from nas.racing import rescoring_cost, search_cost  # noqa: E402
from nas.schedule import promotion_attrs  # noqa: E402
from nas.search_config import SearchConfig  # noqa: E402
from nas.search_loop import run_search  # noqa: E402
from nas.trials import DIGEST_ATTR, LIVE, replicate_of, run_key  # noqa: E402

BAND = 0.01


def band_due(trials: list[FrozenTrial], replicates: int) -> list[tuple[FrozenTrial, int]]:
    """The previous release's re-scoring (single fidelity): ``replicates`` more seeds for every
    network within ``BAND`` accuracy of the front, by its mean so far."""
    evidence = best_evidence(trials, default_epochs=0, val_size=None)
    points = {e.user_attrs[DIGEST_ATTR]: minimised(e.values, log_costs=True) for e in evidence}

    def near_front(digest: str) -> bool:
        acc, *costs = points[digest]
        return not any(dominates(q, (acc - BAND, *costs)) for d, q in points.items() if d != digest)

    live = {run_key(t) for t in trials if t.state in LIVE}
    return [
        (e.trial, k)
        for e in evidence
        if near_front(e.user_attrs[DIGEST_ATTR])
        for k in range(1, replicates + 1)
        if (e.user_attrs[DIGEST_ATTR], 0, k) not in live
    ]


def rescore_with_band(config: SearchConfig, replicates: int) -> optuna.Study:
    study = optuna.load_study(study_name=config.study_name, storage=config.storage)
    while due := band_due(study.get_trials(deepcopy=False), replicates):
        for run, k in due:
            study.enqueue_trial(run.params, user_attrs=promotion_attrs(run, 0, k))
        run_search(replace(config, refine=0))  # the budget is met: it runs the queued trials only
    return study


def copy_study(config: SearchConfig, folder: Path, name: str) -> SearchConfig:
    target = folder / f"{name}.db"
    with sqlite3.connect(config.storage.removeprefix("sqlite:///")) as src, sqlite3.connect(target) as dst:
        src.backup(dst)  # the study's writes may still sit in the write-ahead log: not a file copy
    return replace(config, storage=f"sqlite:///{target}")


def rescoring_runs(study: optuna.Study) -> int:
    return sum(replicate_of(t) >= 1 for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def cost_share(study: optuna.Study) -> float:
    """Re-scoring training time over the search's own (each run at the cost of the run it copies)."""
    trials = study.get_trials(deepcopy=False)
    return rescoring_cost(trials) / search_cost(trials)


def with_accuracy(t: Evidence, accuracy: float) -> FrozenTrial:
    return create_trial(values=[accuracy, *t.values[1:]], user_attrs=t.user_attrs, params={}, distributions={})


def paired(diffs: list[float]) -> str:
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return f"{mean:+.4f}"
    half = student_t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / len(diffs) ** 0.5
    return f"{mean:+.4f} (95% paired interval {mean - half:+.4f}..{mean + half:+.4f})"


class LongRuns:
    """Long-run test accuracy per network and seed, cached in a JSON file across runs."""

    def __init__(self, data: Dataset, args: argparse.Namespace) -> None:
        self.data, self.args = data, args
        self.path = Path(args.cache) if args.cache else None
        self.cache: dict[str, float] = json.loads(self.path.read_text()) if self.path and self.path.exists() else {}

    def __call__(self, e: Evidence) -> list[float]:
        spec, args = ArchSpec.from_string(e.user_attrs["arch"]), self.args
        accs = []
        for seed in range(1, args.long_seeds + 1):
            key = f"{args.per_class} {spec.digest()} e{args.long_epochs} s{seed}"
            if key not in self.cache:
                self.cache[key] = train_and_evaluate(
                    spec, self.data, ProxyConfig(epochs=args.long_epochs), seed=seed, train_on=("train", "val"),
                    eval_on="test",
                ).accuracy  # fmt: skip
                if self.path:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self.path.write_text(json.dumps(self.cache, indent=1))
            accs.append(self.cache[key])
        return accs


def run_arms(dataset: str, seed: int, folder: Path, args: argparse.Namespace) -> dict[str, optuna.Study]:
    """One search (none), then each arm's re-scoring on a copy of it."""
    base = SearchConfig(dataset=dataset, seed=seed, device="cpu", budget=args.budget, epochs=args.epochs,
                        refine=0, storage=f"sqlite:///{folder / 'none.db'}")  # fmt: skip
    none = run_search(base)
    base = replace(base, study_name=none.study_name)
    studies = {"none": none, "band": rescore_with_band(copy_study(base, folder, "band"), args.refine)}
    racing = [*((f"racing {s:g}", s) for s in args.shares), ("racing =band", cost_share(studies["band"]))]
    for i, (arm, share) in enumerate(racing):
        config = replace(copy_study(base, folder, f"racing{i}"), refine=args.refine, refine_budget=share)
        studies[arm] = run_search(config)
    return studies


def score(study: optuna.Study, front: list[Evidence], mean_long: dict[str, float]) -> dict[str, float]:
    reported = [e.accuracy for e in front]
    actual = [mean_long[e.user_attrs["digest"]] for e in front]
    return {
        "rescoring_runs": float(rescoring_runs(study)),
        "cost_share": cost_share(study),
        "front": float(len(front)),
        "tau": kendalltau(reported, actual)[0] if len(front) > 1 else float("nan"),
        "hv_long": hypervolume([with_accuracy(e, a) for e, a in zip(front, actual, strict=True)]),
    }


def print_summary(rows: dict[str, dict[str, list[float]]], ceiling: float, args: argparse.Namespace) -> None:
    arms = list(rows)
    print(f"\nover {len(args.seeds)} seeds (mean, then racing - band and racing - none, paired):")
    for key in ("rescoring_runs", "cost_share", "front", "tau", "hv_long"):
        print(f"  {key:15} " + "  ".join(f"{arm} {np.nanmean(rows[arm][key]):.4f}" for arm in arms))
        for arm in arms[2:]:
            for other in ("band", "none"):
                diffs = [b - a for a, b in zip(rows[other][key], rows[arm][key], strict=True)
                         if not (np.isnan(a) or np.isnan(b))]  # fmt: skip
                print(f"  {'':15} {arm} - {other}: {paired(diffs) if diffs else 'n/a'}")
    print(f"noise ceiling: tau between long-run seeds 1 and {args.long_seeds} on the front members: {ceiling:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", type=int, default=30)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--refine", type=int, default=2)
    p.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5])
    p.add_argument("--long-epochs", type=int, default=18)
    p.add_argument("--long-seeds", type=int, default=2)
    p.add_argument("--per-class", type=int, default=80, help="shapes images per class")
    p.add_argument("--cache", default="studies/front_quality_cache.json", help="long-run results, reused ('': none)")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shapes"
        draw_shapes(root, per_class=args.per_class)
        data = load_dataset(f"folder:{root}")
        print(f"shapes: {len(data.train_y)} train / {len(data.val_y)} validation / {len(data.test_y)} test images; "
              f"search {args.budget} networks x {args.epochs} epochs, --refine {args.refine}; long runs "
              f"{args.long_epochs} epochs on train+validation, {args.long_seeds} seeds, test split")  # fmt: skip
        long_run = LongRuns(data, args)
        rows: dict[str, dict[str, list[float]]] = {}
        ceiling_pairs: list[tuple[list[float], list[float]]] = []
        for seed in args.seeds:
            folder = Path(tmp) / f"seed{seed}"
            folder.mkdir()
            studies = run_arms(f"folder:{root}", seed, folder, args)
            fronts = {arm: feasible_front(study) for arm, study in studies.items()}
            members = {e.user_attrs["digest"]: e for f in fronts.values() for e in f}
            longs = {d: long_run(e) for d, e in members.items()}
            ceiling_pairs.append(([v[0] for v in longs.values()], [v[-1] for v in longs.values()]))
            mean_long = {d: statistics.fmean(v) for d, v in longs.items()}
            print(f"\nseed {seed}: {len(members)} networks on some arm's front")
            for arm, front in fronts.items():
                figures = score(studies[arm], front, mean_long)
                for k, v in figures.items():
                    rows.setdefault(arm, {}).setdefault(k, []).append(v)
                print(f"  {arm:12}: {figures['rescoring_runs']:3.0f} re-scoring runs ({figures['cost_share']:.2f} "
                      f"of the search's training time), front {len(front):2}, tau {figures['tau']:+.3f}, long-run "
                      f"HV {figures['hv_long']:.4f}", flush=True)  # fmt: skip
        print_summary(rows, statistics.fmean(kendalltau(a, b)[0] for a, b in ceiling_pairs), args)


if __name__ == "__main__":
    main()
