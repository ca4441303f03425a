"""nas.legacy: studies made by earlier releases open, report, export and resume."""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path

import optuna
import pytest

from nas.export import main as export_main
from nas.front import feasible_front
from nas.proxy import ProxyConfig
from nas.report import write_report
from nas.settings import SETTINGS_ATTR, study_settings

from .helpers import complete, main, settled_rescoring, write_images

FIXTURE = Path(__file__).parent / "fixtures" / "study_before_fidelity.db"  # made by the code of d4d7e47


@pytest.mark.slow  # a multi-fidelity search resumed
def test_a_study_made_before_multi_fidelity_opens_reports_exports_and_resumes(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "nas.db")
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    assert SETTINGS_ATTR not in study.user_attrs and study_settings(study).rungs == (1,)
    front = feasible_front(study)
    assert front and all(t.seeds == 1 and t.epochs == 1 for t in front)
    out = write_report(study, tmp_path / "report.html")
    assert "95% interval" in out.read_text()
    assert export_main(["--storage", storage, "--pick", "knee", "--out-dir", str(tmp_path)]) == 0
    assert main(["--budget", "4", "--storage", storage, "--refine-budget", "1"]) == 0  # resumes, then re-scores
    assert len(complete(storage)) == 4
    assert settled_rescoring(study, refine=2, share=1.0)


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


def test_study_made_before_the_recipe_was_stored_keeps_lr_0_4(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'nas.db'}", directions=["maximize"] * 3)
    study.set_user_attr("epochs", 6)
    assert study_settings(study).proxy == replace(ProxyConfig(epochs=6), lr=0.4)


def test_folder_study_under_the_old_default_name_is_resumed(tmp_path: Path) -> None:
    write_images(tmp_path / "photos", {"cat": 6, "dog": 6})
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    folder = f"folder:{tmp_path / 'photos'}"
    old_name = f"{folder.replace('folder:', 'folder-').replace('/', '-')}-mixed"
    assert main(["--budget", "1", "--storage", storage, "--dataset", folder, "--epochs", "1", "--refine", "0",
                 "--study-name", old_name]) == 0  # fmt: skip
    assert main(["--budget", "2", "--storage", storage, "--dataset", folder, "--refine", "0"]) == 0
    assert optuna.get_all_study_names(storage) == [old_name] and len(complete(storage, old_name)) == 2
