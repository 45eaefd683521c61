"""GET /api/openapi.json: a valid OpenAPI 3.1 document of every route, and every route's real
responses validate against it (in process: each request is routed with the Functions host's
route templates, as devhost does, to the function the app declares)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec

import function_app
from devhost.routes import RouteTemplate, compile_route, precedence_key
from handlers.openapi import document
from shared import bootstrap
from shared.model import ModelRef
from shared.ports import RolloutQuery
from shared.services import Engine
from shared.simulation.runner import Simulation
from shared.simulation.scenario import parse_scenario
from tests.engine_support import API_KEY

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
# Documented for routes other modules of the app serve once they are registered.
PENDING: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Route:
    name: str
    template: RouteTemplate
    methods: tuple[str, ...]
    call: Callable[[func.HttpRequest], func.HttpResponse]

    @property
    def path(self) -> str:
        return "/" + self.template.template.strip("/")


def _app() -> func.FunctionApp:
    """A private copy of the app: ``FunctionApp.get_functions`` may run once per app, and other
    tests index ``function_app.app`` itself."""
    spec = importlib.util.spec_from_file_location("_openapi_function_app", function_app.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app  # type: ignore[no-any-return]


def _routes() -> list[Route]:
    out = []
    for f in _app().get_functions():
        binding = json.loads(f.get_function_json())["bindings"][0]
        if binding["type"] != "httpTrigger":
            continue
        out.append(
            Route(
                f.get_function_name(),
                compile_route(binding["route"]),
                tuple(m.lower() for m in binding["methods"]),
                f.get_user_function(),
            )
        )
    return sorted(out, key=lambda r: precedence_key(r.template))


ROUTES = _routes()
DOC = document()


def test_the_document_is_valid_openapi_3_1() -> None:
    validate_spec(DOC)
    assert DOC["openapi"].startswith("3.1")


def test_every_route_the_app_declares_is_documented() -> None:
    served = {(m, r.path) for r in ROUTES for m in r.methods}
    documented = {(m, p) for p, item in DOC["paths"].items() for m in item}
    assert served - documented == set()
    assert documented - served <= PENDING


def _world(scenario: str, until: str | None = None) -> Simulation:
    raw = json.loads((SCENARIOS / scenario).read_text())
    if until is not None:
        raw["until"] = until
        raw.pop("expect", None)
    sim = Simulation(
        parse_scenario(raw, base_dir=SCENARIOS, name=scenario),
        check=False,
        stop_when_idle=until is None,
    )
    sim.run()
    return sim


@pytest.fixture(scope="module")
def worlds() -> Iterator[list[Simulation]]:
    ended = _world("judge_rollback.json")
    active = _world("good_rollout.json", until="25m")
    active.engine.on_model_registered(ModelRef("unmatched", "1", event_id="ev-unmatched"))
    yield [ended, active]
    bootstrap.use_engine(None)


class Checker:
    """Sends requests through the app's routes and validates each answer against DOC."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def send(self, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any]:
        for route in ROUTES:
            found = route.template.match("/api" + path)
            if found is not None and method.lower() in route.methods:
                break
        else:
            raise AssertionError(f"no route for {method} {path}")
        req = func.HttpRequest(
            method=method,
            url="/api" + path,
            headers={"content-type": "application/json", "x-functions-key": API_KEY},
            params=params,
            route_params=found.params,
            body=json.dumps(body).encode() if body is not None else b"",
        )
        resp = route.call(req)
        content = self._content(method.lower(), route.path, resp)
        if "application/json" not in content:  # the dashboard's page and files
            assert resp.mimetype in content or "*/*" in content, (path, resp.mimetype)
            self.seen.add((method.lower(), route.path))
            return resp.status_code, resp.get_body()
        payload = json.loads(resp.get_body())
        self._validate(method.lower(), route.path, resp, payload)
        return resp.status_code, payload

    def _content(self, method: str, path: str, resp: func.HttpResponse) -> dict[str, Any]:
        responses = DOC["paths"][path][method]["responses"]
        spec = responses.get(str(resp.status_code)) or responses["default"]
        content: dict[str, Any] = spec["content"]
        return content

    def _validate(self, method: str, path: str, resp: func.HttpResponse, payload: Any) -> None:
        schema = self._content(method, path, resp)["application/json"]["schema"]
        OAS31Validator({**schema, "components": DOC["components"]}).validate(payload)
        self.seen.add((method, path))


def test_every_route_answers_as_the_document_says(worlds: list[Simulation]) -> None:
    check = Checker()
    for sim in worlds:
        engine: Engine = sim.engine
        bootstrap.use_engine(engine)
        rollouts = sim.store.list_rollouts(RolloutQuery(limit=5))
        r = rollouts[0]
        base = f"/rollouts/{r.endpoint}"
        status, listed = check.send("GET", "/rollouts")
        assert status == 200 and listed["rollouts"][0]["cause"]
        assert check.send("GET", "/rollouts", endpoint=r.endpoint, active="true")[0] == 200
        status, detail = check.send("GET", base)
        assert status == 200 and detail["rollout"]["readings"]
        assert check.send("GET", f"{base}/history", limit="1")[0] == 200
        assert check.send("GET", f"{base}/history/{r.id}")[0] == 200
        status, page = check.send("GET", f"{base}/history/{r.id}/decisions", limit="2")
        assert status == 200 and page["count"] == 2 and page["continuation"]
        status, series = check.send("GET", f"{base}/history/{r.id}/series")
        assert status == 200 and series["minutes"] and series["phases"]
        assert check.send("GET", "/events", ignored="true")[0] == 200
        assert check.send("GET", "/ignored-events")[0] == 200
        assert check.send("GET", "/openapi.json")[1]["openapi"] == "3.1.0"
        status, report = check.send("GET", "/health")
        assert status == (200 if report["status"] == "ok" else 503) and report["checks"]
        if r.active:
            assert detail["rollout"]["traffic"]["live"] is not None
            status, _ = check.send("POST", f"{base}/pause", {"reason": "look", "actor": "ana"})
            assert status == 200
            status, full = check.send("POST", f"{base}/resume", {"reason": "ok"}, full="true")
            assert status == 200 and full["decisions"]
            started = {"model": r.model.name, "version": "99", "reason": "event lost"}
            assert check.send("POST", "/rollouts", started)[0] == 202  # waits behind r
            assert check.send("POST", f"{base}/cancel", {"reason": "not now"})[0] == 200
    # the dashboard: its page, a file of it, and an unknown file in the error shape
    assert check.send("GET", "/dashboard")[0] == 200
    assert check.send("GET", "/dashboard/assets/dashboard.js")[0] == 200
    assert check.send("GET", "/dashboard/assets/nope.js")[0] == 404
    # errors answer in the documented error shape
    assert check.send("GET", "/rollouts/nope")[0] == 404
    assert check.send("GET", "/rollouts/nope/history/r0")[0] == 404
    assert check.send("GET", "/rollouts/nope/history/r0/decisions")[0] == 404
    assert check.send("GET", "/rollouts/nope/history/r0/series")[0] == 404
    assert check.send("GET", "/rollouts/nope/history")[0] == 404
    assert check.send("GET", "/rollouts", limit="0")[0] == 400
    assert check.send("GET", "/events")[0] == 400
    assert check.send("POST", "/rollouts/fraud/explode", {"reason": "x"})[0] == 400
    resolved = {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/1",
                "alertRule": "p99-latency",
                "severity": "Sev1",
                "signalType": "Metric",
                "monitorCondition": "Resolved",
                "alertTargetIDs": [],
                "firedDateTime": "2026-03-01T12:05:00Z",
            },
            "alertContext": {"conditionType": "SingleResourceMultipleMetricCriteria"},
        },
    }
    assert check.send("POST", "/alerts", resolved)[0] == 200
    served = {(m, r.path) for r in ROUTES for m in r.methods}
    assert served - check.seen == set()


def test_each_route_takes_exactly_the_query_parameters_the_document_declares(
    worlds: list[Simulation],
) -> None:
    """A declared parameter is never refused as unknown; any other is (the key's ``code``
    aside; the dashboard's page and files take any)."""
    bootstrap.use_engine(worlds[0].engine)
    fill = {"endpoint": "fraud", "rollout_id": "r1", "action": "pause", "name": "x.js"}
    for route in ROUTES:
        for method in route.methods:
            op = DOC["paths"][route.path][method]
            if route.path == "/alerts" or route.path.startswith("/dashboard"):
                continue  # Azure Monitor's webhook, and the dashboard's page and files
            declared = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            for params, refused in [({n: "1" for n in declared}, False), ({"zzz": "1"}, True)]:
                req = func.HttpRequest(
                    method=method.upper(),
                    url="/api" + route.path,
                    headers={"content-type": "application/json", "x-functions-key": API_KEY},
                    params=params,
                    route_params={k: v for k, v in fill.items() if "{" + k + "}" in route.path},
                    body=b'{"reason": "x"}' if method == "post" else b"",
                )
                code = json.loads(route.call(req).get_body()).get("error", {}).get("code")
                assert (code == "unknown_parameter") is refused, (method, route.path, params)
