"""nas.front: the front by best evidence, its table, the pick rules."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import create_trial

from nas.export import main as export_main
from nas.front import feasible_front, knee, pick, study_evidence
from nas.settings import SETTINGS_ATTR, StudySettings

from .test_pareto import brute_force_front


def test_pick_and_export_use_the_refined_accuracy(tmp_path: Path) -> None:
    """Network a's first run beat b's, but its re-scoring runs did not: max-accuracy picks b."""
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize", "minimize"])
    settings = StudySettings(dataset="digits", space="mixed", epochs=4, recipe={}, mean=(0.5,), std=(0.2,),
                             rungs=(4,), eta=3, val_size=360)  # fmt: skip
    study.set_user_attr(SETTINGS_ATTR, asdict(settings))
    arch = "8px w0.5 in1 cls10 relu | stem:8 k3 s1 p1 bn1 | dwsep:{c}x1 s2 k3 | dwsep:16x1 s1 k3 | head:0 linear d0.0"
    for number, (net, acc, replicate) in enumerate([("a", 0.96, 0), ("b", 0.95, 0), ("a", 0.90, 1), ("b", 0.95, 1)]):
        attrs = {"digest": net, "arch": arch.format(c=16 if net == "a" else 24), "epochs": 4, "seed": number}
        if replicate:
            attrs |= {"rung": 0, "replicate": replicate, "promoted_from": 0 if net == "a" else 1}
        study.add_trial(create_trial(values=[acc, 1000, 100], user_attrs=attrs, params={"x": 1},
                                     distributions={"x": IntDistribution(0, 2)}))  # fmt: skip
    chosen = pick(study, "max-accuracy")
    assert chosen.user_attrs["digest"] == "b" and chosen.values[0] == pytest.approx(0.95)
    assert export_main(["--storage", storage, "--pick", "max-accuracy", "--out-dir", str(tmp_path)]) == 0
    source = (tmp_path / f"trial{chosen.number}.py").read_text()
    assert (
        "accuracy:  0.9500 (validation; proxy training of 4 epochs on digits, mean of 2 seeds, 95% interval" in source
    )
    assert export_main(["--storage", storage, "--trial", "0", "--out-dir", str(tmp_path)]) == 0  # a by number
    assert "accuracy:  0.9300" in (tmp_path / "trial0.py").read_text()
    assert "mean of 2 seeds" in (tmp_path / "trial0.py").read_text()


def test_pick_rules_on_a_real_study(small_study) -> None:
    storage, name = small_study
    study = optuna.load_study(study_name=name, storage=storage)
    front = feasible_front(study)
    networks = study_evidence(study)  # one per network: mean accuracy over its seeds
    assert len({t.user_attrs["digest"] for t in networks}) == len(networks)
    assert front and {t.number for t in front} == {t.number for t in brute_force_front(networks)}

    best = pick(study, "max-accuracy")
    assert best.values[0] == max(t.values[0] for t in networks)
    cheapest = pick(study, "min-flops")
    assert cheapest.values[1] == min(t.values[1] for t in front)

    cap = sorted(t.values[1] for t in front)[len(front) // 2]
    capped = pick(study, "max-accuracy", max_flops=cap)
    assert capped.values[1] <= cap
    assert capped.values[0] == max(t.values[0] for t in front if t.values[1] <= cap)

    floor = sorted(t.values[0] for t in front)[len(front) // 2]
    cheap_good = pick(study, "min-flops", min_accuracy=floor)
    assert cheap_good.values[0] >= floor
    assert cheap_good.values[1] == min(t.values[1] for t in front if t.values[0] >= floor)

    assert pick(study, "knee") in front
    with pytest.raises(ValueError, match="no feasible Pareto trial .* meets flops <= 1"):
        pick(study, "max-accuracy", max_flops=1)
    with pytest.raises(ValueError, match="accuracy >= 1.5"):
        pick(study, "min-flops", min_accuracy=1.5)


def test_knee_is_the_bend_of_the_front() -> None:
    class T:  # the three fields knee() reads
        def __init__(self, number: int, acc: float, flops: float) -> None:
            self.number, self.values = number, [acc, flops, 1]

    points = [T(0, 0.50, 1e3), T(1, 0.90, 1e4), T(2, 0.92, 1e5), T(3, 0.93, 1e6), T(4, 0.40, 1e5)]
    assert knee(points).number == 1
