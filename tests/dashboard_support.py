"""The dashboard on a loopback server, in headless Chromium: for its tests and `make screenshot`.

``DashboardServer`` serves ``GET /api/dashboard`` and its assets through the app's own handler
(``handlers.dashboard``) and the operator API's read routes, the key checked as the app does,
from documents (tests.dashboard_fixture: shaped as the API contract says, for a rollout
rolled back by the judge). ``AppServer`` serves the app's own API and
dashboard functions under devhost over a real engine (``scenario_engine``).

``python -m tests.dashboard_support [OUT.png]`` writes the README's screenshot
(``make screenshot``, default ``docs/dashboard.png``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.bindings import discover
from devhost.codec import build_http_request, encode_http_response
from devhost.host import DevHost, FunctionKey, HostOptions
from handlers import dashboard
from shared import bootstrap
from shared.services import Engine
from shared.settings import API_KEYS_SETTING
from shared.simulation.runner import Simulation
from shared.simulation.scenario import load_scenario
from tests.dashboard_fixture import ENDPOINT, ROLLOUT_ID, Documents, fixture_documents

ROOT = Path(__file__).resolve().parents[1]
# one of AUTOCANARY_API_KEYS while a server runs; its characters must be escaped in the page
KEY = "dashboard-test-key/+&-0123456789abcdefghij"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1800}
NOT_FOUND_HINT = "List the rollouts with GET /api/rollouts."


# ------------------------------------------------------------------ the servers
class _LoopServer:
    """An aiohttp server on a free loopback port, run by an event loop in its own thread."""

    def __init__(self, key: str) -> None:
        self.key = FunctionKey(key, "test")
        self.base_url = ""
        self._saved_keys: str | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def page_url(self) -> str:
        return f"{self.base_url}/api/dashboard"

    def start(self) -> str:
        """Listen; the app accepts ``key`` (as AUTOCANARY_API_KEYS) until ``stop``."""
        self._saved_keys = os.environ.get(API_KEYS_SETTING)
        os.environ[API_KEYS_SETTING] = self.key.value
        self._thread.start()
        self.base_url = self._run(self._start())
        return self.base_url

    def stop(self) -> None:
        try:
            self._run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            if self._saved_keys is None:
                os.environ.pop(API_KEYS_SETTING, None)
            else:
                os.environ[API_KEYS_SETTING] = self._saved_keys

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=20)

    async def _start(self) -> str:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError


class DashboardServer(_LoopServer):
    """The page and its assets through the app's handler, the API from ``documents``."""

    def __init__(self, documents: Documents, key: str = KEY) -> None:
        super().__init__(key)
        self.documents = documents
        self.requests: list[str] = []
        # POSTs the page sent (path, JSON body) and what the next one is answered (status,
        # document; None: the compact reply of a done action, as the API answers it)
        self.posts: list[tuple[str, Any]] = []
        self.next_reply: tuple[int, Any] | None = None
        self.api_delay_s = 0.0  # how long the API's documents take to answer
        self._runner: web.AppRunner | None = None

    async def _handle_post(self, request: web.Request) -> web.StreamResponse:
        if not self.key.accepts(request):
            error = {"code": "unauthorized", "message": "an API key is required"}
            return web.json_response({"error": {**error, "hint": "send the key"}}, status=401)
        path = request.path.removeprefix("/api/")
        self.posts.append((path, await request.json()))
        reply, self.next_reply = self.next_reply, None
        if reply is not None:
            return web.json_response(reply[1], status=reply[0])
        endpoint, action = path.removeprefix("rollouts/").split("/", 1)
        doc = {
            "endpoint": endpoint,
            "action": action,
            "outcome": "done",
            "rollout": {"phase": "Canary", "paused": action == "pause"},
            "decision": {"reason": f"Operator{action.capitalize()}"},
            "waiting": None,
        }
        return web.json_response(doc)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        path = request.path.removeprefix("/api/").rstrip("/")
        # the dashboard's functions check the key themselves, as the API's do
        if not path.startswith("dashboard") and not self.key.accepts(request):
            error = {"code": "unauthorized", "message": "an API key is required"}
            return web.json_response({"error": {**error, "hint": "send the key"}}, status=401)
        if path == "dashboard":
            return encode_http_response(dashboard.dashboard(build_http_request(request, b"", {})))
        if path.startswith("dashboard/assets/"):
            name = path.removeprefix("dashboard/assets/")
            req = build_http_request(request, b"", {"name": name})
            return encode_http_response(dashboard.dashboard_asset(req))
        await asyncio.sleep(self.api_delay_s)
        doc = self.documents(path)
        if doc is None:
            error = {"code": "not_found", "message": f"nothing at /api/{path}"}
            return web.json_response({"error": {**error, "hint": NOT_FOUND_HINT}}, status=404)
        return web.json_response(doc)

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        app.router.add_route("POST", "/api/rollouts/{endpoint}/{action}", self._handle_post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class AppServer(_LoopServer):
    """The app's operator API and dashboard functions under devhost (its routing and key
    check), reading ``engine``."""

    def __init__(self, engine: Engine, key: str = KEY) -> None:
        super().__init__(key)
        self.engine = engine
        self._host: DevHost | None = None

    def get(self, path: str) -> Any:
        """``GET /api/{path}`` with the key, as JSON (loopback only)."""
        req = urllib.request.Request(
            f"{self.base_url}/api/{path}", headers={"x-functions-key": self.key.value}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    async def _start(self) -> str:
        import azure.functions as func

        from handlers import api, api_actions, api_history

        # a FunctionApp of its own: function_app.app's functions may be read only once
        app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
        for blueprint in (api.bp, api_actions.bp, api_history.bp, dashboard.bp):
            app.register_functions(blueprint)
        bootstrap.use_engine(self.engine)
        self._host = DevHost(
            discover(app, "api"), self.key, "api", HostOptions(port=0, run_timers=False)
        )
        return await self._host.start()

    async def _stop(self) -> None:
        try:
            if self._host is not None:
                await self._host.stop()
        finally:
            bootstrap.use_engine(None)


def scenario_engine(name: str = "regression_mid_stage") -> Engine:
    """The engine after a scenario of tests/scenarios/ has played to its end."""
    sim = Simulation(load_scenario(ROOT / "tests" / "scenarios" / f"{name}.json"))
    sim.run()
    return sim.engine


@contextmanager
def serving(documents: Documents | None = None) -> Iterator[DashboardServer]:
    server = DashboardServer(documents or fixture_documents())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def serving_app(engine: Engine) -> Iterator[AppServer]:
    server = AppServer(engine)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never Playwright's own browser downloads)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_dashboard(browser: Any, url: str, messages: list[str], key: str | None = KEY) -> Any:
    """A page on ``url``, its console errors and page errors collected, once it is ready:
    ``key`` entered in its sign-in form as an operator does (None: left at the form)."""
    page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
    page.on(
        "console",
        lambda m: (
            messages.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.goto(url)
    # a selector, not wait_for_function: the page's CSP forbids the eval that one uses
    page.wait_for_selector("body[data-state='key']", state="attached", timeout=15_000)
    if key is None:
        return page
    page.fill("#api-key", key)
    page.click("#key-submit")  # its handler sets the state to loading before click returns
    # ready, an error, or the form again (a refused key)
    settled = ", ".join(f"body[data-state='{s}']" for s in ("ready", "error", "key"))
    page.wait_for_selector(settled, state="attached", timeout=15_000)
    return page


def write_screenshot(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    messages: list[str] = []
    with serving() as server, chromium() as browser:
        url = f"{server.page_url}?refresh=0#/{ENDPOINT}/{ROLLOUT_ID}"
        page = open_dashboard(browser, url, messages)
        state = page.evaluate("document.body.dataset.state")
        if state != "ready" or messages:
            raise SystemExit(f"the dashboard did not render cleanly: {state} {messages}")
        page.screenshot(path=str(out), full_page=True)
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "dashboard.png"
    print(f"wrote {write_screenshot(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
