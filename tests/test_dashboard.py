from __future__ import annotations

import json
import urllib.request

import optuna
import pytest
from optuna.artifacts import get_all_artifact_meta

from nas.report import write_report
from nas.storage import default_artifact_dir

from .browser import ARTIFACTS, browser_page, free_port, serve


def test_trials_carry_their_artifacts(small_study) -> None:
    storage, name = small_study
    study = optuna.load_study(study_name=name, storage=storage)
    trial = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[0]
    files = {meta.filename for meta in get_all_artifact_meta(trial, storage=study._storage)}
    assert files == {f"trial{trial.number}.json", f"trial{trial.number}.py"}
    trained = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(list(default_artifact_dir(storage).iterdir())) >= 2 * 5  # 5 networks x (json + py)
    assert len(trained) >= 5


@pytest.mark.slow  # a browser on a dashboard server
@pytest.mark.browser
def test_dashboard_shows_the_study_in_a_real_browser(small_study) -> None:
    storage, name = small_study
    port = free_port()
    with serve(["-m", "nas.dashboard", "--storage", storage, "--port", str(port)], port) as url:
        studies = json.load(urllib.request.urlopen(url + "/api/studies"))["study_summaries"]
        study_id = next(s["study_id"] for s in studies if s["study_name"] == name)
        with browser_page() as page:
            page.goto(f"{url}/dashboard/studies/{study_id}", wait_until="networkidle")
            page.wait_for_selector("text=Pareto Front", timeout=30_000)
            body = page.inner_text("body")
            for metric in ("accuracy", "flops", "params"):
                assert metric in body
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-study.png"), full_page=True)

            page.goto(f"{url}/dashboard/studies/{study_id}/trials", wait_until="networkidle")
            page.wait_for_selector("text=Trial 0", timeout=30_000)
            body = page.inner_text("body")
            assert "Trial 7" in body  # the small study has trials 0..7
            first = optuna.load_study(study_name=name, storage=storage).trials[0]  # shown first, with its attrs
            assert f"arch {first.user_attrs['arch']}" in body and f"digest {first.user_attrs['digest']}" in body
            page.screenshot(path=str(ARTIFACTS / "dashboard-trials.png"), full_page=True)

            page.goto(f"{url}/dashboard/studies/{study_id}/note", wait_until="networkidle")
            page.wait_for_selector("text=Multi-objective search by lightweight NAS", timeout=30_000)
            page.wait_for_selector("text=Pareto front, by each network's best evidence", timeout=30_000)
            assert "ep x" in page.inner_text("body")  # the front's evidence: epochs x seeds per member
            assert page.console_errors == [], page.console_errors


@pytest.mark.slow  # the final training of a study, then a browser
@pytest.mark.browser
def test_dashboard_shows_final_training_on_the_trials_and_its_figures(retrained, tmp_path) -> None:
    storage, chosen = retrained
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    write_report(study, tmp_path / "report.html")  # attaches the report's figures to the study
    port = free_port()
    with serve(["-m", "nas.dashboard", "--storage", storage, "--port", str(port)], port) as url:
        study_id = json.load(urllib.request.urlopen(url + "/api/studies"))["study_summaries"][0]["study_id"]
        detail = json.load(urllib.request.urlopen(f"{url}/api/studies/{study_id}?after=0"))
        final = {t["number"]: {a["key"]: a["value"] for a in t["user_attrs"] if a["key"].startswith("final_")}
                 for t in detail["trials"]}  # fmt: skip
        assert {n for n, attrs in final.items() if attrs} == set(chosen)
        assert {"final_accuracy", "final_low", "final_high", "final_epochs", "final_seeds"} <= set(final[chosen[0]])
        assert {"final_vs_flops", "proxy_vs_final"} <= {g["id"] for g in detail["plotly_graph_objects"]}
        with browser_page() as page:
            trial_id = next(t["trial_id"] for t in detail["trials"] if t["number"] == chosen[0])
            page.goto(f"{url}/dashboard/studies/{study_id}/trials?numbers={chosen[0]}", wait_until="networkidle")
            page.wait_for_selector(f"text=Trial {chosen[0]}", timeout=30_000)
            assert "final_accuracy" in page.inner_text("body"), trial_id
            page.screenshot(path=str(ARTIFACTS / "dashboard-final.png"), full_page=True)
            assert page.console_errors == [], page.console_errors
