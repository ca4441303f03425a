"""Measured latency: the measurement itself, latency as an objective and a limit, and where it shows."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas import ArchSpec
from nas.data import load_dataset
from nas.export import main as export_main
from nas.final_store import finals
from nas.front import feasible_front, pick
from nas.latency import MIN_PASSES, measure
from nas.latency_setup import LatencySetup, this_machine
from nas.report import write_report
from nas.retrain import main as retrain_main
from nas.settings import SETTINGS_ATTR, study_settings
from search_spaces import SpaceContext, get_space

from .helpers import RETRAIN_TINY, SMALL, main

SETUP = LatencySetup(this_machine())
BIG = ArchSpec.from_string(
    "16px w1.0 in1 cls10 relu | stem:32 k3 s1 p1 bn1 | ir:96x3 s1 e6.0 k5 | ir:128x3 s1 e6.0 k5 | head:256 linear d0.0"
)


def test_latency_of_a_fixed_network_is_positive_and_repeatable() -> None:
    runs = [measure(SMALL, SETUP) for _ in range(3)]
    for r in runs:
        assert r.ms > 0 and r.spread >= 0 and r.passes >= MIN_PASSES
    # This shared 2-core machine has slow spells of up to 2x (bench/RESULTS.md, latency section):
    # repeated measurements of one network agree within that, and a much larger network is slower.
    assert max(r.ms for r in runs) / min(r.ms for r in runs) < 2
    assert measure(BIG, SETUP).ms > 2 * max(r.ms for r in runs)


def test_onnxruntime_backend_measures_too() -> None:
    pytest.importorskip("onnxruntime")
    setup = LatencySetup(this_machine(), backend="onnxruntime")
    small = measure(SMALL, setup)
    assert small.passes >= MIN_PASSES and measure(BIG, setup).ms > 2 * small.ms  # it times the network it runs


def _pool(n: int = 40) -> list[tuple[dict, ArchSpec]]:
    """Parameters and networks of the mixed space on digits, drawn by the random sampler."""
    data = load_dataset("digits")
    ctx = SpaceContext(data.in_chs, data.num_classes, data.resolutions)
    study = optuna.create_study(directions=["maximize"] * 2, sampler=optuna.samplers.RandomSampler(seed=3))
    pool = []
    for _ in range(n):
        trial = study.ask()
        spec = get_space("mixed")(trial, ctx)
        pool.append((trial.params, spec))
    return pool


@pytest.fixture(scope="module")
def latency_study(tmp_path_factory) -> tuple[str, float, dict, dict]:
    """A study of accuracy vs measured latency with a latency limit; a slow network and a network
    twice over were queued into it. Returns (storage, limit in ms, slow params, twin params)."""
    timed = sorted((measure(spec, SETUP).ms, i, params) for i, (params, spec) in enumerate(_pool()))
    (fast_ms, _, twin), (slow_ms, _, slow) = timed[0], timed[-1]
    limit = round((fast_ms * slow_ms) ** 0.5, 4)  # far from both (random networks span ~10x here)
    storage = f"sqlite:///{tmp_path_factory.mktemp('latency') / 'nas.db'}"
    args = ["--storage", storage, "--epochs", "1", "--refine", "0", "--objectives", "accuracy,latency",
            "--max-latency", f"{limit}ms"]  # fmt: skip
    assert main(["--budget", "1", *args]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    for params in (slow, twin, twin):
        study.enqueue_trial(params)
    assert main(["--budget", "4", *args]) == 0
    return storage, limit, slow, twin


@pytest.mark.slow  # a search with latency measured per network
def test_latency_limit_keeps_slow_networks_untrained(latency_study) -> None:
    storage, limit, slow, _ = latency_study
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    assert study.metric_names == ["accuracy", "latency"]
    settings = study_settings(study)
    assert settings.latency == {"machine": this_machine(), "threads": 1, "backend": "torch"}
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    slow_trial = next(t for t in trials if t.params == slow)
    assert slow_trial.user_attrs["latency_ms"] > limit and slow_trial.user_attrs.get("infeasible")
    assert "train_seconds" not in slow_trial.user_attrs and slow_trial.constraints["latency_over_limit"] > 0
    for t in trials:
        assert t.values[1] == t.user_attrs["latency_ms"] > 0  # the objective is the measured figure
        assert t.user_attrs["flops"] > 0 and t.user_attrs["params"] > 0  # the other costs still recorded
        if not t.user_attrs.get("infeasible"):
            assert t.values[1] <= limit and "train_seconds" in t.user_attrs or "duplicate_of" in t.user_attrs


@pytest.mark.slow  # a search with latency measured per network
def test_latency_is_measured_once_per_network(latency_study) -> None:
    storage, _, _, twin = latency_study
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    runs = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.params == twin]
    assert len(runs) == 2 and "duplicate_of" in runs[1].user_attrs
    assert runs[0].user_attrs["latency_ms"] == runs[1].user_attrs["latency_ms"]  # reused, not re-measured


@pytest.mark.slow  # a search with latency measured per network
def test_a_latency_study_resumed_on_another_machine_is_refused(latency_study, tmp_path: Path, capsys) -> None:
    storage, limit, _, _ = latency_study
    source = Path(storage.removeprefix("sqlite:///"))
    for part in source.parent.glob(source.name + "*"):  # the database and its WAL files
        (tmp_path / part.name.replace(source.stem, "copy")).write_bytes(part.read_bytes())
    other = f"sqlite:///{tmp_path / 'copy.db'}"
    study = optuna.load_study(study_name="digits-mixed", storage=other)
    stored = dict(study.user_attrs[SETTINGS_ATTR])
    stored["latency"] = {**stored["latency"], "machine": "Some Other CPU (8 cores, arm64)"}
    study.set_user_attr(SETTINGS_ATTR, stored)
    before = len(study.get_trials())
    assert main(["--budget", "5", "--storage", other, "--epochs", "1", "--refine", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "measured latency on Some Other CPU" in err and "--mix-latencies" in err and len(err.splitlines()) == 1
    assert len(study.get_trials()) == before  # nothing ran
    assert main(["--budget", "3", "--storage", other, "--latency-threads", "2"]) == 2  # threads are the study's
    assert "'threads': 2" in capsys.readouterr().err
    assert main(["--budget", "5", "--storage", other, "--epochs", "1", "--refine", "0", "--mix-latencies"]) == 0


@pytest.mark.slow  # a search with latency measured per network
def test_export_picks_under_a_latency_limit_and_says_the_latency(latency_study, tmp_path: Path, capsys) -> None:
    storage, limit, _, _ = latency_study
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    fastest = min(t.values[1] for t in feasible_front(study))
    assert pick(study, "max-accuracy", max_latency=fastest).values[1] == fastest
    code = export_main(["--storage", storage, "--pick", "max-accuracy", "--max-latency", f"{fastest * 1000 + 1:.0f}us",
                        "--out-dir", str(tmp_path), "--name", "fast"])  # fmt: skip
    assert code == 0
    assert "ms latency" in capsys.readouterr().out
    source = (tmp_path / "fast.py").read_text()
    assert "latency:   " in source and "torch, 1 thread" in source
    with pytest.raises(ValueError, match="meets latency <="):
        pick(study, "max-accuracy", max_latency=fastest / 100)


def test_latency_limit_below_every_network_is_refused(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "1", "--storage", storage, "--max-latency", "1us"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--max-latency 0.001 ms is below the fastest" in err and len(err.splitlines()) == 1
    assert main(["--budget", "1", "--storage", storage, "--max-latency", "fast"]) == 2
    assert "expected a positive time such as 5ms" in capsys.readouterr().err
    assert main(["--budget", "1", "--storage", storage, "--objectives", "flops,latency"]) == 2
    assert "must hold accuracy" in capsys.readouterr().err
    assert not (tmp_path / "nas.db").exists()


def test_picking_by_latency_in_a_study_that_never_measured_it_is_refused(small_study) -> None:
    storage, name = small_study
    with pytest.raises(ValueError, match="never measured latency"):
        pick(optuna.load_study(study_name=name, storage=storage), "knee", max_latency=5.0)


@pytest.fixture(scope="module")
def latency_report(latency_study, tmp_path_factory) -> Path:
    storage, _, _, _ = latency_study
    assert retrain_main(["--storage", storage, "--top", "1", "--references", "mobilenet_v2", "--reference-widths",
                         "0.25", *RETRAIN_TINY]) == 0  # fmt: skip
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(study, out)
    return out


@pytest.mark.slow  # a search with latency measured per network
def test_report_plots_accuracy_against_latency_with_the_classics(latency_study, latency_report) -> None:
    storage, _, _, _ = latency_study
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    text = latency_report.read_text()
    assert 'id="accuracy_vs_latency"' in text and 'id="accuracy_vs_flops"' in text
    assert 'id="final_vs_latency"' in text and "latency (ms, batch 1)" in text
    assert "Latency measured with torch, 1 thread" in text and "(flops, params, latency)" in text  # judged on it
    members, (classic,) = finals(study)
    assert classic.costs["latency"] > 0  # timed like the trials
    assert (
        members[0].costs["latency"] == next(t for t in feasible_front(study) if t.number == members[0].trial).values[1]
    )
    if not classic.failed:  # a classic that did not learn in 1 epoch is listed, not plotted
        assert json.dumps(classic.costs["latency"]) in text
    for t in feasible_front(study):
        assert f"{t.values[1]:.3g} ms" in text  # the front table's latency column
