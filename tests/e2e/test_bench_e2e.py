"""Smoke tests: every benchmark still runs and prints its figure next to its baseline (slow: CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("trainer_throughput.py", ["--epochs", "1", "--archs", "2", "--loader-workers", "0"],
         ["baseline", "figure", "ratio", "bound    the same steps on one resident batch"]),
        ("memory_format.py", ["--archs", "1", "--rgb-images", "300"],
         ["baseline NCHW batches", "figure   channels_last batches", "ratio"]),
        ("workers_throughput.py", ["--budget", "2", "--epochs", "1"], ["baseline --workers 1", "ratio"]),
        ("proxy_fidelity.py", ["--archs", "4", "--long-factor", "1", "--long-seeds", "2", "--variants", "epochs=1"],
         ["baseline FLOPs only", "Kendall tau", "proxy epochs=1", "ceiling: one long run vs another", "90% CI"]),
        ("sampler_efficiency.py", ["--budget", "3", "--epochs", "1", "--seeds", "0", "--samplers", "tpe", "random"],
         ["baseline: random search", "figure  : tpe"]),
        ("overhead.py", ["--budget", "3"], ["figure  : overhead share", "flatness"]),
        ("fidelity_front_quality.py", ["--seeds", "0", "--budget", "3", "--epochs", "2", "--min-epochs", "1",
                                       "--eta", "2", "--refine", "1", "--long-epochs", "1", "--per-class", "12",
                                       "--cache", ""],
         ["long-run HV", "hv_long", "noise ceiling"]),
        ("front_quality.py", ["--seeds", "0", "1", "--budget", "4", "--epochs", "1", "--long-epochs", "1",
                              "--per-class", "12", "--cache", ""],
         ["re-scoring runs", "racing 0.25 - band", "hv_long", "noise ceiling"]),
        ("default_search_time.py", ["--budget", "2", "--repeats", "1"], ["baseline (--refine 0)", "ratio"]),
        ("seed_spread.py", ["--archs", "2", "--seeds", "2", "--epochs", "1"],
         ["baseline (assumed)", "figure  (measured)"]),
        ("scale.py", ["--trials", "30", "--window", "10", "--setups", "sqlite:1", "--train-seconds", "0"],
         ["single fidelity", "multi fidelity", "baseline: per-trial cost", "trained twice: 0"]),
        ("sampler_cost.py", ["--trials", "30", "--samples", "3"], ["nas TPE", "baseline Optuna TPE", "ratio"]),
        ("promotion_cost.py", ["--trials", "200", "--decisions", "5"],
         ["kept index", "baseline fresh index", "same decisions"]),
        ("latency.py", ["--archs", "3", "--trials", "1"], ["baseline naive timing", "figure   nas.latency.measure",
                                                           "Kendall tau FLOPs vs latency", "of a trial"]),
        ("front_vs_classics.py", ["--budget", "3", "--seeds", "1", "--epochs", "1", "--images", "200", "--smoke",
                                  "--datasets", "shapes", "--dir", "{tmp}"],
         ["front beats", "hypervolume front - classics", "proxy-vs-final tau", "lr chosen"]),
        ("gpu_search.py", ["--device", "cpu", "--seconds", "2", "--per-gpu", "1", "--cifar-images", "600",
                           "--cpu-networks", "1"], ["baseline CPU path", "figure   1 per GPU", "goals"]),
    ],
)  # fmt: skip
def test_benchmark_runs(script: str, args: list[str], expected: list[str], tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for text in expected:
        assert text in proc.stdout, proc.stdout
