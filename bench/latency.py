"""Measured latency: how repeatable it is, what it adds over FLOPs, and what it costs a trial.

    python bench/latency.py [--archs 30] [--trials 6] [--backend torch] [--threads 1] [--seed 0]

For ``--archs`` networks of the default space on digits (the default search's workload) and the
six reference networks adapted to it (x0.5), in one run on this machine:
(a) repeatability: two independent measurement passes over all of them (``nas.latency.measure``,
    as the search does), Kendall tau between the passes (goal >= 0.95) with a 90% bootstrap
    interval over the networks, the median relative
    spread each measurement recorded and the median relative difference between passes; the
    baseline is the same two passes timed naively (one block of runs, no warm-up, no repeat);
(b) Kendall tau between FLOPs and measured latency (how much latency adds over FLOPs);
(c) the time a measurement adds to a trial, against a default trial (10 proxy epochs, training
    and scoring) of ``--trials`` of the networks: goal < 5%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_fidelity import tau_interval  # noqa: E402

from bench.workload import sample_specs  # noqa: E402
from nas import ArchSpec  # noqa: E402
from nas.build import build_model  # noqa: E402
from nas.cost import count_cost  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.latency import MIN_PASSES, measure  # noqa: E402
from nas.latency_setup import LatencySetup, this_machine  # noqa: E402
from nas.proxy import ProxyConfig, train_and_evaluate  # noqa: E402
from nas.references import REFERENCES, adapt  # noqa: E402


def naive_ms(spec: ArchSpec, threads: int, runs: int = 10) -> float:
    """The hand-written way: time ``runs`` forward passes once, cold, and divide."""
    torch.manual_seed(0)
    model = build_model(spec).eval()
    x = torch.randn(1, spec.in_chs, spec.resolution, spec.resolution)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            start = time.perf_counter()
            for _ in range(runs):
                model(x)
            return (time.perf_counter() - start) / runs * 1e3
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=int, default=30, help="networks sampled from the default space")
    p.add_argument("--trials", type=int, default=6, help="networks trained as default trials for (c)")
    p.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="of the sampled networks (another seed: out of sample)")
    args = p.parse_args()
    data = load_dataset("digits")
    specs = sample_specs(data, args.archs, args.seed) + [
        adapt(REFERENCES[name], in_chs=data.in_chs, num_classes=data.num_classes, resolution=max(data.resolutions),
              width_mult=0.5)
        for name in REFERENCES
    ]  # fmt: skip
    setup = LatencySetup(this_machine(), threads=args.threads, backend=args.backend)
    print(f"{len(specs)} networks ({args.archs} sampled + {len(REFERENCES)} references x0.5) on digits; "
          f"latency with {setup.describe()}; torch {torch.__version__}")  # fmt: skip

    passes, seconds = [], []
    naive = [[naive_ms(s, args.threads) for s in specs] for _ in range(2)]
    for _ in range(2):
        start = time.perf_counter()
        passes.append([measure(s, setup) for s in specs])
        seconds.append((time.perf_counter() - start) / len(specs))
    a, b = ([m.ms for m in run] for run in passes)
    tau = kendalltau(a, b)[0]
    rel = statistics.median(abs(x - y) / min(x, y) for x, y in zip(a, b, strict=True))
    spread = statistics.median(m.spread for run in passes for m in run)
    repeated = sum(m.passes > MIN_PASSES for run in passes for m in run)
    print("(a) repeatability, two independent passes:")
    low, high = tau_interval(a, b)
    naive_low, naive_high = tau_interval(*naive)
    print(f"    baseline naive timing (10 runs, cold): tau {kendalltau(*naive)[0]:.3f} (90% CI {naive_low:.2f}.."
          f"{naive_high:.2f})")  # fmt: skip
    print(f"    figure   nas.latency.measure:          tau {tau:.3f} (90% CI {low:.2f}..{high:.2f}; goal >= 0.95); "
          "median relative spread "
          f"{spread:.3f}; median pass-to-pass difference {rel:.3f}; {repeated} of {2 * len(specs)} measurements "
          "needed more than the minimum passes")  # fmt: skip
    flops = [count_cost(s).flops for s in specs]
    print(f"(b) Kendall tau FLOPs vs latency: {kendalltau(flops, a)[0]:.3f} (1.0 would make latency redundant); "
          f"latency spans {min(a):.3g}..{max(a):.3g} ms")  # fmt: skip

    trial_seconds = []
    for spec in specs[: args.trials]:
        start = time.perf_counter()
        train_and_evaluate(spec, data, ProxyConfig(), seed=0)
        trial_seconds.append(time.perf_counter() - start)
    per_trial = statistics.fmean(trial_seconds)
    per_measure = statistics.fmean(seconds)
    print(f"(c) baseline: a default trial (10 epochs) {per_trial:.2f} s (mean of {len(trial_seconds)})")
    print(f"    figure  : a latency measurement {per_measure * 1e3:.0f} ms = {per_measure / per_trial:.1%} of a "
          "trial (goal < 5%)")  # fmt: skip


if __name__ == "__main__":
    main()
