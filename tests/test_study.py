"""nas.study: creating, resuming and refusing a study."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta
from optuna.trial import TrialState

from nas.proxy import ProxyConfig
from nas.settings import SETTINGS_ATTR, study_settings
from nas.storage import default_artifact_dir

from .helpers import complete, main


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


def test_study_with_other_objectives_is_refused(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    optuna.create_study(storage=storage, study_name="digits-mixed", direction="minimize")
    assert main(["--budget", "1", "--storage", storage]) == 2
    assert "has other objectives" in capsys.readouterr().err
