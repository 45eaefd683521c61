"""The dashboard's API key (handlers/dashboard_assets/dashboard_key.js) in headless Chromium
against the fixture server (tests.dashboard_support): asked for by a form, kept in the tab,
sent only in the x-functions-key header and never in a URL, asked for again when refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests import dashboard_fixture as fx
from tests import dashboard_support as ds

pytestmark = pytest.mark.integration

STORED = "window.sessionStorage.getItem('autocanary.key')"


def _api_requests(server: ds.DashboardServer, since: int) -> list[str]:
    return [r for r in server.requests[since:] if not r.startswith("/api/dashboard")]


def test_the_key_is_sent_in_the_header_and_is_never_part_of_a_url(
    server: ds.DashboardServer, browser: Any
) -> None:
    since = len(server.requests)
    messages: list[str] = []
    url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
    page = ds.open_dashboard(browser, url, messages)
    try:
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
    finally:
        page.close()


def test_a_page_without_a_key_asks_for_one_and_reads_nothing(
    server: ds.DashboardServer, browser: Any
) -> None:
    since = len(server.requests)
    page = ds.open_dashboard(browser, f"{server.page_url}?refresh=0", [], key=None)
    try:
        assert page.is_visible("#sign-in") and page.is_hidden("#forget-key")
        assert page.text_content("#status") == "API key needed"
        assert _api_requests(server, since) == []
        # an empty key sends nothing either
        page.click("#key-submit")
        assert page.evaluate("document.body.dataset.state") == "key"
        assert _api_requests(server, since) == []
    finally:
        page.close()


def test_a_refused_key_is_forgotten_and_the_form_says_what_the_api_answered(
    server: ds.DashboardServer, browser: Any
) -> None:
    url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
    page = ds.open_dashboard(browser, url, [], key="not-the-key")
    try:
        assert page.evaluate("document.body.dataset.state") == "key"
        assert page.text_content("#key-message") == (
            "The API refused the key: an API key is required - send the key"
        )
        assert page.evaluate(STORED) is None
        assert page.input_value("#api-key") == ""
        # the right key then opens the rollouts
        page.fill("#api-key", ds.KEY)
        page.click("#key-submit")
        page.wait_for_selector("body[data-state='ready']", state="attached", timeout=15_000)
        assert page.text_content("#cause") == fx.CAUSE
    finally:
        page.close()


def test_the_key_outlives_a_reload_of_the_tab_but_not_the_tab(
    server: ds.DashboardServer, browser: Any
) -> None:
    url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
    page = ds.open_dashboard(browser, url, [])
    try:
        assert page.evaluate(STORED) == ds.KEY
        page.reload()
        page.wait_for_selector("body[data-state='ready']", state="attached", timeout=15_000)
        assert page.is_hidden("#sign-in")
        # kept in sessionStorage only: never localStorage or a cookie
        assert page.evaluate("window.localStorage.length") == 0
        assert page.evaluate("document.cookie") == ""
    finally:
        page.close()
    other = ds.open_dashboard(browser, url, [], key=None)
    try:
        assert other.evaluate(STORED) is None
    finally:
        other.close()


def test_forget_key_clears_the_tab_and_the_rollout_shown(
    server: ds.DashboardServer, browser: Any
) -> None:
    url = f"{server.page_url}?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
    page = ds.open_dashboard(browser, url, [])
    try:
        page.click("#forget-key")
        assert page.evaluate("document.body.dataset.state") == "key"
        assert page.evaluate(STORED) is None
        assert page.text_content("#detail") == ""
        assert page.is_hidden("#rollouts")
        assert "forgotten" in page.text_content("#key-message")
    finally:
        page.close()


def test_a_key_in_an_old_links_url_is_not_used_and_leaves_the_address_bar(
    server: ds.DashboardServer, browser: Any
) -> None:
    code = quote(ds.KEY, safe="")
    url = f"{server.page_url}?code={code}&refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}"
    since = len(server.requests)
    page = ds.open_dashboard(browser, url, [], key=None)
    try:
        assert "code=" not in page.url and ds.KEY not in page.url
        assert page.url.endswith(f"?refresh=0#/{fx.ENDPOINT}/{fx.ROLLOUT_ID}")
        assert "not used" in page.text_content("#key-message")
        assert page.evaluate(STORED) is None
        assert _api_requests(server, since) == []
    finally:
        page.close()
