"""Slower end-to-end runs with default settings (CI runs them with ``-m slow``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.final_store import finals
from nas.front import feasible_front
from nas.settings import study_settings
from nas.trials import counts_toward_budget
from search_spaces import SpaceContext

from ..helpers import complete, main, settled_rescoring

pytestmark = pytest.mark.slow


def test_default_search_finds_accurate_small_networks(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    cmd = [sys.executable, "-m", "nas.search", "--budget", "12", "--storage", storage]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len([t for t in trials if counts_toward_budget(t)]) == 12  # new networks; re-scoring runs on top
    best = max(t.values[0] for t in trials)
    assert best > 0.9, f"best validation accuracy {best}"
    front = feasible_front(study)
    settled_rescoring(study, refine=2)  # the default: within its budget, nothing left undecided it could pay for
    assert all(1 <= t.seeds <= 3 for t in front)
    for t in front:
        assert t.user_attrs["arch"] in proc.stdout  # the printed front lists every Pareto network


def test_search_then_final_training_then_report_and_export(tmp_path: Path) -> None:
    """The path the README shows: search, train the front and the classics for real, read who wins,
    export the pick by its final evidence."""
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    run = [sys.executable, "-m"]
    assert subprocess.run([*run, "nas.search", "--budget", "16", "--epochs", "4", "--refine", "1", "--storage",
                           storage], capture_output=True, timeout=900).returncode == 0  # fmt: skip
    retrain = ["nas.retrain", "--storage", storage, "--top", "3", "--rule", "knee", "--epochs", "8", "--seeds", "2",
               "--reference-widths", "0.5"]  # fmt: skip
    proc = subprocess.run([*run, *retrain], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    members, classic = finals(study)
    assert len(members) == 3 and len(classic) == 6
    assert max(m.mean for m in members) > 0.85  # 8 epochs on train + validation learn digits
    learned = [c for c in classic if not c.failed]
    assert len(learned) >= 4, [(c.name, c.mean, c.final_loss) for c in classic]
    assert "Classic networks against the front" in proc.stdout and "Proxy vs final: Kendall tau" in proc.stdout
    for c in classic:
        assert c.name in proc.stdout
    assert subprocess.run([*run, "nas.report", "--storage", storage, "--out", str(tmp_path / "r.html")],
                          capture_output=True, timeout=600).returncode == 0  # fmt: skip
    page = (tmp_path / "r.html").read_text()
    assert 'id="final_vs_flops"' in page and 'id="proxy_vs_final"' in page
    export = subprocess.run([*run, "nas.export", "--storage", storage, "--pick", "max-accuracy", "--out-dir",
                             str(tmp_path), "--name", "best"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert export.returncode == 0 and "picked max-accuracy by final test accuracy" in export.stdout
    best = max(members, key=lambda m: m.mean)
    assert f"\ntrial {best.trial}: " in export.stdout
    assert f"test:      {best.mean:.4f}" in (tmp_path / "best.py").read_text()


def test_latency_search_end_to_end(tmp_path: Path) -> None:
    """Accuracy vs measured latency under a latency limit, at the default epochs: search, report, export."""
    from nas.data import load_dataset
    from nas.latency import measure
    from nas.latency_setup import LatencySetup, this_machine
    from search_spaces import random_specs

    data = load_dataset("digits")
    timed = sorted(measure(s, LatencySetup(this_machine())).ms for s in random_specs("mixed", SpaceContext(
        data.in_chs, data.num_classes, data.resolutions), 12, seed=5))  # fmt: skip
    limit = timed[len(timed) // 2]  # about half of the space is too slow
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    search = [sys.executable, "-m", "nas.search", "--budget", "8", "--storage", storage, "--refine", "1",
              "--objectives", "accuracy,latency", "--max-latency", f"{limit:.4f}ms"]  # fmt: skip
    proc = subprocess.run(search, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert (
        "latency measured with torch, 1 thread" in proc.stdout
        and "Pareto front (accuracy up, latency down)" in proc.stdout
    )
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    front = feasible_front(study)
    assert front and all(t.values[1] <= limit for t in front) and max(t.values[0] for t in front) > 0.5
    retrain = [sys.executable, "-m", "nas.retrain", "--storage", storage, "--top", "2", "--references",
               "mobilenet_v1", "--reference-widths", "0.5", "--epochs", "2", "--seeds", "2"]  # fmt: skip
    assert subprocess.run(retrain, capture_output=True, timeout=900).returncode == 0
    report = [sys.executable, "-m", "nas.report", "--storage", storage, "--out", str(tmp_path / "r.html")]
    assert subprocess.run(report, capture_output=True, timeout=900).returncode == 0
    assert 'id="accuracy_vs_latency"' in (tmp_path / "r.html").read_text()
    assert 'id="final_vs_latency"' in (tmp_path / "r.html").read_text()
    export = [sys.executable, "-m", "nas.export", "--storage", storage, "--pick", "knee", "--out-dir", str(tmp_path),
              "--name", "knee"]  # fmt: skip
    assert subprocess.run(export, capture_output=True, timeout=300).returncode == 0
    assert "latency:   " in (tmp_path / "knee.py").read_text()
    assert subprocess.run([sys.executable, str(tmp_path / "knee.py")], capture_output=True).returncode == 0


def test_cli_runs_as_a_module(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    proc = subprocess.run(
        [sys.executable, "-m", "nas.search", "--budget", "2", "--epochs", "1", "--storage", storage, "--space",
         "shufflenet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Pareto front" in proc.stdout
    assert len(complete(storage, "digits-shufflenet")) == 2


@pytest.mark.parametrize("sampler", ["nsga2", "random"])
def test_other_samplers_run_a_search(tmp_path: Path, sampler: str) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "3", "--epochs", "1", "--storage", storage, "--sampler", sampler]) == 0
    done = complete(storage)
    assert len(done) == 3 and len({t.user_attrs["digest"] for t in done}) >= 2
    assert study_settings(optuna.load_study(study_name="digits-mixed", storage=storage)).sampler == sampler
