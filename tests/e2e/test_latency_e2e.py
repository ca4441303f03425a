"""Latency in the dashboard and the report, in a real browser (slow)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from ..browser import ARTIFACTS, browser_page, free_port, serve
from ..test_latency import latency_report, latency_study  # noqa: F401 (its fixtures, used below)


@pytest.mark.slow
@pytest.mark.browser
def test_dashboard_and_report_show_latency_in_a_real_browser(latency_study, latency_report) -> None:  # noqa: F811
    storage, _, _, _ = latency_study
    port = free_port()
    with serve(["-m", "nas.dashboard", "--storage", storage, "--port", str(port)], port) as url:
        studies = json.load(urllib.request.urlopen(url + "/api/studies"))["study_summaries"]
        study_id = studies[0]["study_id"]
        with browser_page() as page:
            page.goto(f"{url}/dashboard/studies/{study_id}", wait_until="networkidle")
            page.wait_for_selector("text=Pareto Front", timeout=30_000)
            assert "latency" in page.inner_text("body")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-latency.png"), full_page=True)
            page.goto(latency_report.as_uri(), wait_until="load")
            page.wait_for_selector("#accuracy_vs_latency .main-svg", timeout=30_000)
            assert "accuracy vs latency" in page.inner_text("#accuracy_vs_latency")
            assert "test accuracy vs latency" in page.inner_text("#final_vs_latency")
            assert page.console_errors == [], page.console_errors
