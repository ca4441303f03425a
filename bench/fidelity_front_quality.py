"""Front quality at equal training compute: single-fidelity search vs multi-fidelity + re-scoring
(and single fidelity + re-scoring, the tool's default).

    python bench/fidelity_front_quality.py [--seeds 0 1 2] [--budget 24] [--epochs 8] [--min-epochs 3]
        [--eta 3] [--refine 2] [--long-epochs 24] [--long-seeds 2] [--cache FILE]

On the ``shapes`` set (``proxy_fidelity.draw_shapes``: 10 classes of small coloured shapes in
clutter, where long training separates networks and does not saturate), for each search seed:
(b) the multi-fidelity search (rungs ``--min-epochs`` .. ``--epochs``, eta, ``--refine`` more seeds
for the top-rung front) runs first and its training compute is counted (images passed through
training, all trials); (a) today's single-fidelity search at ``--epochs`` then gets the budget of
networks that costs the same, and (c) single fidelity with ``--refine`` gets that budget less one
network per re-scoring run of (a)'s front. Every member of any reported front is trained long (train +
validation, ``--long-epochs``, ``--long-seeds`` seeds; cached) and scored on the held-out test split.
Printed per seed and over seeds (mean, paired t interval of (b) - (a)):
- hypervolume of each front under long-run accuracy (normalised axes, nas.hypervolume);
- Kendall tau and mean absolute error between the accuracy the tool reports for its front and
  the long-run accuracy (both are fractions: validation vs test split);
- long-run accuracy of ``--pick knee`` and of ``--pick max-accuracy --max-flops X`` (X: the median
  FLOPs of the two fronts' members) against the best long-run accuracy of any front member of
  either run under X (the networks this benchmark trained long);
- the noise ceiling: tau between the long-run seeds on the same networks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
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
from nas.front import feasible_front, knee, pick  # noqa: E402
from nas.hypervolume import hypervolume  # noqa: E402
from nas.proxy import ProxyConfig, train_and_evaluate  # noqa: E402
from nas.search_config import SearchConfig
from nas.search_loop import run_search  # noqa: E402


def trained_images(study: optuna.Study, train_size: int) -> int:
    """Images passed through training by the study's trials (reused results and pruned trials trained nothing)."""
    return sum(
        int(t.user_attrs.get("epochs", 0)) * train_size
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.FAIL)
        and "duplicate_of" not in t.user_attrs
        and "train_seconds" in t.user_attrs
    )


def search(folder: Path, dataset: str, seed: int, name: str, **kw) -> optuna.Study:
    config = SearchConfig(dataset=dataset, seed=seed, device="cpu", storage=f"sqlite:///{folder / f'{name}.db'}", **kw)
    return run_search(config)


def with_accuracy(t: FrozenTrial, accuracy: float) -> FrozenTrial:
    return create_trial(values=[accuracy, *t.values[1:]], user_attrs=t.user_attrs, params={}, distributions={})


def capped(study: optuna.Study, limit: int, mean_long: dict[str, float]) -> float:
    """Long-run accuracy of ``--pick max-accuracy --max-flops limit`` (nan: no front member under it)."""
    try:
        return mean_long[pick(study, "max-accuracy", max_flops=limit).user_attrs["digest"]]
    except ValueError:
        return float("nan")


def paired(diffs: list[float]) -> str:
    if not diffs:
        return "n/a"
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return f"{mean:+.4f}"
    half = student_t.ppf(0.95, len(diffs) - 1) * statistics.stdev(diffs) / len(diffs) ** 0.5
    return f"{mean:+.4f} (90% paired interval {mean - half:+.4f}..{mean + half:+.4f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", type=int, default=24, help="networks of the multi-fidelity search")
    p.add_argument("--epochs", type=int, default=8, help="top rung; the single-fidelity search's epochs")
    p.add_argument("--min-epochs", type=int, default=3)
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--refine", type=int, default=2)
    p.add_argument("--long-epochs", type=int, default=24)
    p.add_argument("--long-seeds", type=int, default=2)
    p.add_argument("--per-class", type=int, default=100, help="shapes images per class")
    p.add_argument("--cache", default="studies/front_quality_cache.json", help="long-run results, reused ('': none)")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cache_path = Path(args.cache) if args.cache else None
    cache: dict[str, float] = json.loads(cache_path.read_text()) if cache_path and cache_path.exists() else {}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shapes"
        draw_shapes(root, per_class=args.per_class)
        dataset = f"folder:{root}"
        data = load_dataset(dataset)
        train_size = len(data.train_y)
        print(f"shapes: {train_size} train / {len(data.val_y)} validation / {len(data.test_y)} test images; long "
              f"runs {args.long_epochs} epochs on train+validation, {args.long_seeds} seeds, test split")  # fmt: skip

        def long_run(t: FrozenTrial) -> list[float]:
            spec = ArchSpec.from_string(t.user_attrs["arch"])
            accs = []
            for seed in range(1, args.long_seeds + 1):
                key = f"{args.per_class} {spec.digest()} e{args.long_epochs} s{seed}"
                if key not in cache:
                    cache[key] = train_and_evaluate(
                        spec, data, ProxyConfig(epochs=args.long_epochs), seed=seed, train_on=("train", "val"),
                        eval_on="test",
                    ).accuracy  # fmt: skip
                    if cache_path:
                        cache_path.parent.mkdir(parents=True, exist_ok=True)
                        cache_path.write_text(json.dumps(cache, indent=1))
                accs.append(cache[key])
            return accs

        rows: dict[str, dict[str, list[float]]] = {"single": {}, "multi": {}, "refined": {}}
        ceiling_pairs: list[tuple[list[float], list[float]]] = []
        for seed in args.seeds:
            folder = Path(tmp) / f"seed{seed}"
            folder.mkdir()
            multi = search(folder, dataset, seed, "multi", budget=args.budget, epochs=args.epochs,
                           min_epochs=args.min_epochs, eta=args.eta, refine=args.refine)  # fmt: skip
            cost = trained_images(multi, train_size)
            single_budget = max(1, round(cost / (args.epochs * train_size)))
            single = search(folder, dataset, seed, "single", budget=single_budget, epochs=args.epochs, refine=0)
            # (c) single fidelity with re-scoring (the tool's default): fewer networks, so that its
            # re-scoring runs fit about the same compute (one per front member of (a) and seed)
            refined_budget = max(1, single_budget - len(feasible_front(single)) * args.refine)
            refined = search(folder, dataset, seed, "refined", budget=refined_budget, epochs=args.epochs,
                             refine=args.refine)  # fmt: skip
            studies = {"single": single, "multi": multi, "refined": refined}
            fronts = {name: feasible_front(study) for name, study in studies.items()}
            costs = {name: trained_images(study, train_size) for name, study in studies.items()}
            members = {t.user_attrs["digest"]: t for f in fronts.values() for t in f}
            longs = {d: long_run(t) for d, t in members.items()}
            ceiling_pairs.append(([v[0] for v in longs.values()], [v[-1] for v in longs.values()]))
            mean_long = {d: statistics.fmean(v) for d, v in longs.items()}
            limit = statistics.median(t.values[1] for t in members.values())
            best_under = max(mean_long[d] for d, t in members.items() if t.values[1] <= limit)
            print(f"\nseed {seed}: single-fidelity {single_budget} networks x {args.epochs} epochs vs "
                  f"multi-fidelity {args.budget} networks (rungs from {args.min_epochs}, eta {args.eta}, refine "
                  f"{args.refine}); X = {limit:,.0f} FLOPs; best long-run member under X {best_under:.4f}")  # fmt: skip
            for name, front in fronts.items():
                study = studies[name]
                reported = [t.values[0] for t in front]
                actual = [mean_long[t.user_attrs["digest"]] for t in front]
                tau = kendalltau(reported, actual)[0] if len(front) > 1 else float("nan")
                figures = {
                    "images": float(costs[name]),
                    "front": float(len(front)),
                    "hv_long": hypervolume([with_accuracy(t, a) for t, a in zip(front, actual, strict=True)]),
                    "tau": tau,
                    "mae": statistics.fmean(abs(r - a) for r, a in zip(reported, actual, strict=True)),
                    "knee_long": mean_long[knee(front).user_attrs["digest"]],
                    "capped_long": capped(study, int(limit), mean_long),
                }
                for k, v in figures.items():
                    rows[name].setdefault(k, []).append(v)
                print(f"  {name:7}: {costs[name]:>9,} training images, front {len(front):2}, long-run HV "
                      f"{figures['hv_long']:.4f}, tau {tau:+.3f}, MAE {figures['mae']:.4f}, knee "
                      f"{figures['knee_long']:.4f}, max-accuracy under X {figures['capped_long']:.4f}")  # fmt: skip

        ceiling = statistics.fmean(kendalltau(a, b)[0] for a, b in ceiling_pairs)
        print(f"\nover {len(args.seeds)} seeds (mean; multi - single and refined - single, paired intervals):")
        for key in ("images", "hv_long", "tau", "mae", "knee_long", "capped_long"):
            s = rows["single"][key]
            means = "  ".join(f"{name} {np.nanmean(rows[name][key]):10.4f}" for name in rows)
            diffs = {
                name: paired(
                    [b - a for a, b in zip(s, rows[name][key], strict=True) if not (np.isnan(a) or np.isnan(b))]
                )
                for name in ("multi", "refined")
            }
            print(f"  {key:12} {means}\n  {'':12} multi - single {diffs['multi']}; refined - single {diffs['refined']}")
        print(f"noise ceiling: tau between long-run seeds 1 and {args.long_seeds} on the front members: {ceiling:.3f}")


if __name__ == "__main__":
    main()
