"""nas.report_figures: every run drawn, the front by best evidence with its intervals, the volume."""

import optuna
import pytest

from nas.front import feasible_front
from nas.hypervolume import hypervolume
from nas.report_figures import figures


def test_figures_draw_the_runs_and_the_evidence_front(small_study) -> None:
    storage, name = small_study
    study = optuna.load_study(study_name=name, storage=storage)
    front = feasible_front(study)
    figs = figures(study, references=[], where=" --storage X")
    assert set(figs) == {"accuracy_vs_flops", "accuracy_vs_params", "pareto_3d", "hypervolume"}
    traces = {t.name: t for t in figs["accuracy_vs_flops"].data}
    drawn = traces["Pareto front (mean of seeds, 95% interval)"]
    by_flops = sorted(front, key=lambda e: e.values[1])
    assert list(drawn.y) == pytest.approx([e.accuracy for e in by_flops])
    assert list(drawn.error_y.array) == pytest.approx([e.high - e.accuracy for e in by_flops])
    assert all("python -m nas.export --storage X --trial" in h for h in drawn.hovertext)
    runs = [t for name_, t in traces.items() if name_.startswith("runs at")]
    assert sum(len(t.x) for t in runs) >= len(front)
    line = figs["hypervolume"].layout.shapes[0]  # the re-scored front's volume, as a line over the history
    assert line.y0 == pytest.approx(hypervolume(front))
    assert max(figs["hypervolume"].data[0].y) <= 1.0


def test_references_that_did_not_learn_are_not_plotted(small_study) -> None:
    storage, name = small_study
    study = optuna.load_study(study_name=name, storage=storage)
    arch = "8px w1.0 in1 cls10 relu | stem:16 k3 s1 p1 bn1 | dwsep:24x1 s2 | head:0 linear d0.0"
    learned = {"name": "ok", "accuracy": 0.9, "flops": 1e5, "params": 1e4, "arch": arch}
    chance = learned | {"name": "chance", "accuracy": 0.1}
    traces = {t.name: t for t in figures(study, [learned, chance])["accuracy_vs_flops"].data}
    assert list(traces["reference networks"].text) == ["ok"]
