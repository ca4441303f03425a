from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas import count_cost
from nas.front import feasible_front
from nas.references import REFERENCES, adapt
from nas.report import main as report_main
from nas.report import write_report

from .browser import ARTIFACTS, browser_page


@pytest.fixture(scope="module")
def report(small_study, tmp_path_factory) -> tuple[Path, optuna.Study, list[str]]:
    storage, name = small_study
    study = optuna.load_study(study_name=name, storage=storage)
    logged: list[str] = []
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(study, out, reference_names=["shufflenet_v2_x0_5", "squeezenet1_1"], width_mults=[0.25],
                 log=logged.append)  # fmt: skip
    return out, study, logged


def test_report_holds_the_studys_data_and_the_references(report) -> None:
    out, study, logged = report
    text = out.read_text().replace("\\u003c", "<").replace("\\u003e", ">")  # plotly escapes < > in its JSON
    assert text.count("<script") >= 4 and "plotly" in text.lower()
    assert len(logged) == 2  # both references scored by the proxy trainer
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        assert f"trial {trial.number}<br>accuracy {trial.values[0]:.4f}" in text  # hover text per trial
        assert json.dumps(trial.values[0]) in text  # the plotted value itself
    front = feasible_front(study)
    for t in front:  # Pareto table: the mean over seeds and its interval
        low, high = t.user_attrs["accuracy_low"], t.user_attrs["accuracy_high"]
        assert f"<tr><td>{t.number}</td><td>{t.values[0]:.4f}</td><td>{low:.4f}..{high:.4f}</td>" in text
    assert any(t.user_attrs["seeds"] == 3 for t in front)  # re-scored with the default 2 more seeds
    assert "shufflenet_v2_x0_5 x0.25" in text and "squeezenet1_1 x0.25" in text
    assert "hypervolume" in text


def test_reference_scores_are_cached_in_the_study(report, tmp_path: Path) -> None:
    _, study, _ = report
    logged: list[str] = []
    write_report(study, tmp_path / "again.html", reference_names=["shufflenet_v2_x0_5"], width_mults=[0.25],
                 log=logged.append)  # fmt: skip
    assert logged == []  # nothing retrained
    scores = list(study.user_attrs["reference_scores"].values())
    spec = adapt(REFERENCES["shufflenet_v2_x0_5"], in_chs=1, num_classes=10, resolution=16, width_mult=0.25)
    assert any(s["flops"] == count_cost(spec).flops and 0 <= s["accuracy"] <= 1 for s in scores)


def test_adapted_references_run_at_small_sizes() -> None:
    import torch

    from nas import build_model

    for name, spec in REFERENCES.items():
        small = adapt(spec, in_chs=1, num_classes=10, resolution=8, width_mult=0.5)
        assert build_model(small).eval()(torch.zeros(1, 1, 8, 8)).shape == (1, 10), name


@pytest.mark.browser
def test_report_renders_in_a_real_browser_without_console_errors(report) -> None:
    out, _, _ = report
    with browser_page() as page:
        page.goto(out.as_uri(), wait_until="load")
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() == 4
        # the front's 95% intervals are drawn as error bars (one per member, in both 2-D plots)
        assert page.locator("#accuracy_vs_flops g.errorbar").count() >= 1
        assert page.locator("#accuracy_vs_flops g.errorbar path").count() >= 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        assert page.console_errors == [], page.console_errors


def test_report_cli_errors_are_one_line(small_study, capsys) -> None:
    storage, _ = small_study
    for args, message in (
        (["--references", "alexnet"], "unknown reference ['alexnet']"),
        (["--study-name", "nope"], "no study 'nope'"),
    ):
        with pytest.raises(SystemExit) as exc:
            report_main(["--storage", storage, *args])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_report_on_a_study_not_made_by_the_search_is_one_line(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'foreign.db'}"
    optuna.create_study(storage=storage, study_name="foreign", directions=["maximize", "minimize", "minimize"])
    with pytest.raises(SystemExit) as exc:
        report_main(["--storage", storage])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "was not made by nas.search" in err and len(err.strip().splitlines()) == 1
