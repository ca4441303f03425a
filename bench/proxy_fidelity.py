"""Proxy fidelity: does the cheap proxy rank architectures the way long training does?

    python bench/proxy_fidelity.py [--dataset digits|shapes] [--archs 30] [--long-factor 10]
                                   [--long-seeds 2] [--variants "epochs=6" "epochs=3,batch_size=32" ...]

Samples ``--archs`` architectures from the default space (random sampler, fixed seed), trains
each (a) with the proxy (validation accuracy) and (b) ``--long-factor`` times longer, scored on
the held-out test split. Reports Kendall tau and Spearman rho of proxy vs long-run accuracy,
next to the free baselines FLOPs-only and params-only, all from this one run. ``shapes`` is a
10-class 32x32 colour image folder that the benchmark draws and then loads with folder:PATH.

The long runs use training seeds 1, 2, ..., never the proxies' seed 0: a long run that starts
from the proxy's very initialisation and batch order shares its luck, which inflated tau (digits:
0.55 against the seed-0 long runs, 0.29 against seed 1). With ``--long-seeds 2`` or more, the
target is the mean over seeds, and the tau of one seed's long run against another's is printed:
the ceiling any proxy can reach against a target that noisy.

``--device cuda`` trains the proxies on the GPU (the proxy a GPU search runs), and the long runs
too unless ``--long-device`` says otherwise; results are cached per device.

``--cache FILE [FILE ...]`` keeps every result (JSON; all files read, the first extended), so
that more variants can be scored later without training the long runs again, and two processes
can share the work on two cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.stats import bootstrap, kendalltau, spearmanr
from workload import sample_specs

from nas import ArchSpec, count_cost
from nas.data import load_dataset
from nas.dataset import Dataset
from nas.proxy import ProxyConfig, train_and_evaluate


def _shapes(d: ImageDraw.ImageDraw, cx: int, cy: int, r: int, color: tuple, w: int) -> dict:
    """One drawing per class, centred at (cx, cy) with radius r and strokes w pixels wide."""
    box = (cx - r, cy - r, cx + r, cy + r)
    return {
        "circle": lambda: d.ellipse(box, fill=color),
        "square": lambda: d.rectangle(box, fill=color),
        "triangle": lambda: d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=color),
        "ring": lambda: d.ellipse(box, outline=color, width=w),
        "hbar": lambda: d.rectangle((cx - r, cy - w, cx + r, cy + w), fill=color),
        "vbar": lambda: d.rectangle((cx - w, cy - r, cx + w, cy + r), fill=color),
        "diamond": lambda: d.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=color),
        "frame": lambda: d.rectangle(box, outline=color, width=w),
        "cross": lambda: (
            d.line((cx - r, cy - r, cx + r, cy + r), fill=color, width=w)
            or d.line((cx - r, cy + r, cx + r, cy - r), fill=color, width=w)
        ),
        "corner": lambda: d.polygon([(cx - r, cy - r), (cx + r, cy - r), (cx - r, cy + r)], fill=color),
    }


# The long runs' recipe (the first round's default proxy, trained --long-factor times longer than
# the default proxy), spelled out so that tuning the proxy's defaults does not move the target.
LONG_RECIPE = ProxyConfig(
    batch_size=64, lr=0.4, momentum=0.9, weight_decay=5e-4, label_smoothing=0.1, schedule="onecycle", translate=1
)

SHAPES = ("circle", "square", "triangle", "ring", "hbar", "vbar", "diamond", "frame", "cross", "corner")


def draw_shapes(root: Path, per_class: int = 120, size: int = 32, seed: int = 0) -> None:
    """A small dataset shaped differently from digits: 10 classes of coloured shapes, small (radius
    3-8 px, so the input resolution matters), of random size, place and contrast, among random
    clutter strokes on noisy backgrounds; 32x32 RGB, written as an image-folder tree. Hard
    enough that long training does not saturate, so the ranking of networks means something."""
    rng = np.random.default_rng(seed)

    def colour(low: int) -> tuple:
        return tuple(int(c) for c in rng.integers(low, 256, 3))

    for name in SHAPES:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = Image.fromarray(rng.integers(0, 160, (size, size, 3), dtype=np.uint8))
            d = ImageDraw.Draw(img)
            for _ in range(3):  # clutter: strokes of the same width as the shapes' own
                d.line([tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(2)], fill=colour(60), width=1)
            r = int(rng.integers(3, 9))
            cx, cy = (int(v) for v in rng.integers(r + 1, size - r - 1, 2))
            _shapes(d, cx, cy, r, colour(90), int(rng.integers(1, 3)))[name]()
            img.save(root / name / f"{i}.png")


def parse_variant(text: str) -> ProxyConfig:
    fields = dict(kv.split("=") for kv in text.split(",")) if text else {}
    base = ProxyConfig()
    return replace(base, **{k: type(getattr(base, k))(v) for k, v in fields.items()})


def result_key(data: Dataset, config: ProxyConfig, seed: int, spec: ArchSpec, split: str, device: str) -> str:
    """Cache key of one training run (CPU keys predate --device and stay as they were)."""
    key = f"{data.name} {config} seed={seed} {spec.digest()}" + ("" if split == "test" else f" {split}")
    return key if device == "cpu" else f"{key} {device}"


def tau_interval(values: list[float], target: list[float], minus: list[float] | None = None) -> tuple[float, float]:
    """90% bootstrap interval of Kendall tau (of ``values`` against ``target``, less that of
    ``minus`` when given), resampling architectures: how far another sample of the same size could
    move the figure."""

    def statistic(v: np.ndarray, t: np.ndarray, m: np.ndarray | None = None) -> float:
        return kendalltau(v, t)[0] - (0.0 if m is None else kendalltau(m, t)[0])

    samples = (values, target) if minus is None else (values, target, minus)
    with warnings.catch_warnings():  # resamples that repeat one architecture only: tau undefined
        warnings.simplefilter("ignore")
        ci = bootstrap(
            samples, statistic, paired=True, vectorized=False, n_resamples=2000, confidence_level=0.9,
            method="percentile", rng=0,
        ).confidence_interval  # fmt: skip
    return ci.low, ci.high


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits", help="digits, shapes, or any --dataset of nas.search")
    p.add_argument("--archs", type=int, default=30)
    p.add_argument("--long-factor", type=int, default=10)
    p.add_argument("--variants", nargs="+", default=[""], help="proxy settings to compare; '' = the default")
    p.add_argument("--seed", type=int, default=0, help="seed of the architecture sample")
    p.add_argument("--long-seeds", type=int, default=1, help="long runs per architecture, seeds 1.. (target: mean)")
    p.add_argument("--device", default="cpu", help="cpu or cuda, for the proxies")
    p.add_argument("--long-device", help="device of the long runs (default: --device)")
    p.add_argument(
        "--cache", type=Path, nargs="+", default=[], help="JSON files of results: all read, the first extended"
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.dataset == "shapes":
            draw_shapes(Path(tmp) / "shapes")
            data: Dataset = load_dataset(f"folder:{Path(tmp) / 'shapes'}")
        else:
            data = load_dataset(args.dataset)
    specs = sample_specs(data, args.archs, args.seed)
    costs = [count_cost(s) for s in specs]
    default = ProxyConfig()
    long_config = replace(LONG_RECIPE, epochs=default.epochs * args.long_factor)

    cache: dict[str, float] = {}
    for path in args.cache:
        cache |= json.loads(path.read_text()) if path.exists() else {}
    seconds: dict[str, float] = {}  # training + evaluation time per setting (NaN: not recorded)

    def scores(label: str, config: ProxyConfig, seed: int, split: str, device: str) -> list[float]:
        """Accuracy of every spec trained with ``config``; cached by dataset, setting and digest."""
        out = []
        for i, spec in enumerate(specs):
            key = result_key(data, config, seed, spec, split, device)
            if key not in cache:
                start = time.perf_counter()
                result = train_and_evaluate(spec, data, config, device=device, seed=seed, eval_on=split)
                cache[key] = result.accuracy
                cache[f"{key} seconds"] = time.perf_counter() - start
                if args.cache:
                    args.cache[0].write_text(json.dumps(cache, indent=1))
            out.append(cache[key])
            seconds[label] = seconds.get(label, 0.0) + cache.get(f"{key} seconds", float("nan"))
            print(
                f"  {label} {i + 1}/{len(specs)}: {split} accuracy {out[-1]:.4f}  {spec.to_string()}", file=sys.stderr
            )
        return out

    # The proxies first: their scores do not depend on the long runs (and can be cached apart).
    configs = {variant: parse_variant(variant) for variant in args.variants}
    proxies = {v: scores(f"proxy {v or 'default'}", config, 0, "val", args.device) for v, config in configs.items()}
    long_seeds = range(1, args.long_seeds + 1)
    long_device = args.long_device or args.device
    runs = np.array([scores(f"long run seed {seed}", long_config, seed, "test", long_device) for seed in long_seeds])
    long_acc = list(runs.mean(axis=0))

    flops = [c.flops for c in costs]

    def report(name: str, values: list[float], label: str | None = None) -> None:
        tau, rho = kendalltau(values, long_acc)[0], spearmanr(values, long_acc)[0]
        low, high = tau_interval(values, long_acc)
        cost = f", {seconds[label] / len(specs):.2f} s per architecture" if label else ""
        print(f"{name:<44} Kendall tau {tau:+.3f} (90% CI {low:+.2f}..{high:+.2f})  Spearman rho {rho:+.3f}{cost}")
        if label:  # paired: the same resampled architectures for the proxy and for FLOPs-only
            gain = tau - kendalltau(flops, long_acc)[0]
            low, high = tau_interval(values, long_acc, minus=flops)
            print(f"{'':<44} tau minus FLOPs-only's {gain:+.3f} (90% CI {low:+.2f}..{high:+.2f})")

    print(f"device {args.device}, dataset {data.name} ({len(data.train_x)} train / {len(data.val_x)} val / "
          f"{len(data.test_x)} test), {len(specs)} architectures of the default space")  # fmt: skip
    long_seconds = sum(v for k, v in seconds.items() if k.startswith("long run"))
    timing = f"{long_seconds / runs.size:.2f} s per run" if np.isfinite(long_seconds) else "time not recorded"
    print(f"long run on {long_device}: {long_config.epochs} epochs, batch {long_config.batch_size}, "
          f"lr {long_config.lr}, test split, mean of seed(s) {list(long_seeds)}, {timing}; "
          f"test accuracy {min(long_acc):.3f} .. {max(long_acc):.3f}")  # fmt: skip
    if args.long_seeds > 1:  # one long run against another: the mean over every pair of seeds
        pairs = list(itertools.combinations(runs, 2))
        tau = np.mean([kendalltau(a, b)[0] for a, b in pairs])
        rho = np.mean([spearmanr(a, b)[0] for a, b in pairs])
        name = f"ceiling: one long run vs another ({len(pairs)} pair{'s' * (len(pairs) > 1)})"
        print(f"{name:<44} Kendall tau {tau:+.3f}  Spearman rho {rho:+.3f}")
    report("baseline FLOPs only", flops)
    report("baseline params only", [c.params for c in costs])
    for variant, values in proxies.items():
        config, label = configs[variant], f"proxy {variant or 'default'}"
        report(f"{label} ({config.epochs} ep, batch {config.batch_size}, lr {config.lr})", values, label)


if __name__ == "__main__":
    main()
