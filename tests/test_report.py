from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.final_store import finals
from nas.front import feasible_front
from nas.report import main as report_main
from nas.report import write_report
from nas.search import main as search_main
from nas.verdict import judge_all

from .browser import ARTIFACTS, browser_page
from .helpers import settled_rescoring


@pytest.fixture(scope="module")
def report(retrained, tmp_path_factory) -> tuple[Path, optuna.Study]:
    storage, _ = retrained
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(study, out)
    return out, study


@pytest.mark.slow  # the final training of a study
def test_report_holds_the_studys_data_and_the_final_training(report) -> None:
    out, study = report
    text = out.read_text().replace("\\u003c", "<").replace("\\u003e", ">")  # plotly escapes < > in its JSON
    assert text.count("<script") >= 4 and "plotly" in text.lower()
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        assert f"trial {trial.number}<br>accuracy {trial.values[0]:.4f}" in text  # hover text per trial
        assert json.dumps(trial.values[0]) in text  # the plotted value itself
    front = feasible_front(study)
    for t in front:  # Pareto table: the mean over seeds and its interval
        low, high = t.low, t.high
        assert f"<tr><td>{t.number}</td><td>{t.values[0]:.4f}</td><td>{low:.4f}..{high:.4f}</td>" in text
        assert f"<td>{t.epochs} x {t.seeds}</td>" in text  # every member says how many seeds it has
    assert settled_rescoring(study, refine=2, share=1.0)  # re-scored
    for section in ("hypervolume", "final_vs_flops", "final_vs_params", "proxy_vs_final"):
        assert f'<section id="{section}">' in text
    members, classic = finals(study)
    for verdict in judge_all(classic, members, ("flops", "params")):  # one row per classic, with its verdict
        assert f"<tr><td>{verdict.classic.name}</td>" in text and f"<td>{verdict.outcome}</td>" in text
    for m in members:  # the searched networks' test accuracy is plotted, unless they did not learn
        assert (json.dumps(m.mean) in text) is not m.failed


def test_the_report_trains_nothing_and_says_which_command_does(tmp_path: Path, capsys) -> None:
    fresh, name = f"sqlite:///{tmp_path / 'fresh.db'}", "digits-mixed"
    assert search_main(["--budget", "2", "--epochs", "1", "--refine", "0", "--storage", fresh]) == 0
    capsys.readouterr()
    before = optuna.load_study(study_name=name, storage=fresh).user_attrs
    assert report_main(["--storage", fresh, "--out", str(tmp_path / "r.html")]) == 0
    assert optuna.load_study(study_name=name, storage=fresh).user_attrs == before  # nothing written
    assert "No final training yet" in (tmp_path / "r.html").read_text()
    out = capsys.readouterr().out
    assert "python -m nas.retrain" in out and "A new study created in memory" not in out


@pytest.mark.slow  # the final training of a study, then a browser
@pytest.mark.browser
def test_report_renders_in_a_real_browser_without_console_errors(report) -> None:
    out, _ = report
    with browser_page() as page:
        page.goto(out.as_uri(), wait_until="load")
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() == 7  # 4 of the search, 3 of final training
        assert page.locator("#final_vs_flops g.errorbar path").count() >= 1  # seeds' intervals of what learned
        assert "test accuracy vs FLOPs" in page.inner_text("#final_vs_flops")
        # the front's 95% intervals are drawn as error bars (one per member, in both 2-D plots)
        assert page.locator("#accuracy_vs_flops g.errorbar").count() >= 1
        assert page.locator("#accuracy_vs_flops g.errorbar path").count() >= 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        assert page.console_errors == [], page.console_errors


def test_report_cli_errors_are_one_line(small_study, capsys) -> None:
    storage, _ = small_study
    for args, message in ((["--study-name", "nope"], "no study 'nope'"),):
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
