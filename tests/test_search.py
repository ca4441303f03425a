from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta
from optuna.trial import TrialState

from nas import ArchSpec, count_cost
from nas.proxy import ProxyConfig
from nas.settings import SETTINGS_ATTR, study_settings
from nas.storage import default_artifact_dir

from .helpers import complete, main, write_images

USER_ATTRS = {"arch", "digest", "train_seconds", "eval_seconds", "device", "seed", "versions"}


def test_search_then_rerun_with_larger_budget_tops_up(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--storage", storage, "--epochs", "1", "--seed", "3"]
    assert main(["--budget", "3", *args]) == 0
    first = complete(storage)
    assert len(first) == 3
    out = capsys.readouterr().out
    assert "Pareto front" in out and "optuna-dashboard" in out

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


def test_rerun_with_other_settings_is_refused(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "1", "--storage", storage, "--epochs", "1"]) == 0
    assert main(["--budget", "2", "--storage", storage, "--epochs", "2"]) == 2
    assert "was created with" in capsys.readouterr().err
    assert len(complete(storage)) == 1


def test_rerun_without_epochs_takes_the_studys_own(tmp_path: Path) -> None:
    """A study made under another --epochs (e.g. an older default) resumes with the same command."""
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "1", "--storage", storage, "--epochs", "1"]) == 0
    assert main(["--budget", "2", "--storage", storage]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    resumed = complete(storage)[1]
    meta = next(m for m in get_all_artifact_meta(resumed, storage=study._storage) if m.filename.endswith(".py"))
    with FileSystemArtifactStore(str(default_artifact_dir(storage))).open_reader(meta.artifact_id) as f:
        assert "proxy training of 1 epochs" in f.read().decode()
    assert study_settings(study).epochs == 1


def test_resumed_study_trains_with_its_stored_recipe(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "1", "--storage", storage, "--epochs", "1"]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    assert study_settings(study).proxy == ProxyConfig(epochs=1)
    # a recipe that cannot train: the resumed trial must use it (and fail), not today's defaults
    stored = study.user_attrs[SETTINGS_ATTR]
    study.set_user_attr(SETTINGS_ATTR, {**stored, "recipe": {**stored["recipe"], "lr": 1e12}})
    assert main(["--budget", "2", "--storage", storage, "--max-failures", "1"]) == 1
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1 and "TrainingDiverged" in failed[0].user_attrs["fail_reason"]


@pytest.mark.parametrize("sampler", ["nsga2", "random"])
def test_other_samplers_run_a_search(tmp_path: Path, sampler: str) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "3", "--epochs", "1", "--storage", storage, "--sampler", sampler]) == 0
    done = complete(storage)
    assert len(done) == 3 and len({t.user_attrs["digest"] for t in done}) >= 2
    assert study_settings(optuna.load_study(study_name="digits-mixed", storage=storage)).sampler == sampler


def test_study_made_before_settings_were_one_attr_resumes(tmp_path: Path) -> None:
    """A study as the previous release stored it: one attr per setting, recipe and normalisation apart."""
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    study = optuna.create_study(
        storage=storage, study_name="digits-mixed", directions=["maximize", "minimize", "minimize"]
    )
    study.set_metric_names(["accuracy", "flops", "params"])
    recipe = {k: v for k, v in asdict(ProxyConfig()).items() if k != "epochs"}
    for key, value in {"proxy_recipe": {**recipe, "lr": 0.3}, "dataset": "digits", "space": "mixed", "epochs": 1,
                       "sampler": "tpe", "seed": 0, "command": "python -m nas.search"}.items():  # fmt: skip
        study.set_user_attr(key, value)
    settings = study_settings(study)
    assert (settings.dataset, settings.epochs, settings.proxy.lr, settings.mean) == ("digits", 1, 0.3, None)
    assert main(["--budget", "1", "--storage", storage]) == 0  # resumes with the study's own epochs
    assert main(["--budget", "2", "--storage", storage, "--epochs", "2"]) == 2  # and refuses others
    resumed = study_settings(optuna.load_study(study_name="digits-mixed", storage=storage))
    assert resumed.proxy.lr == 0.3 and resumed.mean is not None  # normalisation recorded for exports
    assert SETTINGS_ATTR not in study.user_attrs and len(complete(storage)) == 1


def test_folder_with_an_unreadable_image_stops_before_anything_is_written(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "photos", {"cat": 4, "dog": 4})
    (tmp_path / "photos" / "dog" / "broken.png").write_bytes(b"\x89PNG truncated")
    storage = f"sqlite:///{tmp_path / 'out' / 'nas.db'}"
    assert main(["--budget", "1", "--storage", storage, "--dataset", f"folder:{tmp_path / 'photos'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.png is not a readable image" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_study_made_before_the_recipe_was_stored_keeps_lr_0_4(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'nas.db'}", directions=["maximize"] * 3)
    study.set_user_attr("epochs", 6)
    assert study_settings(study).proxy == replace(ProxyConfig(epochs=6), lr=0.4)


def test_study_with_other_objectives_is_refused(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    optuna.create_study(storage=storage, study_name="digits-mixed", direction="minimize")
    assert main(["--budget", "1", "--storage", storage]) == 2
    assert "has other objectives" in capsys.readouterr().err


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


def test_tpe_reading_trials_once_samples_what_optuna_tpe_samples() -> None:
    """nas's TPE reads the trials once per trial instead of once per parameter group; on the same
    history it must propose exactly what Optuna's TPESampler proposes."""
    from nas.sampler import make_sampler
    from search_spaces import SpaceContext, get_space

    ctx, sample = SpaceContext(1, 10, (8, 12, 16)), get_space("mixed")
    proposals = []
    for sampler in (
        make_sampler("tpe", seed=5),
        optuna.samplers.TPESampler(seed=5, multivariate=True, group=True, n_startup_trials=10, constant_liar=True),
    ):
        study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler)
        specs = []
        for i in range(30):
            trial = study.ask()
            spec = sample(trial, ctx)
            study.tell(trial, [(i * 7919 % 97) / 97, len(spec.stages), spec.stem.out_chs])
            specs.append(spec.to_string())
        proposals.append(specs)
    assert proposals[0] == proposals[1]
    assert len(set(proposals[0][10:])) > 1  # TPE (not the random start-up) proposed these


def test_a_trials_writes_land_together_when_the_block_ends_even_on_an_error(tmp_path: Path) -> None:
    from nas.storage import batched_writes, make_storage

    url = f"sqlite:///{tmp_path / 'nas.db'}"
    study = optuna.create_study(storage=make_storage(url), sampler=optuna.samplers.RandomSampler(seed=0))
    outside = optuna.load_study(study_name=study.study_name, storage=url)  # another connection's view
    trial = study.ask()
    with pytest.raises(RuntimeError, match="boom"), batched_writes(trial):
        x = trial.suggest_int("x", 0, 9)
        trial.set_user_attr("note", "held")
        assert trial.params == {"x": x} and trial.user_attrs == {"note": "held"}  # the trial sees its own
        assert outside.get_trials()[0].params == {} and outside.get_trials()[0].user_attrs == {}
        raise RuntimeError("boom")
    landed = optuna.load_study(study_name=study.study_name, storage=url).get_trials()[0]
    assert landed.params == {"x": x} and landed.user_attrs == {"note": "held"}
    trial.set_user_attr("after", 1)  # outside a block: written at once
    assert outside.get_trials()[0].user_attrs == {"note": "held", "after": 1}


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


def test_folder_study_under_the_old_default_name_is_resumed(tmp_path: Path) -> None:
    write_images(tmp_path / "photos", {"cat": 6, "dog": 6})
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    folder = f"folder:{tmp_path / 'photos'}"
    old_name = f"{folder.replace('folder:', 'folder-').replace('/', '-')}-mixed"
    assert main(["--budget", "1", "--storage", storage, "--dataset", folder, "--epochs", "1", "--refine", "0",
                 "--study-name", old_name]) == 0  # fmt: skip
    assert main(["--budget", "2", "--storage", storage, "--dataset", folder, "--refine", "0"]) == 0
    assert optuna.get_all_study_names(storage) == [old_name] and len(complete(storage, old_name)) == 2


def test_folder_too_big_for_the_memory_allowed_is_refused_before_any_trial(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "photos", {"cat": 4, "dog": 4}, size=64)
    storage = f"sqlite:///{tmp_path / 'out' / 'nas.db'}"
    args = ["--budget", "1", "--storage", storage, "--dataset", f"folder:{tmp_path / 'photos'}", "--data-memory", "50K"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "8 images at 3x64x64 need about" in err and "--data-memory" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
