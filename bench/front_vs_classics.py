"""Does the searched front beat the classic networks once both are trained for real?

For each of two image sets this script makes itself (harder than digits, which saturates), and
each search seed: the default search (`python -m nas.search`, the real command, on the set as an
image folder), then final training (`python -m nas.retrain`: the front and the six classics at
widths 0.5 and 1.0, learning rate chosen on validation, seeds x epochs on train + validation,
scored on the test split). It prints, side by side: the share of the classics that learned which
the front beats (with a 95% Wilson interval over all seeds), the final front's hypervolume against
the classics' own (the difference with a t-interval over seeds), the proxy-vs-final Kendall tau and
mean gap, and how often each learning rate of the grid was chosen.

The classics do not depend on the search seed: they are trained once per set (in the first
seed's study) and their runs copied into the other seeds' studies, being the very same runs
(same data, recipe and seeds; the CPU trainer is deterministic).

    python bench/front_vs_classics.py                      # ~1 h on a 2-core CPU
    python bench/front_vs_classics.py --budget 8 --seeds 1 --smoke
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import create_trial
from PIL import Image
from scipy import stats
from sklearn.datasets import load_digits

from nas.final_figures import verdicts as judged_verdicts
from nas.final_store import NETWORK_PREFIX, Setup, chosen_lr
from nas.hypervolume import hypervolume
from nas.verdict import BEATEN, FAILED, proxy_agreement

SIZE = 16


def noisy_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's digits at 16 px, each shifted, scaled, in noise and partly covered by a bar."""
    digits = load_digits()
    x, y = [], []
    for i in rng.integers(0, len(digits.images), n):
        img = Image.fromarray((digits.images[i] * 16).astype(np.uint8)).resize((SIZE, SIZE), Image.BILINEAR)
        img = img.rotate(rng.uniform(-25, 25), translate=tuple(rng.integers(-2, 3, 2)), resample=Image.BILINEAR)
        a = np.asarray(img, dtype=np.float32) + rng.normal(0, 60, (SIZE, SIZE))
        r = rng.integers(0, SIZE)
        a[r : r + 2, :] = rng.uniform(0, 255)  # an occluding bar
        x.append(np.clip(a, 0, 255).astype(np.uint8))
        y.append(digits.target[i])
    return np.stack(x), np.array(y)


def shapes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ten kinds of outline shapes at random places and sizes, on noisy backgrounds."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    x, y = [], []
    for _ in range(n):
        k = int(rng.integers(0, 10))
        cy, cx = rng.uniform(5, SIZE - 5, 2)
        r = rng.uniform(3, 5)
        dy, dx = yy - cy, xx - cx
        d = {
            0: np.abs(np.hypot(dy, dx) - r),  # ring
            1: np.abs(np.maximum(np.abs(dy), np.abs(dx)) - r),  # square
            2: np.abs(np.abs(dy) + np.abs(dx) - r),  # diamond
            3: np.minimum(np.abs(dy), np.abs(dx)) + (np.maximum(np.abs(dy), np.abs(dx)) > r) * 9,  # plus
            4: np.minimum(np.abs(dy - dx), np.abs(dy + dx)) + (np.maximum(np.abs(dy), np.abs(dx)) > r) * 9,  # x
            5: np.abs(dy) + (np.abs(dx) > r) * 9,  # horizontal bar
            6: np.abs(dx) + (np.abs(dy) > r) * 9,  # vertical bar
            7: np.hypot(dy, dx) - r * 0.6,  # disc
            8: np.minimum(np.hypot(dy, dx - r * 0.7), np.hypot(dy, dx + r * 0.7)) - 1.2,  # two dots
            9: np.abs(np.hypot(dy, dx) - r) + (dy < 0) * 9,  # half ring
        }[k]
        a = (d < 1.0) * rng.uniform(120, 255) + rng.uniform(0, 90) + rng.normal(0, 45, (SIZE, SIZE))
        x.append(np.clip(a, 0, 255).astype(np.uint8))
        y.append(k)
    return np.stack(x), np.array(y)


def write_folder(root: Path, x: np.ndarray, y: np.ndarray) -> None:
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        (root / f"c{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / f"c{label}" / f"{i}.png")


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def copy_classic_runs(source: optuna.Study, target: optuna.Study) -> None:
    attrs = source.user_attrs
    classic = {k[len(NETWORK_PREFIX) :] for k, v in attrs.items() if k.startswith(NETWORK_PREFIX)
               and v["kind"] == "classic"}  # fmt: skip
    for key, value in attrs.items():
        if key.startswith("final:") and key.split(":")[1] in classic and value is not None:
            target.set_user_attr(key, value)


def front_hypervolume(points: list[tuple[float, float, float]]) -> float:
    trials = [create_trial(values=list(p), params={}, distributions={}) for p in points]
    return hypervolume(trials)


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z, p = 1.96, k / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half / (1 + z * z / n)), min(1.0, centre + half / (1 + z * z / n))


def t_interval(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:+.4f}" if values else "-"
    m, se = statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))
    half = stats.t.ppf(0.975, len(values) - 1) * se
    return f"{m:+.4f} ({m - half:+.4f}..{m + half:+.4f})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--budget", type=int, default=30)
    p.add_argument("--epochs", type=int, default=3, help="proxy epochs of the search")
    p.add_argument("--final-epochs", type=int, default=12)
    p.add_argument("--seeds", type=int, default=3, help="search seeds")
    p.add_argument("--datasets", default="noisy-digits,shapes")
    p.add_argument("--widths", default="0.5,1.0")
    p.add_argument("--dir", default="studies/bench-front-vs-classics")
    p.add_argument("--smoke", action="store_true", help="tiny run: 1 final epoch, 2 seeds, two references")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{root}/bench.db"
    makers = {"noisy-digits": noisy_digits, "shapes": shapes}
    started = time.perf_counter()
    rows = []
    for name in args.datasets.split(","):
        folder = root / name
        if not folder.exists():
            write_folder(folder, *makers[name](args.images, np.random.default_rng(0)))
        first = None
        for seed in range(args.seeds):
            study_name = f"{name}-s{seed}"
            run([sys.executable, "-m", "nas.search", "--dataset", f"folder:{folder}", "--budget", str(args.budget),
                 "--epochs", str(args.epochs), "--refine", "0", "--seed", str(seed), "--storage", storage,
                 "--study-name", study_name, "--device", "cpu"])  # fmt: skip
            study = optuna.load_study(study_name=study_name, storage=storage)
            final = ["--epochs", "1", "--seeds", "2", "--references", "mobilenet_v2,squeezenet1_1"] if args.smoke else \
                ["--epochs", str(args.final_epochs), "--seeds", "3"]  # fmt: skip
            if first is not None:
                copy_classic_runs(first, study)
            run([sys.executable, "-m", "nas.retrain", "--storage", storage, "--study-name", study_name, "--device",
                 "cpu", "--reference-widths", args.widths, *final])  # fmt: skip
            first = first or study
            rows.append((name, seed, study))
    print(f"\n# front vs classics ({time.perf_counter() - started:.0f} s; budget {args.budget}, proxy {args.epochs} "
          f"epochs, final {args.final_epochs} epochs x 3 seeds, {args.images} images per set)")  # fmt: skip
    for name in args.datasets.split(","):
        studies = [s for n, _, s in rows if n == name]
        beaten = learned = 0
        hv_diff, taus, gaps, lrs = [], [], [], Counter()
        for study in studies:
            members, classic, verdicts = judged_verdicts(study)
            beaten += sum(v.outcome == BEATEN for v in verdicts)
            learned += sum(v.outcome != FAILED for v in verdicts)
            for v in verdicts:
                if v.outcome != BEATEN:
                    print(f"  {study.study_name}: {v.classic.name} {v.outcome}"
                          f"{f' (closest {v.member.name}, diff {v.diff[0]:+.4f} {v.diff[1]:+.4f}..{v.diff[2]:+.4f})' if v.member else ''}"  # noqa: E501
                          f"; classic {v.classic.mean:.4f}, {v.classic.costs['flops']:.3g} FLOPs")  # fmt: skip
            pts = lambda fs: [(f.mean, f.costs["flops"], f.costs["params"]) for f in fs if not f.failed]  # noqa: E731
            hv_diff.append(front_hypervolume(pts(members)) - front_hypervolume(pts(classic)))
            tau, gap = proxy_agreement(members)
            taus += [tau] if tau is not None else []
            gaps += [gap] if gap is not None else []
            attrs, setup = study.user_attrs, Setup.of(study)
            lrs.update(chosen_lr(attrs, k[len(NETWORK_PREFIX) :], setup) for k in attrs if k.startswith(NETWORK_PREFIX))
        low, high = wilson(beaten, learned)
        print(f"{name}: front beats {beaten}/{learned} classics that learned ({beaten / max(learned, 1):.2f}, 95% "
              f"{low:.2f}..{high:.2f}); hypervolume front - classics {t_interval(hv_diff)}; proxy-vs-final tau "
              f"{t_interval(taus)}, mean gap (final - proxy) {t_interval(gaps)}; lr chosen {dict(lrs)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
