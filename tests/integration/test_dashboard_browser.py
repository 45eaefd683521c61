"""The dashboard in headless Chromium (Debian's, driven by Playwright) against a loopback server
that serves the page through the app's handler and the API's documents
(tests.dashboard_support): what an operator sees, read from the DOM and the chart objects."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from PIL import Image, ImageStat

from tests import dashboard_fixture as fx
from tests import dashboard_support as ds

pytestmark = pytest.mark.integration


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def shown(server: ds.DashboardServer, browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """The rolled-back rollout, opened by its link, with the browser's complaints."""
    messages: list[str] = []
    url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
    page = ds.open_dashboard(browser, url, messages)
    yield page, messages
    page.close()


def chart_data(page: Any, name: str) -> dict[str, Any]:
    """A uPlot chart's series labels and data arrays, as the page holds them."""
    data: dict[str, Any] = page.evaluate(
        """name => {
            const u = window.autocanaryDashboard.charts[name];
            return {labels: u.series.map(s => s.label), data: u.data.map(a => Array.from(a))};
        }""",
        name,
    )
    return data


def series_of(chart: dict[str, Any], label: str) -> list[Any]:
    return list(chart["data"][chart["labels"].index(label)])


def test_page_renders_the_rollout_without_console_errors(shown: tuple[Any, list[str]]) -> None:
    page, messages = shown
    assert page.evaluate("document.body.dataset.state") == "ready"
    assert messages == []
    assert page.text_content("#cause") == fx.CAUSE


def test_page_lists_every_rollout_with_its_phase_and_cause(shown: tuple[Any, list[str]]) -> None:
    page, _ = shown
    rows = page.eval_on_selector_all(
        "#rollouts tr[data-rollout]",
        "rows => rows.map(r => [r.dataset.rollout, r.cells[2].textContent])",
    )
    assert sorted(rows) == sorted(
        [
            [fx.ROLLOUT_ID, "RolledBack"],
            ["r-20260301-churn-3", "Canary"],
            ["r-20260228-fraud-6", "Succeeded"],
        ]
    )
    assert fx.CAUSE in page.text_content("#rollouts")
    assert page.get_attribute("#rollouts tr.selected", "data-rollout") == fx.ROLLOUT_ID


def test_ignored_models_are_listed_with_their_reason_and_hint(
    shown: tuple[Any, list[str]],
) -> None:
    page, _ = shown
    (event,) = fx.fixture_ignored()
    text = page.text_content(f"#ignored li[data-event='{event['event_id']}']")
    assert "credit-risk:4" in text
    assert event["reason"] in text
    assert event["detail"] in text
    assert event["hint"] in text


def test_error_rate_chart_has_each_minute_of_both_sides_and_the_thresholds(
    shown: tuple[Any, list[str]],
) -> None:
    page, _ = shown
    chart = chart_data(page, "errors")
    minutes = fx.fixture_minutes()
    assert chart["data"][0] == [_epoch(m["t"]) for m in minutes]
    assert series_of(chart, "canary error rate") == [m["canary"]["error_rate_pct"] for m in minutes]
    assert series_of(chart, "baseline error rate") == [
        m["baseline"]["error_rate_pct"] for m in minutes
    ]
    assert set(series_of(chart, "rollback threshold 1.20 %")) == {1.2}
    assert set(series_of(chart, "guardrail 5.00 %")) == {5.0}


def test_latency_chart_has_each_minutes_p95_and_p50_and_the_guardrail(
    shown: tuple[Any, list[str]],
) -> None:
    page, _ = shown
    chart = chart_data(page, "latency")
    minutes = fx.fixture_minutes()
    assert series_of(chart, "canary p95") == [m["canary"]["p95_ms"] for m in minutes]
    assert series_of(chart, "baseline p50") == [m["baseline"]["p50_ms"] for m in minutes]
    assert set(series_of(chart, "p95 guardrail 250 ms")) == {250.0}


def test_a_minute_without_a_reading_is_a_gap_in_the_lines(browser: Any) -> None:
    docs = fx.fixture_documents()
    series = fx.fixture_series()
    missing = series["minutes"].pop(10)
    path = f"rollouts/{fx.ENDPOINT}/history/{fx.ROLLOUT_ID}/series"
    server = ds.DashboardServer(lambda p: series if p == path else docs(p))
    server.start()
    messages: list[str] = []
    try:
        url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
        page = ds.open_dashboard(browser, url, messages)
        chart = chart_data(page, "errors")
        at = chart["data"][0].index(_epoch(missing["t"]))
        assert series_of(chart, "canary error rate")[at] is None
        assert series_of(chart, "baseline error rate")[at] is None
        assert series_of(chart, "rollback threshold 1.20 %")[at] == 1.2
        page.close()
    finally:
        server.stop()
    assert messages == []


def test_latency_chart_falls_back_to_p90_when_the_metrics_have_no_p95(browser: Any) -> None:
    """Azure ML's online endpoints report RequestLatency_P50, _P90 and _P99 (no P95)."""
    docs = fx.fixture_documents()
    series = fx.fixture_series()
    for m in series["minutes"]:
        for side in ("canary", "baseline"):
            m[side]["p90_ms"] = m[side].pop("p95_ms")
    path = f"rollouts/{fx.ENDPOINT}/history/{fx.ROLLOUT_ID}/series"
    server = ds.DashboardServer(lambda p: series if p == path else docs(p))
    server.start()
    messages: list[str] = []
    try:
        url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
        page = ds.open_dashboard(browser, url, messages)
        chart = chart_data(page, "latency")
        assert series_of(chart, "canary p90") == [m["canary"]["p90_ms"] for m in series["minutes"]]
        assert "canary p95" not in chart["labels"]
        page.close()
    finally:
        server.stop()
    assert messages == []


def test_traffic_chart_steps_through_every_split_and_the_shadow_mirror(
    shown: tuple[Any, list[str]],
) -> None:
    page, _ = shown
    chart = chart_data(page, "traffic")
    changes = fx.fixture_series()["traffic"]
    xs = chart["data"][0]
    assert xs[: len(changes)] == [_epoch(c["t"]) for c in changes]
    canary = series_of(chart, f"{fx.CANARY} (traffic %)")
    assert canary[: len(changes)] == [c["split"].get(fx.CANARY, 0) for c in changes]
    mirror = series_of(chart, f"{fx.CANARY} (mirror %)")
    assert max(mirror) == 20
    baseline = series_of(chart, f"{fx.BASELINE} (traffic %)")
    assert all(a + b == 100 for a, b in zip(canary, baseline, strict=True))


def test_timeline_shows_each_phase_and_each_decision(shown: tuple[Any, list[str]]) -> None:
    page, _ = shown
    segments = page.eval_on_selector_all(".strip .segment", "s => s.map(x => x.textContent)")
    assert segments == [
        "Pending",
        "Provisioning",
        "Shadowing",
        "Canary 1",
        "Canary 2",
        "RollingBack",
        "RolledBack",
    ]
    reasons = page.eval_on_selector_all(".decisions li code", "c => c.map(x => x.textContent)")
    assert reasons == [p[3] for p in fx.PHASES]


def test_evidence_in_words_names_the_metric_counts_and_threshold(
    shown: tuple[Any, list[str]],
) -> None:
    page, _ = shown
    why = page.text_content(".why")
    assert "error_rate" in why
    assert "2.40 % (48/2000 requests)" in why
    assert "0.30 % (6/2000 requests)" in why
    assert "1.20 % (rollback)" in why
    assert "2026-03-01 10:38 UTC" in why
    readings = page.eval_on_selector_all(
        ".reading", "r => r.map(x => [x.dataset.metric, x.querySelector('.state').textContent])"
    )
    assert readings == [["error_rate", "rollback"], ["latency_p95", "hold"]]


def test_screenshot_is_the_page_at_full_width_and_not_blank(
    shown: tuple[Any, list[str]],
) -> None:
    page, _ = shown
    image = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    assert image.width == ds.VIEWPORT["width"]
    assert image.height >= 1200  # header, cards, three charts, decisions
    stat = ImageStat.Stat(image)
    assert min(stat.stddev) > 20, stat.stddev  # a blank or one-colour page is ~0
    colours = image.quantize(colors=64).getcolors()
    assert colours is not None and len(colours) >= 16


def test_each_chart_canvas_has_drawn_lines_in_the_canary_colour(
    shown: tuple[Any, list[str]],
) -> None:
    page, _ = shown
    for name in ("traffic", "errors", "latency"):
        shot = page.locator(f"[data-chart={name}] canvas").screenshot()
        image = Image.open(io.BytesIO(shot)).convert("RGB")
        red = sum(
            count
            for count, (r, g, b) in image.getcolors(maxcolors=1 << 20) or []
            if r > 180 and g < 90 and b < 90
        )
        assert red > 200, (name, red)


def test_choosing_another_rollout_in_the_list_shows_it(
    server: ds.DashboardServer, browser: Any
) -> None:
    messages: list[str] = []
    page = ds.open_dashboard(browser, f"{server.page_url}?refresh=0", messages)
    try:
        # with no link in the URL the active rollout comes first
        assert page.text_content("#detail h2").startswith("churn-scoring")
        page.click(f"#rollouts tr[data-rollout='{fx.ROLLOUT_ID}'] a")
        # the detail's own title, not the cause: the list shows each rollout's cause too, so
        # waiting on that text could pass before the detail is drawn
        page.wait_for_selector(f"#detail h2:has-text('{fx.ENDPOINT}')", timeout=10_000)
        assert page.evaluate("window.autocanaryDashboard.rolloutId") == fx.ROLLOUT_ID
        assert page.text_content("#cause") == fx.CAUSE
        assert messages == []
    finally:
        page.close()


def test_charts_follow_the_window_width(server: ds.DashboardServer, browser: Any) -> None:
    messages: list[str] = []
    url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
    page = ds.open_dashboard(browser, url, messages)
    try:
        wide = page.evaluate("window.autocanaryDashboard.charts.errors.width")
        page.set_viewport_size({"width": 1000, "height": 1200})
        # the page refits its charts shortly after the last resize event
        narrow = wide
        for _ in range(50):
            narrow = page.evaluate("window.autocanaryDashboard.charts.errors.width")
            if narrow != wide:
                break
            page.wait_for_timeout(100)
        assert narrow < wide - 200, (wide, narrow)
        assert messages == []
    finally:
        page.close()


def _failing(suffix: str) -> fx.Documents:
    docs = fx.fixture_documents()
    return lambda path: None if path.endswith(suffix) else docs(path)


def test_a_notice_link_with_the_endpoint_opens_its_current_rollout(
    server: ds.DashboardServer, browser: Any
) -> None:
    """Teams and Slack notices link to /api/dashboard?endpoint=<endpoint>."""
    messages: list[str] = []
    url = f"{server.page_url}?refresh=0&endpoint={fx.ENDPOINT}"
    page = ds.open_dashboard(browser, url, messages)
    try:
        assert page.text_content("#cause") == fx.CAUSE
        assert page.evaluate("window.autocanaryDashboard.rolloutId") == fx.ROLLOUT_ID
        assert messages == []
    finally:
        page.close()


def test_an_api_error_is_shown_with_its_message_and_hint(browser: Any) -> None:
    server = ds.DashboardServer(_failing(f"/history/{fx.ROLLOUT_ID}"))
    server.start()
    messages: list[str] = []
    try:
        url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
        page = ds.open_dashboard(browser, url, messages)
        assert page.evaluate("document.body.dataset.state") == "error"
        status = page.text_content("#status")
        assert f"nothing at /api/rollouts/{fx.ENDPOINT}/history/{fx.ROLLOUT_ID}" in status
        assert ds.NOT_FOUND_HINT in status
        page.close()
    finally:
        server.stop()
    assert [m for m in messages if "404" not in m] == []


def test_a_rollout_without_its_series_is_shown_with_the_reason_charts_are_missing(
    browser: Any,
) -> None:
    server = ds.DashboardServer(_failing("/series"))
    server.start()
    messages: list[str] = []
    try:
        url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
        page = ds.open_dashboard(browser, url, messages)
        assert page.evaluate("document.body.dataset.state") == "ready"
        assert page.text_content("#cause") == fx.CAUSE
        assert ds.NOT_FOUND_HINT in page.text_content("#series-error")
        assert page.evaluate("Object.keys(window.autocanaryDashboard.charts)") == []
        page.close()
    finally:
        server.stop()
    assert [m for m in messages if "404" not in m] == []
