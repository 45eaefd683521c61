"""The handlers' input rules: both ModelRegistered casings, bad input dropped or 4xx, logs safe."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from handlers import alerts, api, api_actions, events
from shared import bootstrap
from shared.errors import InvalidInput
from shared.model import deployment_name
from shared.ports import RolloutQuery
from tests.engine_support import WORKSPACE_ID, World, make_world
from tests.unit.triggers.test_handlers import MODEL_EVENT, alert_body, body, http


@pytest.fixture
def world() -> Iterator[World]:
    w = make_world()
    bootstrap.use_engine(w.engine)
    yield w
    bootstrap.use_engine(None)


def event(data: Any, *, event_id: Any = "e1", subject: Any = None) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event_id,
        data=data,
        topic=WORKSPACE_ID,
        subject=subject,
        event_type=MODEL_EVENT,
        event_time=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        data_version="2",
    )


def nothing_written(w: World) -> bool:
    return w.store.list_rollouts(RolloutQuery()) == [] and w.store.ignored_events() == []


def camel(name: str = "fraud", version: Any = 7, tags: Any = None) -> dict[str, Any]:
    """ModelRegisteredEventData as the spec's schema names it (camelCase)."""
    return {"modelName": name, "modelVersion": version, "modelTags": tags or {}}


def canary_at_stage_0(world: World) -> None:
    """A canary with live traffic: the judge clears the shadow, then holds the first stage."""
    world.judge.set("promote")  # clears the shadow
    events.on_model_registered(event(camel()))
    for _ in range(20):
        world.tick(70)
        active = world.store.read("fraud").active
        if active is not None and active.stage == 0:
            break
    world.judge.set("hold")
    world.tick(70)


# ----------------------------------------------------------------------- camelCase data


def test_camel_case_data_starts_a_rollout(world: World) -> None:
    events.on_model_registered(event(camel(version="7")))
    active = world.store.read("fraud").active
    assert active is not None and active.model.name == "fraud" and active.model.version == "7"


def test_camel_case_tags_are_read_so_skip_opts_out(world: World) -> None:
    """modelTags {autocanary: skip}: ignored with its reason, no rollout (tags were dropped)."""
    events.on_model_registered(event(camel(tags={"autocanary": "skip"})))
    assert world.store.read("fraud").active is None
    ignored = world.store.ignored_events()
    assert [i.reason for i in ignored] == ["OptedOutByTag"]


def test_camel_case_numeric_version_is_accepted(world: World) -> None:
    events.on_model_registered(event(camel(version=12)))
    active = world.store.read("fraud").active
    assert active is not None and active.model.version == "12"


# ----------------------------------------------------------------------- dropped events


@pytest.mark.parametrize(
    ("data", "event_id", "subject"),
    [
        (camel(), "e1", 42),  # non-string subject
        (camel(), "e1", ["models/fraud:7"]),
        (camel(version=10**5000), "e1", None),  # past Python's int-to-str digit limit
        (camel(version=float("inf")), "e1", None),
        (camel(version="   "), "e1", None),  # whitespace-only version
        (camel(version="---"), "e1", None),
        (camel(name="fraud\nINFO forged line"), "e1", None),
        (camel(name="fraud\x00"), "e1", None),
        (camel(name="f" * 300), "e1", None),
        (camel(version="1\n2"), "e1", None),
        (camel(), "x" * 5000, None),  # event id too large to be a Table key
        (camel(), "", None),
        (camel(), 7, None),
        (camel(tags={"a": {"nested": 1}}), "e1", None),
        (camel(tags={"a": 10**5000}), "e1", None),
        ("[" * 100_000 + "]" * 100_000, "e1", None),  # deeply nested JSON text
        (camel(), "e\ud800", None),  # lone UTF-16 surrogates: legal JSON escapes, not text
        (camel(name="fraud\ud800"), "e1", None),
        (camel(name="fraud:x"), "e1", None),  # ":" splits azureml:name:version
        (camel(version="7\udfff"), "e1", None),
        (camel(tags={"team": "risk\ud800"}), "e1", None),
        (camel(tags={"t\ud800": "x"}), "e1", None),
        (True, "e1", None),
    ],
)
def test_bad_event_is_dropped_without_a_write_or_an_exception(
    world: World, data: Any, event_id: Any, subject: Any
) -> None:
    events.on_model_registered(event(data, event_id=event_id, subject=subject))
    assert nothing_written(world)


def test_forged_log_line_is_escaped(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A model name with a newline is dropped, and the log shows it escaped on one line."""
    with caplog.at_level(logging.INFO, logger="autocanary"):
        events.on_model_registered(event(camel(name="fraud\nERROR forged"), event_id="id\n1"))
    assert nothing_written(world)
    for record in caplog.records:
        assert "\n" not in record.getMessage()


def test_row_too_large_for_the_store_is_dropped_not_redelivered(world: World) -> None:
    """Tags that make a row over Table Storage's limits: logged and dropped (no exception)."""
    tags = {f"t{i}": "v" * 5000 for i in range(200)}  # 1 MB of tags
    events.on_model_registered(event(camel(tags=tags)))
    assert world.store.read("fraud").active is None


def test_long_version_still_makes_a_valid_deployment_name() -> None:
    """A 40-character version fits Azure's 32-character deployment name rule, uniquely."""
    a, b = deployment_name("fraud", "a" * 40), deployment_name("fraud", "a" * 41)
    for name in (a, b):
        assert 3 <= len(name) <= 32 and name[0].isalpha() and name[-1].isalnum()
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert a != b


# ----------------------------------------------------------------------- HTTP


@pytest.mark.parametrize("limit", ["²", "١٢", "0", "501", "1" * 5000, "-1", " 5"])
def test_limit_must_be_ascii_digits_in_range(world: World, limit: str) -> None:
    resp = api.list_rollouts(http("GET", "/api/rollouts", limit=limit))
    assert resp.status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"reason": "x", "actor": ' + b"9" * 5000 + b"}",
        b"\xff\xfe",
    ],
)
def test_hostile_json_bodies_are_400(world: World, raw: bytes) -> None:
    for resp in (
        alerts.on_alert(http("POST", "/api/alerts", raw)),
        api_actions.rollout_action(
            http("POST", "/api/rollouts/fraud/pause", raw, {"endpoint": "fraud", "action": "pause"})
        ),
    ):
        assert resp.status_code == 400
        assert body(resp)["error"]["code"] == "invalid_input"


@pytest.mark.parametrize(
    "actor",
    [
        "alert:p99",
        "Alert:x",
        "engine",
        "ana\nINFO forged",
        "engine\u200b",  # a zero-width space after "engine"
        "alert\uff1ax",  # a fullwidth colon
        "x\u2028y",  # a line separator
    ],
)
def test_operator_cannot_act_as_an_alert_or_the_engine(world: World, actor: str) -> None:
    events.on_model_registered(event(camel()))
    route = {"endpoint": "fraud", "action": "pause"}
    resp = api_actions.rollout_action(http("POST", "/x", {"reason": "look", "actor": actor}, route))
    assert resp.status_code == 400
    active = world.store.read("fraud").active
    assert active is not None and not active.paused


def test_alert_reply_lists_each_target_and_a_bad_one_fails_nothing(world: World) -> None:
    canary_at_stage_0(world)
    raw = alert_body()
    ess = raw["data"]["essentials"]
    too_long = f"{WORKSPACE_ID}/onlineEndpoints/{'x' * 600}"  # not storable as a Table key
    ess["alertTargetIDs"] = [42, too_long, *ess["alertTargetIDs"]]
    resp = alerts.on_alert(http("POST", "/api/alerts", raw))
    assert resp.status_code == 200
    results = body(resp)["results"]
    assert [r["outcome"] for r in results] == ["invalid_target", "invalid_target", "rolled_back"]
    assert results[2]["endpoint"] == "fraud" and results[2]["target"] == ess["alertTargetIDs"][2]
    assert world.endpoints.traffic("fraud") == {"blue": 100}


def test_alert_on_the_baseline_dimension_keeps_the_canary(world: World) -> None:
    canary_at_stage_0(world)
    raw = alert_body()
    raw["data"]["alertContext"]["condition"] = {
        "windowSize": "PT5M",
        "allOf": [
            {
                "metricName": "RequestLatency_P99",
                "dimensions": [{"name": "deployment", "value": "blue"}],
                "operator": "GreaterThan",
                "threshold": "200",
                "metricValue": 512.0,
            }
        ],
    }
    resp = alerts.on_alert(http("POST", "/api/alerts", json.dumps(raw).encode()))
    result = body(resp)["results"][0]
    assert result["outcome"] == "not_rolled_back" and result["reason"] == "AlertOnOtherDeployment"
    assert world.endpoints.traffic("fraud") == {"blue": 90, "fraud-v7": 10}


def test_a_lone_surrogate_target_is_rejected_alone_and_the_others_roll_back(world: World) -> None:
    canary_at_stage_0(world)
    raw = alert_body()
    ess = raw["data"]["essentials"]
    ess["alertTargetIDs"] = [f"{WORKSPACE_ID}/onlineendpoints/churn\ud800", *ess["alertTargetIDs"]]
    resp = alerts.on_alert(http("POST", "/api/alerts", json.dumps(raw).encode()))
    assert resp.status_code == 200
    assert [r["outcome"] for r in body(resp)["results"]] == ["invalid_target", "rolled_back"]
    assert world.endpoints.traffic("fraud") == {"blue": 100}


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_in_any_body_are_400_and_stored_nowhere(
    world: World, constant: bytes
) -> None:
    raw = json.dumps(alert_body()).encode().replace(b'"Sev1"', constant)
    assert alerts.on_alert(http("POST", "/api/alerts", raw)).status_code == 400
    route = {"endpoint": "fraud", "action": "pause"}
    pause = b'{"reason": "x", "full": ' + constant + b"}"
    assert api_actions.rollout_action(http("POST", "/x", pause, route)).status_code == 400
    assert nothing_written(world)


def test_answers_are_valid_json_even_over_a_stored_non_finite_number() -> None:
    from handlers._http import json_response

    resp = json_response({"evidence": {"threshold": float("nan"), "xs": [float("inf"), 1.5]}})
    assert json.loads(resp.get_body(), parse_constant=lambda c: pytest.fail(c)) == {
        "evidence": {"threshold": None, "xs": [None, 1.5]}
    }


@pytest.mark.parametrize(
    ("fn", "url", "params"),
    [
        (api.list_rollouts, "/api/rollouts", {"limt": "5"}),
        (api.list_ignored_events, "/api/ignored-events", {"endpoint": "fraud"}),
        (api.get_rollout, "/api/rollouts/fraud", {"full": "true"}),
    ],
)
def test_an_unknown_query_parameter_is_a_400_that_names_it(
    world: World, fn: Any, url: str, params: dict[str, str]
) -> None:
    resp = fn(http("GET", url, None, {"endpoint": "fraud"}, **params))
    assert resp.status_code == 400
    assert body(resp)["error"]["code"] == "unknown_parameter"
    assert repr(next(iter(params))) in body(resp)["error"]["message"]


def test_an_unknown_query_parameter_on_an_action_changes_nothing(world: World) -> None:
    events.on_model_registered(event(camel()))
    route = {"endpoint": "fraud", "action": "pause"}
    resp = api_actions.rollout_action(http("POST", "/x", {"reason": "look"}, route, ful="true"))
    assert resp.status_code == 400 and body(resp)["error"]["code"] == "unknown_parameter"
    active = world.store.read("fraud").active
    assert active is not None and not active.paused


def test_the_key_parameter_is_always_accepted(world: World) -> None:
    assert api.list_rollouts(http("GET", "/api/rollouts", code="x" * 40)).status_code == 200


def test_a_write_the_store_refuses_for_its_size_is_raised_for_redelivery_not_dropped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's own state outgrew a row (the event's size is checked as it is decoded): the
    event is raised, so Event Grid sends it again and finally dead-letters it."""

    def too_large(*args: object, **kwargs: object) -> object:
        raise InvalidInput(
            "the slot of endpoint 'fraud' is too large to store",
            details={"bytes": 1_049_031, "limit": 1_048_576, "store_limit": True},
        )

    monkeypatch.setattr(world.engine, "on_model_registered", too_large)
    with pytest.raises(InvalidInput):
        events.on_model_registered(event(camel()))


def test_an_engine_that_cannot_load_its_policy_raises_the_event_for_redelivery(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A policy typo deployed (here 'stage' for 'stages') is the app's fault, not the event's:
    the event is raised, so Event Grid delivers it again, and once the policy is fixed the
    same event is recorded; nothing is lost or dropped as malformed."""
    from shared.policy import load_policy_text

    def broken_engine() -> object:
        load_policy_text(
            "rules:\n  - name: fraud\n    match: {model: 'fraud*'}\n    endpoint: fraud\n"
            "    stage: [{weight: 100}]\n"
        )
        raise AssertionError("the policy above must not load")

    monkeypatch.setattr(bootstrap, "engine", broken_engine)
    with pytest.raises(InvalidInput):
        events.on_model_registered(event(camel()))
    assert nothing_written(world)
    monkeypatch.undo()  # the policy fixed: the redelivered event is recorded
    bootstrap.use_engine(world.engine)
    events.on_model_registered(event(camel()))
    assert world.store.read("fraud").active is not None


def test_a_stored_row_the_engine_refuses_raises_the_event_instead_of_dropping_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any InvalidInput past decoding comes from the app's own state (a row this version
    refuses): raised for redelivery, never dropped."""

    def refuses(*args: object, **kwargs: object) -> object:
        raise InvalidInput("policy field 'policy.headroom': must be from 1 to 10")

    monkeypatch.setattr(world.engine, "on_model_registered", refuses)
    with pytest.raises(InvalidInput):
        events.on_model_registered(event(camel()))
