"""nas.settings: a study's settings, one attr, read back whole."""

from dataclasses import asdict

import optuna
import pytest

from nas.recipe import ProxyConfig
from nas.settings import SETTINGS_ATTR, StudySettings, study_settings


def test_settings_round_trip_through_the_study_with_tuples_kept() -> None:
    settings = StudySettings(dataset="digits", space="mixed", epochs=4, recipe={"lr": 0.1}, mean=(0.5,),
                             std=(0.2,), rungs=(2, 4), eta=2, resolutions=(8, 12))  # fmt: skip
    study = optuna.create_study()
    study.set_user_attr(SETTINGS_ATTR, asdict(settings))  # stored as JSON: tuples come back as lists
    assert StudySettings.of(study) == settings
    assert settings.proxy == ProxyConfig(epochs=4, lr=0.1)
    assert StudySettings("d", "s", 7, {}).rungs == (7,)  # no rungs: a single one at the proxy's epochs


def test_a_study_not_made_by_the_search_has_no_settings() -> None:
    study = optuna.create_study(study_name="foreign")
    assert StudySettings.of(study) is None
    with pytest.raises(ValueError, match="'foreign' was not made by nas.search"):
        study_settings(study)
