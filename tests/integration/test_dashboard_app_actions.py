"""The dashboard's actions against the app itself: devhost serving the operator API and the
dashboard over the engine of a scenario the judge rolls back (regression_mid_stage), in
headless Chromium. A click on the page is an operator action the engine records, with the
reason and actor typed on the page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests import dashboard_support as ds

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def app() -> Iterator[ds.AppServer]:
    with ds.serving_app(ds.scenario_engine("regression_mid_stage")) as server:
        yield server


def test_retry_on_the_page_starts_the_version_again_and_shows_the_new_rollout(
    app: ds.AppServer,
) -> None:
    before = app.get("rollouts/fraud")["rollout"]
    assert before["phase"] == "RolledBack"
    assert before["allowed_actions"] == ["retry"]
    messages: list[str] = []
    with ds.chromium() as browser:
        # opened on the rolled-back rollout by its link, as a notice links it
        url = f"{app.page_url}?refresh=0#/fraud/{before['id']}"
        page = ds.open_dashboard(browser, url, messages)
        page.fill("#action-reason", "the fix is in the baseline now")
        page.fill("#action-actor", "ana")
        page.click("#actions button[data-action='retry']")
        page.wait_for_selector("#action-status:has-text('retry: started')", timeout=15_000)
        page.wait_for_selector("body[data-state='ready']", state="attached", timeout=15_000)
        # the page moved on to the new rollout
        page.wait_for_selector("#actions button[data-action='pause']", timeout=15_000)
        shown = page.evaluate("window.autocanaryDashboard.rolloutId")
        hash_ = page.evaluate("window.location.hash")
        page.close()
    assert messages == []
    after = app.get("rollouts/fraud")
    new = after["rollout"]
    assert new["id"] != before["id"] and new["id"] == shown
    assert hash_ == f"#/fraud/{new['id']}"
    assert new["model"] == before["model"] and new["version"] == before["version"]
    # the retry's admission is the new rollout's first decision: who and why, as typed
    first = next(d for d in after["decisions"] if d["seq"] == 1)
    assert first["actor"] == "ana"
    assert "the fix is in the baseline now" in json.dumps(first)
