"""The seed spread a single run is assumed to have before anything is re-scored, against the
spread measured over seeds.

    python bench/seed_spread.py [--datasets digits shapes] [--archs 12] [--seeds 3] [--sample-seed 7]

``nas.evidence`` gives a one-seed network with no pooled seed spread yet an interval as if its
seed-to-seed standard deviation equalled the validation split's binomial error sqrt(p(1-p)/n).
Per dataset this trains ``--archs`` networks of the default space (the random sampler's draw
with ``--sample-seed``, not the networks any other benchmark used) with ``--seeds`` seeds each,
the default proxy recipe, and prints the pooled seed standard deviation (the figure) beside the
mean binomial error of the same networks (the assumption), and their ratio with a 95% interval
(chi-square on the pooled variance's degrees of freedom).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

from scipy.stats import chi2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_fidelity import draw_shapes  # noqa: E402
from workload import sample_specs  # noqa: E402

from nas.data import load_dataset  # noqa: E402
from nas.proxy import ProxyConfig, train_and_evaluate  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["digits", "shapes"])
    p.add_argument("--archs", type=int, default=12)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--sample-seed", type=int, default=7)
    p.add_argument("--epochs", type=int, default=ProxyConfig.epochs)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            if name == "shapes":
                draw_shapes(Path(tmp) / "shapes", per_class=80)
                name = f"folder:{Path(tmp) / 'shapes'}"
            data = load_dataset(name)
            n_val = len(data.val_y)
            ss = dof = 0.0
            binomial = []
            for spec in sample_specs(data, args.archs, args.sample_seed):
                accs = [train_and_evaluate(spec, data, ProxyConfig(epochs=args.epochs), seed=s).accuracy
                        for s in range(args.seeds)]  # fmt: skip
                ss += statistics.variance(accs) * (len(accs) - 1)
                dof += len(accs) - 1
                mean = statistics.fmean(accs)
                binomial.append(math.sqrt(mean * (1 - mean) / n_val))
            pooled = math.sqrt(ss / dof)
            assumed = statistics.fmean(binomial)
            low, high = (math.sqrt(dof * pooled**2 / chi2.ppf(q, dof)) for q in (0.975, 0.025))
            label = "shapes" if name.startswith("folder:") else name
            print(f"{label}: {args.archs} networks x {args.seeds} seeds, {args.epochs} epochs, {n_val} validation "
                  "images")  # fmt: skip
            print(f"  baseline (assumed): binomial sd sqrt(p(1-p)/n), mean over the networks: {assumed:.4f}")
            print(f"  figure  (measured): pooled seed sd {pooled:.4f} (95% interval {low:.4f}..{high:.4f}); "
                  f"ratio {pooled / assumed:.2f} ({low / assumed:.2f}..{high / assumed:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
