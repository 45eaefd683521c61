"""The dashboard's API key (handlers/dashboard_assets/dashboard_key.js) in headless Chromium
against the fixture server (tests.dashboard_support): asked for by a form, kept in the tab,
sent only in the x-functions-key header and never in a URL, asked for again when refused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest

from tests import dashboard_fixture as fx
from tests import dashboard_support as ds

pytestmark = pytest.mark.integration

STORED = "window.sessionStorage.getItem('autocanary.key')"
READY = "body[data-state='ready']"


@contextmanager
def _opened(
    server: ds.DashboardServer,
    browser: Any,
    key: str | None = ds.KEY,
    query: str = "",
    messages: list[str] | None = None,
) -> Iterator[Any]:
    """The page on the rolled-back rollout (``key`` entered, None: left at the form; the
    browser's complaints into ``messages``), closed after."""
    url = f"{server.page_url}?{query}refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
    page = ds.open_dashboard(browser, url, [] if messages is None else messages, key=key)
    try:
        yield page
    finally:
        page.close()


def _api_requests(server: ds.DashboardServer, since: int) -> list[str]:
    return [r for r in server.requests[since:] if not r.startswith("/api/dashboard")]


def test_the_key_is_sent_in_the_header_and_is_never_part_of_a_url(
    server: ds.DashboardServer, browser: Any
) -> None:
    since = len(server.requests)
    messages: list[str] = []
    with _opened(server, browser, messages=messages) as page:
        assert page.evaluate("document.body.dataset.state") == "ready", messages
        assert page.text_content("#cause") == fx.CAUSE
        requested = server.requests[since:]
        # the API answered (the fixture server checks the key), so the header carried it
        assert _api_requests(server, since), requested
        assert not any("code=" in r or quote(ds.KEY, safe="") in r for r in requested)
        assert not any(ds.KEY in r for r in requested)
        assert ds.KEY not in page.url
        assert page.is_hidden("#sign-in") and page.is_visible("#forget-key")
    assert messages == []


def test_a_page_without_a_key_asks_for_one_and_reads_nothing(
    server: ds.DashboardServer, browser: Any
) -> None:
    since = len(server.requests)
    with _opened(server, browser, key=None) as page:
        assert page.is_visible("#sign-in") and page.is_hidden("#forget-key")
        assert page.text_content("#status") == "API key needed"
        assert _api_requests(server, since) == []
        # an empty key sends nothing either
        page.click("#key-submit")
        assert page.evaluate("document.body.dataset.state") == "key"
        assert _api_requests(server, since) == []


def test_a_refused_key_is_forgotten_and_the_form_says_what_the_api_answered(
    server: ds.DashboardServer, browser: Any
) -> None:
    with _opened(server, browser, key="not-the-key") as page:
        assert page.evaluate("document.body.dataset.state") == "key"
        assert page.text_content("#key-message") == (
            "The API refused the key: an API key is required - send the key"
        )
        assert page.evaluate(STORED) is None
        assert page.input_value("#api-key") == ""
        # the right key then opens the rollouts
        page.fill("#api-key", ds.KEY)
        page.click("#key-submit")
        page.wait_for_selector(READY, state="attached", timeout=15_000)
        assert page.text_content("#cause") == fx.CAUSE


def test_the_key_outlives_a_reload_of_the_tab_but_not_the_tab(
    server: ds.DashboardServer, browser: Any
) -> None:
    with _opened(server, browser) as page:
        assert page.evaluate(STORED) == ds.KEY
        page.reload()
        page.wait_for_selector(READY, state="attached", timeout=15_000)
        assert page.is_hidden("#sign-in")
        # kept in sessionStorage only: never localStorage or a cookie
        assert page.evaluate("window.localStorage.length") == 0
        assert page.evaluate("document.cookie") == ""
    with _opened(server, browser, key=None) as other:
        assert other.evaluate(STORED) is None


def test_forget_key_clears_the_tab_and_the_rollout_shown(
    server: ds.DashboardServer, browser: Any
) -> None:
    with _opened(server, browser) as page:
        page.click("#forget-key")
        assert page.evaluate("document.body.dataset.state") == "key"
        assert page.evaluate(STORED) is None
        assert page.text_content("#detail") == ""
        assert page.is_hidden("#rollouts")
        assert "forgotten" in page.text_content("#key-message")


def test_a_key_in_an_old_links_url_is_not_used_and_leaves_the_address_bar(
    server: ds.DashboardServer, browser: Any
) -> None:
    since = len(server.requests)
    with _opened(server, browser, key=None, query=f"code={quote(ds.KEY, safe='')}&") as page:
        assert "code=" not in page.url and ds.KEY not in page.url
        assert page.url.endswith(f"?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}")
        assert "not used" in page.text_content("#key-message")
        assert page.evaluate(STORED) is None
        assert _api_requests(server, since) == []


def test_a_load_still_running_when_the_key_is_forgotten_shows_nothing(
    server: ds.DashboardServer, browser: Any
) -> None:
    with _opened(server, browser) as page:
        server.api_delay_s = 1.0
        try:
            page.click("#refresh")  # a load with the key, answered a second later
            page.click("#forget-key")
            page.wait_for_timeout(2_000)  # the load's answers have come in
        finally:
            server.api_delay_s = 0.0
        assert page.evaluate("document.body.dataset.state") == "key"
        assert page.text_content("#detail") == ""
        assert page.text_content("#rollouts tbody") == ""
        assert "forgotten" in page.text_content("#key-message")


def test_a_refused_key_leaves_nothing_it_read_in_the_page(
    server: ds.DashboardServer, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _opened(server, browser) as page:
        assert page.text_content("#cause") == fx.CAUSE
        # the key is revoked while the page is open: the next read is refused
        monkeypatch.setattr(server.key, "value", "rotated-" + ds.KEY)
        page.click("#refresh")
        page.wait_for_selector("body[data-state='key']", state="attached", timeout=15_000)
        assert page.text_content("#detail") == ""
        assert page.text_content("#rollouts tbody") == ""
        assert page.evaluate(STORED) is None
