"""The four trigger families, called directly with azure.functions request objects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from handlers import alerts, api, api_actions, events, reconcile
from shared import bootstrap
from shared.model import Phase
from shared.ports import RolloutQuery
from tests.engine_support import API_HEADERS, WORKSPACE_ID, World, make_world

MODEL_EVENT = "Microsoft.MachineLearningServices.ModelRegistered"


@pytest.fixture
def world() -> Iterator[World]:
    w = make_world()
    bootstrap.use_engine(w.engine)
    yield w
    bootstrap.use_engine(None)


def _fn(name: str) -> Any:
    return {
        "on_model_registered": events.on_model_registered,
        "reconcile_rollouts": reconcile.reconcile_rollouts,
        "on_alert": alerts.on_alert,
        "list_rollouts": api.list_rollouts,
        "get_rollout": api.get_rollout,
        "rollout_action": api_actions.rollout_action,
    }[name]


def timer_context() -> func.Context:
    """The Context the worker gives a function declaring ``context`` (devhost's own)."""
    from devhost.invoke import DevContext

    return DevContext("tick-1", "reconcile_rollouts", ".")


def grid_event(event_id: str = "e1", version: Any = 7, name: str = "fraud") -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event_id,
        data={"ModelName": name, "ModelVersion": version, "ModelTags": {}, "ModelProperties": {}},
        topic=WORKSPACE_ID,
        subject=f"models/{name}:{version}",
        event_type=MODEL_EVENT,
        event_time=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        data_version="2",
    )


def http(
    method: str, url: str, body: Any = None, route: dict[str, str] | None = None, **params: str
) -> func.HttpRequest:
    raw = (
        body
        if isinstance(body, bytes)
        else (json.dumps(body).encode() if body is not None else b"")
    )
    return func.HttpRequest(
        method=method,
        url=url,
        headers=dict(API_HEADERS),
        params=params,
        route_params=route or {},
        body=raw,
    )


def body(resp: func.HttpResponse) -> Any:
    return json.loads(resp.get_body())


def alert_body(condition: str = "Fired", target: str = "fraud") -> dict[str, Any]:
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/1",
                "alertRule": "p99-latency",
                "severity": "Sev1",
                "signalType": "Metric",
                "monitorCondition": condition,
                "alertTargetIDs": [f"{WORKSPACE_ID}/onlineEndpoints/{target}".lower()],
                "firedDateTime": "2026-03-01T12:05:00Z",
            },
            "alertContext": {"conditionType": "SingleResourceMultipleMetricCriteria"},
        },
    }


def test_index_lists_every_function_with_its_trigger_and_the_api_checks_its_own_key() -> None:
    """function_app declares exactly the four trigger families; the alerts webhook keeps the
    host's FUNCTION key, the operator API is ANONYMOUS at host level (the app checks the key,
    so a missing one is answered in the JSON error shape)."""
    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    assert set(functions) == {
        "on_model_registered",
        "reconcile_rollouts",
        "on_alert",
        "list_rollouts",
        "list_ignored_events",
        "get_rollout",
        "rollout_action",
        "start_rollout",
        "purge_history",
        "dashboard",
        "dashboard_asset",
        "rollout_history",
        "rollout_by_id",
        "rollout_decisions",
        "rollout_series",
        "list_events",
        "openapi_document",
        "health",
    }
    triggers = {n: f.get_trigger().get_binding_name() for n, f in functions.items()}
    assert triggers["on_model_registered"] == "eventGridTrigger"
    assert triggers["reconcile_rollouts"] == "timerTrigger"
    timer = json.loads(functions["reconcile_rollouts"].get_function_json())["bindings"][0]
    assert timer["schedule"] == "0 */1 * * * *" and timer["useMonitor"] is True

    def auth(name: str) -> str:
        return str(json.loads(functions[name].get_function_json())["bindings"][0]["authLevel"])

    assert auth("on_alert") == "FUNCTION"
    for name in (
        "list_rollouts",
        "list_ignored_events",
        "get_rollout",
        "rollout_action",
        "start_rollout",
        "rollout_history",
        "rollout_by_id",
        "rollout_decisions",
        "rollout_series",
        "list_events",
        "openapi_document",
        "health",
        "dashboard",
        "dashboard_asset",
    ):
        assert auth(name) == "ANONYMOUS", name
    routes = {
        n: json.loads(f.get_function_json())["bindings"][0].get("route")
        for n, f in functions.items()
    }
    assert routes["rollout_action"] == "rollouts/{endpoint}/{action}"
    assert routes["start_rollout"] == "rollouts"


def test_event_grid_event_starts_a_rollout_once(world: World) -> None:
    events.on_model_registered(grid_event("e1", 7))
    events.on_model_registered(grid_event("e1", 7))
    assert len(world.store.list_rollouts(RolloutQuery(endpoint="fraud"))) == 1


def test_an_event_from_another_workspaces_topic_is_ignored_and_listed(world: World) -> None:
    """The topic of Azure ML's system topic is the workspace's ARM id
    (event-schema-machine-learning.md): a model of another workspace is not ours to deploy."""
    other = func.EventGridEvent(
        id="e9",
        data={"ModelName": "fraud", "ModelVersion": 7, "ModelTags": {}},
        topic=WORKSPACE_ID.replace("/workspaces/ws", "/workspaces/other"),
        subject="models/fraud:7",
        event_type=MODEL_EVENT,
        event_time=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        data_version="2",
    )
    events.on_model_registered(other)
    assert world.store.list_rollouts(RolloutQuery(endpoint="fraud")) == []
    ignored, _ = world.engine.page_ignored()
    assert [i["reason"] for i in ignored] == ["OtherWorkspace"]
    events.on_model_registered(grid_event("e10", 7))  # its own workspace, in any case
    assert world.store.read("fraud").active is not None


def test_cloud_events_schema_is_accepted(world: World) -> None:
    event = func.CloudEvent(
        id="ce-1",
        source=WORKSPACE_ID,
        type=MODEL_EVENT,
        specversion="1.0",
        data={"ModelName": "fraud", "ModelVersion": "7", "ModelTags": {}},
        subject="models/fraud:7",
        time=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )
    events.on_model_registered(event)
    active = world.store.read("fraud").active
    assert active is not None and active.model.version == "7"


def test_model_version_may_be_a_string_or_a_number(world: World) -> None:
    events.on_model_registered(grid_event("e1", "7"))
    events.on_model_registered(grid_event("e2", 8))
    active = world.store.read("fraud").active
    assert active is not None and active.model.version == "7"
    assert world.store.read("fraud").waiting.model.version == "8"  # type: ignore[union-attr]


def test_malformed_event_is_dropped_and_changes_nothing(world: World) -> None:
    bad = func.EventGridEvent(
        id="bad",
        data={"ModelVersion": 3},
        topic=WORKSPACE_ID,
        subject="",
        event_type=MODEL_EVENT,
        event_time=None,
        data_version="2",
    )
    events.on_model_registered(bad)
    assert world.store.list_rollouts(RolloutQuery()) == []


def test_an_event_whose_tags_are_too_large_to_store_is_dropped_and_changes_nothing(
    world: World,
) -> None:
    """200 tags of 5,000 characters would make a slot row no Table write can hold (1 MiB):
    refused at ingest, before anything is written."""
    big = func.EventGridEvent(
        id="big",
        data={
            "ModelName": "fraud",
            "ModelVersion": 7,
            "ModelTags": {f"t{i}": "é" * 900 for i in range(5)},
        },
        topic=WORKSPACE_ID,
        subject="models/fraud:7",
        event_type=MODEL_EVENT,
        event_time=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        data_version="2",
    )
    events.on_model_registered(big)
    assert world.store.list_rollouts(RolloutQuery()) == []


def test_other_event_types_are_ignored(world: World) -> None:
    other = func.EventGridEvent(
        id="x",
        data={},
        topic=WORKSPACE_ID,
        subject="runs/1",
        event_type="Microsoft.MachineLearningServices.RunCompleted",
        event_time=None,
        data_version="2",
    )
    events.on_model_registered(other)
    assert world.store.list_rollouts(RolloutQuery()) == [] and world.store.ignored_events() == []


def test_timer_reconciles_active_rollouts(world: World) -> None:
    events.on_model_registered(grid_event())
    for _ in range(2):  # the fake deployment provisions over one read
        world.clock.advance(70)
        reconcile.reconcile_rollouts(TimerRequest(past_due=True), timer_context())
    active = world.store.read("fraud").active
    assert active is not None and active.phase is Phase.SHADOWING


def test_fired_alert_rolls_back_and_resolved_alert_says_why(world: World) -> None:
    world.judge.set("hold")
    events.on_model_registered(grid_event())
    for _ in range(6):
        world.tick(70)
    resolved = alerts.on_alert(http("POST", "/api/alerts", alert_body("Resolved")))
    assert resolved.status_code == 200
    assert body(resolved)["results"][0]["outcome"] == "ignored"
    fired = alerts.on_alert(http("POST", "/api/alerts", alert_body("Fired")))
    assert body(fired)["results"][0]["outcome"] == "rolled_back"
    assert world.endpoints.traffic("fraud") == {"blue": 100}


def log_alert_body(*dimensions: tuple[str, str]) -> dict[str, Any]:
    """A log search alert (Log Alerts V2) as the common schema sends it: its target is the
    rule's scope (the workspace), its dimensions the query's columns (MicrosoftDocs/
    azure-monitor-docs alerts-log-webhook.md sample: conditionType LogQueryCriteria,
    allOf[].dimensions [{name, value}]); AmlOnlineEndpointTrafficLog's columns include
    EndpointName and DeploymentName."""
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/2",
                "alertRule": "5xx-from-logs",
                "severity": "Sev2",
                "signalType": "Log",
                "monitorCondition": "Fired",
                "monitoringService": "Log Alerts V2",
                "alertTargetIDs": [WORKSPACE_ID.lower()],
                "firedDateTime": "2026-03-01T12:05:00Z",
            },
            "alertContext": {
                "properties": None,
                "conditionType": "LogQueryCriteria",
                "condition": {
                    "windowSize": "PT5M",
                    "allOf": [
                        {
                            "searchQuery": "AmlOnlineEndpointTrafficLog | where ResponseCode > 499",
                            "metricMeasureColumn": None,
                            "operator": "GreaterThan",
                            "threshold": "10",
                            "timeAggregation": "Count",
                            "dimensions": [{"name": n, "value": v} for n, v in dimensions],
                            "metricValue": 42,
                        }
                    ],
                },
            },
        },
    }


def _canary_serving(world: World) -> None:
    world.judge.set("hold")
    events.on_model_registered(grid_event())
    for _ in range(6):
        world.tick(70)


def test_a_log_search_alert_split_by_endpoint_and_deployment_rolls_the_canary_back(
    world: World,
) -> None:
    _canary_serving(world)
    canary = world.store.read("fraud").active.canary  # type: ignore[union-attr]
    on_baseline = log_alert_body(("EndpointName", "fraud"), ("DeploymentName", "blue"))
    kept = alerts.on_alert(http("POST", "/api/alerts", on_baseline))
    assert [r["outcome"] for r in body(kept)["results"]] == ["not_rolled_back"]
    fired = log_alert_body(("EndpointName", "fraud"), ("DeploymentName", canary))
    resp = alerts.on_alert(http("POST", "/api/alerts", fired))
    assert [r["outcome"] for r in body(resp)["results"]] == ["rolled_back"]
    assert world.endpoints.traffic("fraud") == {"blue": 100}


def test_a_log_search_alert_split_by_resource_id_rolls_the_canary_back(world: World) -> None:
    _canary_serving(world)
    fired = log_alert_body(("_ResourceId", f"{WORKSPACE_ID}/onlineendpoints/fraud".lower()))
    resp = alerts.on_alert(http("POST", "/api/alerts", fired))
    assert [r["outcome"] for r in body(resp)["results"]] == ["rolled_back"]


def test_a_log_search_alert_naming_no_endpoint_is_ignored_and_says_how_to_split_it(
    world: World,
) -> None:
    _canary_serving(world)
    resp = alerts.on_alert(http("POST", "/api/alerts", log_alert_body(("Computer", "vm1"))))
    result = body(resp)["results"][0]
    assert resp.status_code == 200 and result["outcome"] == "ignored"
    assert "EndpointName" in result["reason"]
    active = world.store.read("fraud").active
    assert active is not None and active.phase is not Phase.ROLLING_BACK


def test_alert_for_an_unknown_target_is_2xx_and_says_why(world: World) -> None:
    resp = alerts.on_alert(http("POST", "/api/alerts", alert_body(target="nobody")))
    assert resp.status_code == 200
    assert "no active rollout" in body(resp)["results"][0]["reason"]


@pytest.mark.parametrize(
    "raw", [b"", b"{not json", b"[]", json.dumps({"schemaId": "other"}).encode()]
)
def test_malformed_alert_is_400(world: World, raw: bytes) -> None:
    resp = alerts.on_alert(http("POST", "/api/alerts", raw))
    assert resp.status_code == 400 and body(resp)["error"]["code"] == "invalid_input"


def test_list_get_and_act_over_http(world: World) -> None:
    events.on_model_registered(grid_event())
    listed = api.list_rollouts(http("GET", "/api/rollouts", endpoint="fraud", active="true"))
    assert listed.status_code == 200 and body(listed)["count"] == 1
    got = api.get_rollout(http("GET", "/api/rollouts/fraud", route={"endpoint": "fraud"}))
    detail = body(got)
    assert detail["rollout"]["phase"] == "Provisioning" and detail["decisions"]
    assert detail["decisions"][0]["reason"] == "Admitted"
    paused = api_actions.rollout_action(
        http(
            "POST",
            "/api/rollouts/fraud/pause",
            {"reason": "checking dashboards", "actor": "ana"},
            route={"endpoint": "fraud", "action": "pause"},
        )
    )
    assert paused.status_code == 200 and body(paused)["rollout"]["paused"] is True


def test_api_errors_are_json_with_codes(world: World) -> None:
    unknown = api.get_rollout(http("GET", "/api/rollouts/nope", route={"endpoint": "nope"}))
    assert unknown.status_code == 404 and body(unknown)["error"]["code"] == "unknown_endpoint"
    events.on_model_registered(grid_event())
    forbidden = api_actions.rollout_action(
        http("POST", "/", {"reason": "now"}, route={"endpoint": "fraud", "action": "promote"})
    )
    assert forbidden.status_code == 409 and body(forbidden)["error"]["code"] == "phase_conflict"
    no_reason = api_actions.rollout_action(
        http("POST", "/", {"actor": "x"}, route={"endpoint": "fraud", "action": "pause"})
    )
    assert no_reason.status_code == 400
    bad_action = api_actions.rollout_action(
        http("POST", "/", {"reason": "x"}, route={"endpoint": "fraud", "action": "explode"})
    )
    assert bad_action.status_code == 400 and body(bad_action)["error"]["code"] == "unknown_action"
    bad_phase = api.list_rollouts(http("GET", "/api/rollouts", phase="Sleeping"))
    assert bad_phase.status_code == 400
    before = world.store.read("fraud")
    assert before.active is not None and not before.active.paused


def test_misconfigured_app_answers_500_with_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bootstrap.use_engine(None)
    for name in ("AZURE_SUBSCRIPTION_ID", "AUTOCANARY_POLICY_FILE", "AUTOCANARY_POLICY"):
        monkeypatch.delenv(name, raising=False)
    resp = api.list_rollouts(http("GET", "/api/rollouts"))
    assert resp.status_code == 500
    error = body(resp)["error"]
    assert error["code"] == "configuration_error" and "AZURE_SUBSCRIPTION_ID" in error["message"]
