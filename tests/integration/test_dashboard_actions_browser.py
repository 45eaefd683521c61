"""The dashboard's operator actions (handlers/dashboard_assets/dashboard_actions.js) in headless
Chromium against the fixture server (tests.dashboard_support): one button per action the API
allows, nothing sent without a reason, the POST the API expects, and its answer shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import dashboard_fixture as fx
from tests import dashboard_support as ds

pytestmark = pytest.mark.integration

ACTIVE = "churn-scoring"
ACTIVE_ID = "r-20260301-churn-3"


@pytest.fixture
def open_page(server: ds.DashboardServer, browser: Any) -> Iterator[Callable[[str, str], Any]]:
    """Opens the page on one rollout (the server's record of POSTs cleared first); every page
    opened is closed after the test."""
    pages: list[Any] = []

    def open_(endpoint: str, rollout: str) -> Any:
        server.posts.clear()
        server.next_reply = None
        messages: list[str] = []
        url = f"{server.page_url}?refresh=0#/{endpoint}/{rollout}"
        page = ds.open_dashboard(browser, url, messages)
        pages.append(page)
        assert page.evaluate("document.body.dataset.state") == "ready", messages
        return page

    yield open_
    for page in pages:
        page.close()


def _buttons(page: Any) -> list[str]:
    names: list[str] = page.eval_on_selector_all(
        "#actions button[data-action]", "bs => bs.map(b => b.dataset.action)"
    )
    return names


def _wait_ready(page: Any) -> None:
    page.wait_for_selector("body[data-state='ready']", state="attached", timeout=15_000)


def test_an_active_rollout_shows_a_button_per_action_the_api_allows(
    open_page: Callable[[str, str], Any],
) -> None:
    page = open_page(ACTIVE, ACTIVE_ID)
    assert _buttons(page) == ["pause", "promote", "rollback", "abort"]
    sharp = page.eval_on_selector_all(
        "#actions button.sharp", "bs => bs.map(b => b.dataset.action)"
    )
    assert sharp == ["promote", "rollback", "abort"]


def test_a_rolled_back_rollout_offers_only_retry(open_page: Callable[[str, str], Any]) -> None:
    page = open_page(fx.ENDPOINT, fx.ROLLOUT_ID)
    assert _buttons(page) == ["retry"]


def test_an_action_without_a_reason_sends_nothing_and_says_why(
    server: ds.DashboardServer, open_page: Callable[[str, str], Any]
) -> None:
    page = open_page(ACTIVE, ACTIVE_ID)
    page.fill("#action-reason", "   ")
    page.click("#actions button[data-action='rollback']")
    assert "Say why before you rollback" in page.text_content("#action-status")
    assert "error" in (page.get_attribute("#action-status", "class") or "")
    assert server.posts == []


def test_an_action_posts_the_reason_and_actor_with_the_key_and_shows_the_answer(
    server: ds.DashboardServer, open_page: Callable[[str, str], Any]
) -> None:
    page = open_page(ACTIVE, ACTIVE_ID)
    gets_before = len(server.requests)
    page.fill("#action-reason", "  error budget spent elsewhere ")
    page.fill("#action-actor", "ana")
    page.click("#actions button[data-action='pause']")
    page.wait_for_selector("#action-status:has-text('pause: done')", timeout=10_000)
    _wait_ready(page)
    # the key went as the header (the fixture server refuses a POST without it)
    assert server.posts == [
        (f"rollouts/{ACTIVE}/pause", {"reason": "error budget spent elsewhere", "actor": "ana"})
    ]
    status = page.text_content("#action-status") or ""
    assert status == "pause: done · Canary (paused) · OperatorPause"
    # the page read the rollout again after the action, and kept what it said
    assert any(r.startswith(f"/api/rollouts/{ACTIVE}") for r in server.requests[gets_before:])
    assert page.evaluate("window.autocanaryDashboard.actionNotice") == status


def test_an_action_the_api_refuses_shows_its_message_and_hint_and_can_be_tried_again(
    server: ds.DashboardServer, open_page: Callable[[str, str], Any]
) -> None:
    page = open_page(ACTIVE, ACTIVE_ID)
    server.next_reply = (
        409,
        {
            "error": {
                "code": "phase_conflict",
                "message": "rollout r-1 already ended (RolledBack); promote is not possible",
                "hint": "read the rollout again",
            }
        },
    )
    page.fill("#action-reason", "ship it")
    page.click("#actions button[data-action='promote']")
    page.wait_for_selector("#action-status.error", timeout=10_000)
    assert page.text_content("#action-status") == (
        "promote refused: rollout r-1 already ended (RolledBack); promote is not possible"
        " - read the rollout again"
    )
    assert page.eval_on_selector_all("#actions button:disabled", "bs => bs.length") == 0
    assert page.input_value("#action-reason") == "ship it"
    assert len(server.posts) == 1
