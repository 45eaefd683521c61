"""The dashboard on a loopback server, in headless Chromium: for its tests and `make screenshot`.

``DashboardServer`` serves ``GET /api/dashboard`` and its assets through the app's own handler
(``handlers.dashboard``, with the function key checked as the Functions host does) and the
operator API's read routes from a :class:`Documents` source: ``fixture_documents()`` gives
documents shaped as the API contract says, for a rollout rolled back by the judge.

``python -m tests.dashboard_support [OUT.png]`` writes the README's screenshot
(``make screenshot``, default ``docs/dashboard.png``).
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from devhost.bindings import discover
from devhost.host import DevHost, FunctionKey, HostOptions, build_http_request, encode_http_response
from handlers import dashboard
from shared import bootstrap
from shared.services import Engine
from shared.simulation.runner import Simulation
from shared.simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
KEY = "dashboard-test-key/+&"  # characters that must be escaped in the page's URLs
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

# An API path (no /api prefix, no query) -> its JSON document, or None for a 404.
Documents = Callable[[str], Any]

# ------------------------------------------------------------------ fixture documents
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
ENDPOINT = "fraud-scoring"
ROLLOUT_ID = "r-20260301-fraud-7"
CANARY, BASELINE = "fraud-v7", "fraud-v6"
#: (minute offset, phase, stage, reason, traffic split, mirror)
PHASES: list[tuple[int, str, int, str, dict[str, int], dict[str, int]]] = [
    (0, "Pending", -1, "RolloutStarted", {BASELINE: 100}, {}),
    (1, "Provisioning", -1, "DeploymentRequested", {BASELINE: 100}, {}),
    (5, "Shadowing", -1, "ShadowStarted", {BASELINE: 100}, {CANARY: 20}),
    (15, "Canary", 0, "ShadowComplete", {BASELINE: 90, CANARY: 10}, {}),
    (27, "Canary", 1, "JudgePromoted", {BASELINE: 75, CANARY: 25}, {}),
    (42, "RollingBack", 1, "JudgeRollback", {BASELINE: 100}, {}),
    (43, "RolledBack", 1, "RolloutEnded", {BASELINE: 100}, {}),
]
BAD_FROM = 36  # the canary's error rate rises from this minute
CAUSE = (
    "Rolled back: canary error rate 2.40 % vs baseline 0.30 % (48/2000 vs 6/2000 requests), "
    "over the rollback threshold since 10:38 UTC"
)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _at(minute: float) -> str:
    return _iso(T0 + timedelta(minutes=minute))


def _split_at(minute: int) -> tuple[dict[str, int], dict[str, int]]:
    split, mirror = PHASES[0][4], PHASES[0][5]
    for start, _phase, _stage, _reason, s, m in PHASES:
        if start <= minute:
            split, mirror = s, m
    return split, mirror


def _side(requests: int, rate_pct: float, p50: float, wiggle: float) -> dict[str, Any]:
    errors = round(requests * rate_pct / 100)
    return {
        "requests": requests,
        "errors": errors,
        "error_rate_pct": round(100 * errors / requests, 3) if requests else None,
        "p50_ms": round(p50 + 3 * wiggle, 1) if requests else None,
        "p95_ms": round(p50 * 2.1 + 9 * wiggle, 1) if requests else None,
        "p99_ms": round(p50 * 3.2 + 15 * wiggle, 1) if requests else None,
    }


def fixture_minutes() -> list[dict[str, Any]]:
    """One minute per row from the shadow's start to the rollback, 2000 requests a minute."""
    minutes = []
    for m in range(5, 42):
        split, mirror = _split_at(m)
        canary_share = split.get(CANARY, 0) or mirror.get(CANARY, 0)
        total = 2000
        wiggle = math.sin(m * 1.7)
        canary_rate = 0.3 + 0.1 * wiggle if m < BAD_FROM else 2.4 + 0.2 * wiggle
        minutes.append(
            {
                "t": _at(m),
                "canary": _side(total * canary_share // 100, canary_rate, 56.0, wiggle),
                "baseline": _side(
                    total * split.get(BASELINE, 0) // 100, 0.3 + 0.05 * wiggle, 54.0, -wiggle
                ),
            }
        )
    return minutes


def fixture_series() -> dict[str, Any]:
    return {
        "minutes": fixture_minutes(),
        "thresholds": {
            "error_rate_rollback_pct": 1.2,
            "guardrail_error_rate_pct": 5.0,
            "guardrail_p95_ms": 250.0,
        },
        "traffic": [{"t": _at(start), "split": s, "mirror": m} for start, *_x, s, m in PHASES],
        "phases": [
            {"t": _at(start), "phase": phase, "stage": stage, "reason": reason}
            for start, phase, stage, reason, _s, _m in PHASES
        ],
    }


def _why() -> dict[str, Any]:
    return {
        "reason": "JudgeRollback",
        "phase": "RolledBack",
        "actor": "engine",
        "at": _at(42),
        "message": "canary error rate regressed (e-value 212 >= 100)",
        "metric": "error_rate",
        "canary": {"value": 2.4, "unit": "%", "errors": 48, "requests": 2000},
        "baseline": {"value": 0.3, "unit": "%", "errors": 6, "requests": 2000},
        "threshold": {"value": 1.2, "unit": "%", "kind": "rollback"},
        "since": _at(BAD_FROM + 2),
        "minutes_used": [_at(m) for m in range(27, 42)],
    }


def fixture_view(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": ROLLOUT_ID,
        "endpoint": ENDPOINT,
        "model": "fraud",
        "version": "7",
        "phase": "RolledBack",
        "stage": 1,
        "weight": None,
        "paused": False,
        "pause_reason": None,
        "reason": "RolloutEnded",
        "message": "rolled back; canary fraud-v7 deleted",
        "baseline": BASELINE,
        "canary": CANARY,
        "created_at": _at(0),
        "updated_at": _at(43),
        "cause": CAUSE,
        "why": _why(),
        "stage_timing": {
            "index": 1,
            "count": 3,
            "weight": 25,
            "name": "stage 2",
            "started_at": _at(27),
            "deadline": _at(57),
            "time_in_stage_s": 900.0,
            "time_left_s": None,
        },
        "traffic": {
            "wanted": {BASELINE: 100},
            "wanted_mirror": {},
            "live": None,
            "live_mirror": None,
            "in_sync": None,
        },
        "allowed_actions": ["retry"],
        "outcome": "RolledBack",
        "ended_at": _at(43),
    }
    view.update(overrides)
    return view


def _words(percents: dict[str, int]) -> str:
    return ", ".join(f"{name} {pct} %" for name, pct in sorted(percents.items()))


def _decisions() -> list[dict[str, Any]]:
    out = []
    previous = PHASES[0][1]
    for seq, (start, phase, stage, reason, split, mirror) in enumerate(PHASES, start=1):
        out.append(
            {
                "seq": seq,
                "at": _at(start),
                "rollout_id": ROLLOUT_ID,
                "phase_from": previous,
                "phase_to": phase,
                "stage_from": stage,
                "stage_to": stage,
                "reason": reason,
                "message": f"traffic {_words(split)}"
                + (f", mirror {_words(mirror)}" if mirror else ""),
                "actor": "engine",
                "evidence": {},
                "effects": [],
            }
        )
        previous = phase
    return out


def fixture_readings() -> list[dict[str, Any]]:
    return [
        {
            "metric": "error_rate",
            "canary": 2.4,
            "baseline": 0.3,
            "unit": "%",
            "rollback_progress": 1.0,
            "clear_progress": 0.05,
            "state": "rollback",
        },
        {
            "metric": "latency_p95",
            "canary": 118.0,
            "baseline": 116.0,
            "unit": "ms",
            "rollback_progress": 0.1,
            "clear_progress": 0.7,
            "state": "hold",
        },
    ]


def _other_rollouts() -> list[dict[str, Any]]:
    active = fixture_view(
        id="r-20260301-churn-3",
        endpoint="churn-scoring",
        model="churn",
        version="3",
        phase="Canary",
        stage=0,
        weight=10,
        reason="JudgeHold",
        message="judging stage 1",
        baseline="churn-v2",
        canary="churn-v3",
        created_at=_at(20),
        updated_at=_at(44),
        cause="Judging: stage 1 of 3 (10 %), 1240 canary requests so far",
        allowed_actions=["pause", "promote", "rollback", "abort"],
        outcome=None,
        ended_at=None,
    )
    old = fixture_view(
        id="r-20260228-fraud-6",
        version="6",
        phase="Succeeded",
        canary=BASELINE,
        baseline="fraud-v5",
        created_at=_iso(T0 - timedelta(days=1)),
        updated_at=_iso(T0 - timedelta(hours=22)),
        cause="Succeeded: cleared every stage; old deployment fraud-v5 deleted",
        outcome="Succeeded",
        ended_at=_iso(T0 - timedelta(hours=22)),
    )
    return [active, old]


def fixture_detail() -> dict[str, Any]:
    view = fixture_view(readings=fixture_readings(), policy={})
    history = [
        {k: v for k, v in r.items() if k not in ("why", "stage_timing")}
        for r in [fixture_view(), _other_rollouts()[1]]
    ]
    return {
        "endpoint": ENDPOINT,
        "rollout": view,
        "waiting": None,
        "decisions": _decisions(),
        "decisions_continuation": None,
        "history": history,
    }


def _active_detail(view: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An active rollout's detail and series: a few minutes into its first stage."""
    split = {view["baseline"]: 90, view["canary"]: 10}
    detail = {
        "endpoint": view["endpoint"],
        "rollout": {**view, "readings": [], "policy": {}},
        "waiting": None,
        "decisions": [],
        "decisions_continuation": None,
        "history": [],
    }
    series = {
        "minutes": [
            {"t": _at(m), "canary": _side(200, 0.3, 50.0, 0), "baseline": _side(1800, 0.3, 50, 0)}
            for m in range(40, 44)
        ],
        "thresholds": {},
        "traffic": [{"t": _at(40), "split": split, "mirror": {}}],
        "phases": [{"t": _at(40), "phase": "Canary", "stage": 0, "reason": "StageStarted"}],
    }
    return detail, series


def fixture_ignored() -> list[dict[str, Any]]:
    return [
        {
            "event_id": "ev-credit-risk-4",
            "model": {"name": "credit-risk", "version": "4", "tags": {"team": "lending"}},
            "reason": "NoMatchingRule",
            "detail": "no rule of the policy matches model credit-risk with tags {team: lending}",
            "hint": "Add a rule for credit-risk to the policy, or tag the model as a rule expects.",
            "at": _at(31),
        }
    ]


def fixture_documents() -> Documents:
    """Three rollouts: fraud-scoring's rolled back (in full), churn-scoring's active one, and
    fraud-scoring's previous (listed only)."""
    active, old = _other_rollouts()
    rollouts = [fixture_view(), active, old]
    detail = fixture_detail()
    active_detail, active_series = _active_detail(active)
    at = f"rollouts/{active['endpoint']}"
    docs: dict[str, Any] = {
        "rollouts": {"rollouts": rollouts, "count": len(rollouts), "continuation": None},
        "events": {"events": fixture_ignored(), "count": 1, "continuation": None},
        f"rollouts/{ENDPOINT}": detail,
        f"rollouts/{ENDPOINT}/history/{ROLLOUT_ID}": detail,
        f"rollouts/{ENDPOINT}/history/{ROLLOUT_ID}/series": fixture_series(),
        at: active_detail,
        f"{at}/history/{active['id']}": active_detail,
        f"{at}/history/{active['id']}/series": active_series,
    }
    return docs.get


# ------------------------------------------------------------------ the servers
class _LoopServer:
    """An aiohttp server on a free loopback port, run by an event loop in its own thread."""

    def __init__(self, key: str) -> None:
        self.key = FunctionKey(key, "test")
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def page_url(self) -> str:
        return f"{self.base_url}/api/dashboard?code={quote(self.key.value, safe='')}"

    def start(self) -> str:
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
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        if not self.key.accepts(request):
            return web.json_response(
                {"error": {"code": "unauthorized", "message": "a function key is required"}},
                status=401,
            )
        path = request.path.removeprefix("/api/").rstrip("/")
        if path == "dashboard":
            return encode_http_response(dashboard.dashboard(build_http_request(request, b"", {})))
        if path.startswith("dashboard/assets/"):
            name = path.removeprefix("dashboard/assets/")
            req = build_http_request(request, b"", {"name": name})
            return encode_http_response(dashboard.dashboard_asset(req))
        doc = self.documents(path)
        if doc is None:
            error = {"code": "not_found", "message": f"nothing at /api/{path}"}
            return web.json_response({"error": {**error, "hint": NOT_FOUND_HINT}}, status=404)
        return web.json_response(doc)

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
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

    async def _start(self) -> str:
        import azure.functions as func

        from handlers import api

        # a FunctionApp of its own: function_app.app's functions may be read only once
        app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
        for blueprint in (api.bp, dashboard.bp):
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


def open_dashboard(browser: Any, url: str, messages: list[str]) -> Any:
    """A page on ``url``, its console errors and page errors collected, once it is ready."""
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
    page.wait_for_selector(
        "body[data-state='ready'], body[data-state='error']", state="attached", timeout=15_000
    )
    return page


def write_screenshot(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    messages: list[str] = []
    with serving() as server, chromium() as browser:
        url = f"{server.page_url}&refresh=0#/{ENDPOINT}/{ROLLOUT_ID}"
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
