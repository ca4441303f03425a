from __future__ import annotations

import signal
from pathlib import Path

import optuna
import pytest
import torch

from nas import ArchSpec, count_cost
from nas.search import main as search_main
from nas.settings import study_settings

from .helpers import complete, main, write_images

USER_ATTRS = {"arch", "digest", "train_seconds", "eval_seconds", "device", "seed", "versions"}


@pytest.mark.slow  # two searches with re-scoring
def test_search_then_rerun_with_larger_budget_tops_up(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = [
        "--storage",
        storage,
        "--epochs",
        "1",
        "--seed",
        "3",
        "--refine-budget",
        "1",
    ]  # re-scores, whatever the timings
    assert main(["--budget", "3", *args]) == 0
    first = complete(storage)
    assert len(first) == 3
    out, err = capsys.readouterr()
    assert "Pareto front" in out and "optuna-dashboard" in out
    # once the budget is met, the re-scoring runs have a progress line of their own, saying why
    settled = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("promotions and re-scoring")]
    assert settled and "of a network whose place on the front is undecided" in settled[-1] and "100%" in settled[-1]
    assert "re-scoring runs (" in out and "of the search's training time; --refine-budget 1)" in out

    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    assert study.metric_names == ["accuracy", "flops", "params"]
    settings = study_settings(study)
    assert (settings.dataset, settings.space, settings.epochs) == ("digits", "mixed", 1)
    for trial in first:
        assert set(trial.user_attrs) >= USER_ATTRS
        spec = ArchSpec.from_string(trial.user_attrs["arch"])
        assert spec.digest() == trial.user_attrs["digest"]
        cost = count_cost(spec)
        assert trial.values[1:] == [cost.flops, cost.params]
        assert 0.0 <= trial.values[0] <= 1.0
        assert {"torch", "optuna", "nas"} <= set(trial.user_attrs["versions"])

    assert main(["--budget", "5", *args]) == 0
    after = complete(storage)
    assert len(after) == 5
    # the resumed sampler draws new architectures, not the first run's again (as duplicates)
    assert len({t.user_attrs["digest"] for t in after}) == 5
    # the first three are untouched: same numbers, same values, same finish times
    assert [(t.number, t.values, t.datetime_complete) for t in after[:3]] == [
        (t.number, t.values, t.datetime_complete) for t in first
    ]
    assert "3 finished trials" in capsys.readouterr().out

    assert main(["--budget", "4", *args]) == 0  # budget already met: nothing runs
    assert len(complete(storage)) == 5


def test_folder_with_an_unreadable_image_stops_before_anything_is_written(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "photos", {"cat": 4, "dog": 4})
    (tmp_path / "photos" / "dog" / "broken.png").write_bytes(b"\x89PNG truncated")
    storage = f"sqlite:///{tmp_path / 'out' / 'nas.db'}"
    assert main(["--budget", "1", "--storage", storage, "--dataset", f"folder:{tmp_path / 'photos'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.png is not a readable image" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_foreign_file_is_refused_and_left_untouched(tmp_path: Path, capsys) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my thesis, not a database")
    assert main(["--budget", "1", "--storage", f"sqlite:///{path}"]) == 2
    assert "is not a SQLite database" in capsys.readouterr().err
    assert path.read_text() == "my thesis, not a database"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-epochs", "5", "--epochs", "3"], "is above --epochs 3"),
        (["--eta", "1"], "argument --eta: must be at least 2"),
        (["--refine", "-1"], "argument --refine: must be at least 0"),
        (["--budget", "0"], "must be at least 1"),
        (["--budget", "-3"], "must be at least 1"),
        (["--budget", "lots"], "expected a whole number"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--space", "huge"], "invalid choice: 'huge'"),
        (["--sampler", "grid"], "invalid choice: 'grid'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--storage", "not a url"], "malformed storage URL"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path: Path, capsys, args: list, message: str) -> None:
    assert main(["--storage", f"sqlite:///{tmp_path / 'x.db'}", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.db").exists()  # nothing written


def test_folder_search_at_the_images_size_named_after_the_folder(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "my" / "scans", {"zero": 8, "one": 8}, size=48, mode="L")
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    folder = f"folder:{tmp_path / 'my' / 'scans'}/"
    args = ["--storage", storage, "--dataset", folder, "--epochs", "1", "--refine", "0", "--no-hflip"]
    assert main(["--budget", "2", *args]) == 0
    out = capsys.readouterr().out
    assert "study 'scans-mixed'" in out  # the folder's own name
    assert "16 images, 2 classes, 1 channel at 48 px; resolutions 24,36,48; horizontal flips off" in out
    study = optuna.load_study(study_name="scans-mixed", storage=storage)
    settings = study_settings(study)
    assert (settings.resolutions, settings.hflip, settings.channels) == ((24, 36, 48), False, 1)
    assert {ArchSpec.from_string(t.user_attrs["arch"]).in_chs for t in complete(storage, "scans-mixed")} == {1}
    assert main(["--budget", "3", "--storage", storage, "--dataset", folder, "--hflip"]) == 2  # not the study's
    assert "'hflip': True" in capsys.readouterr().err
    assert main(["--budget", "3", "--storage", storage, "--dataset", folder, "--resolutions", "48"]) == 2
    assert main(["--budget", "3", "--storage", storage, "--dataset", folder, "--refine", "0"]) == 0  # its own


def test_folder_too_big_for_the_memory_allowed_is_refused_before_any_trial(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "photos", {"cat": 4, "dog": 4}, size=64)
    storage = f"sqlite:///{tmp_path / 'out' / 'nas.db'}"
    args = ["--budget", "1", "--storage", storage, "--dataset", f"folder:{tmp_path / 'photos'}", "--data-memory", "50K"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "8 images at 3x64x64 need about" in err and "--data-memory" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_search_main_restores_signal_handlers(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    search_main(["--budget", "1", "--epochs", "1", "--storage", f"sqlite:///{tmp_path / 'nas.db'}"])
    assert signal.getsignal(signal.SIGTERM) == before


def write_folder(root: Path, classes: dict[str, int]) -> str:
    root.mkdir(parents=True, exist_ok=True)
    write_images(root, classes)
    return f"folder:{root}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "cuda"], "CUDA is not available"),
        (["--dataset", "folder:/no/such/dir"], "does not exist"),
        (["--dataset", "EMPTY"], "has no class folders with images"),
        (["--dataset", "ONECLASS"], "needs at least 2 class folders"),
        (["--max-flops", "10"], "below the cheapest architecture"),
        (["--max-params", "200", "--space", "squeezenet"], "below the cheapest architecture"),
        (["--max-flops", "many"], "expected a size"),
        (["--storage", "postgresql://nas:nas@127.0.0.1:9/none"], "cannot open storage"),
        (["--storage", "mysql://"], "cannot open storage"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, capsys, args, message) -> None:
    if torch.cuda.is_available() and "cuda" in args:
        pytest.skip("this machine has CUDA")
    args = [a.replace("EMPTY", f"folder:{tmp_path / 'empty'}") for a in args]
    (tmp_path / "empty").mkdir()
    args = [a.replace("ONECLASS", write_folder(tmp_path / "one", {"cats": 4})) for a in args]
    db = tmp_path / "nas.db"
    storage_args = [] if any(a.startswith("--storage") for a in args) else ["--storage", f"sqlite:///{db}"]
    assert main(["--budget", "2", *storage_args, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not db.exists()
