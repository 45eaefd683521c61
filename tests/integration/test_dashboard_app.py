"""The dashboard against the app itself: devhost serving the operator API and the dashboard's
functions over the engine of a scenario the judge rolls back mid-stage
(tests/scenarios/regression_mid_stage.json), in headless Chromium. What the page shows must be
what the API answers: the contract between them, checked end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests import dashboard_support as ds

pytestmark = pytest.mark.integration


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def app() -> Iterator[ds.AppServer]:
    with ds.serving_app(ds.scenario_engine("regression_mid_stage")) as server:
        yield server


@pytest.fixture(scope="module")
def shown(app: ds.AppServer) -> Iterator[tuple[Any, list[str]]]:
    messages: list[str] = []
    with ds.chromium() as browser:
        page = ds.open_dashboard(browser, f"{app.page_url}?refresh=0", messages)
        yield page, messages
        page.close()


def test_page_renders_the_apps_rollout_without_console_errors(
    app: ds.AppServer, shown: tuple[Any, list[str]]
) -> None:
    page, messages = shown
    assert page.evaluate("document.body.dataset.state") == "ready"
    assert messages == []
    detail = app.get("rollouts/fraud")
    assert detail["rollout"]["phase"] == "RolledBack"
    assert page.text_content("#cause") == detail["rollout"]["cause"]
    assert page.evaluate("window.autocanaryDashboard.rolloutId") == detail["rollout"]["id"]


def test_charts_hold_the_minutes_and_thresholds_the_api_answers(
    app: ds.AppServer, shown: tuple[Any, list[str]]
) -> None:
    page, _ = shown
    rollout_id = app.get("rollouts/fraud")["rollout"]["id"]
    series = app.get(f"rollouts/fraud/history/{rollout_id}/series")
    assert series["minutes"], "the engine kept no minute for the charts"
    errors = page.evaluate(
        "(() => { const u = window.autocanaryDashboard.charts.errors;"
        " return {labels: u.series.map(s => s.label), data: u.data.map(a => Array.from(a))}; })()"
    )
    # every minute the API answers is a point (minutes without a reading are gaps between)
    xs = errors["data"][0]
    canary = dict(zip(xs, errors["data"][errors["labels"].index("canary error rate")], strict=True))
    baseline = dict(
        zip(xs, errors["data"][errors["labels"].index("baseline error rate")], strict=True)
    )
    for m in series["minutes"]:
        assert canary[_epoch(m["t"])] == m["canary"]["error_rate_pct"], m["t"]
        assert baseline[_epoch(m["t"])] == m["baseline"]["error_rate_pct"], m["t"]
    assert len(xs) >= len(series["minutes"])
    gaps = [x for x in xs if canary[x] is None and baseline[x] is None]
    assert len(xs) - len(gaps) == len(series["minutes"])
    drawn = [label for label in errors["labels"] if "threshold" in label or "guardrail" in label]
    wanted = [k for k in series["thresholds"] if "error_rate" in k and k.endswith("_pct")]
    assert len(drawn) == len(wanted)
    traffic_points = page.evaluate("window.autocanaryDashboard.charts.traffic.data[0].length")
    assert traffic_points >= len(series["traffic"])


def test_timeline_has_a_segment_per_phase_change_the_api_answers(
    app: ds.AppServer, shown: tuple[Any, list[str]]
) -> None:
    page, _ = shown
    rollout_id = app.get("rollouts/fraud")["rollout"]["id"]
    series = app.get(f"rollouts/fraud/history/{rollout_id}/series")
    segments = page.eval_on_selector_all(".strip .segment", "s => s.length")
    assert segments == len(series["phases"]) > 0
    assert "RolledBack" in page.text_content(".strip")
