"""nas.objectives: which objectives a study has, their directions, and each cost of a trial."""

import optuna
import pytest
from optuna.trial import create_trial

from nas.objectives import cost_text, directions, metric, parse_objectives, study_objectives


def test_parse_objectives_needs_accuracy_and_a_known_cost_and_puts_accuracy_first() -> None:
    assert parse_objectives("latency, accuracy") == ("accuracy", "latency")
    for bad in ("flops,params", "accuracy", "accuracy,speed", "accuracy,flops,flops"):
        with pytest.raises(ValueError):
            parse_objectives(bad)


def test_directions_and_the_studys_own_objectives() -> None:
    assert directions(("accuracy", "flops", "latency")) == ["maximize", "minimize", "minimize"]
    study = optuna.create_study(directions=directions(("accuracy", "latency")))
    study.set_metric_names(["accuracy", "latency"])
    assert study_objectives(study) == ("accuracy", "latency")


def test_a_cost_is_read_from_the_values_or_else_the_attrs() -> None:
    trial = create_trial(values=[0.9, 2.5], user_attrs={"flops": 1000, "params": 50})
    objectives = ("accuracy", "latency")
    assert metric(trial, "latency", objectives) == 2.5 and metric(trial, "flops", objectives) == 1000
    assert cost_text("flops", 1234567) == "1.23M" and cost_text("latency", None) == "-"
