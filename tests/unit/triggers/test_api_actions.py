"""The action routes over HTTP: compact replies, ?full=true, retry, cancel and manual start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from handlers import api_actions
from shared import bootstrap
from shared.errors import TransientUpstreamError
from shared.model import Phase
from shared.ports import SlotWrite
from tests.engine_support import API_HEADERS, World, make_world
from tests.unit.triggers.test_handlers import body


@pytest.fixture
def world() -> Iterator[World]:
    w = make_world()
    w.judge.set("hold")
    bootstrap.use_engine(w.engine)
    yield w
    bootstrap.use_engine(None)


def act(
    endpoint: str, action: str, payload: Any, headers: dict[str, str] | None = None, **params: str
) -> func.HttpResponse:
    return api_actions.rollout_action(
        func.HttpRequest(
            "POST",
            f"/api/rollouts/{endpoint}/{action}",
            headers={**API_HEADERS, **(headers or {})},
            params=params,
            route_params={"endpoint": endpoint, "action": action},
            body=json.dumps(payload).encode(),
        )
    )


def start(payload: Any, **params: str) -> func.HttpResponse:
    return api_actions.start_rollout(
        func.HttpRequest(
            "POST",
            "/api/rollouts",
            headers=dict(API_HEADERS),
            params=params,
            body=json.dumps(payload).encode(),
        )
    )


def _end(w: World, phase: Phase) -> None:
    slot = w.store.read("fraud")
    assert slot.active is not None
    done = slot.active.evolve(phase=phase, updated_at=w.clock.now())
    w.store.write(slot, SlotWrite(active=None, waiting=slot.waiting, rollouts=(done,)))


def test_an_action_answers_the_new_state_and_its_decision_not_the_whole_document(
    world: World,
) -> None:
    world.engine.on_model_registered(world.model())
    resp = act("fraud", "pause", {"reason": "checking", "actor": "ana"})
    reply = body(resp)
    assert resp.status_code == 200 and set(reply) >= {"endpoint", "action", "rollout", "decision"}
    assert "decisions" not in reply and reply["action"] == "pause"
    assert reply["rollout"]["paused"] is True and "resume" in reply["rollout"]["allowed_actions"]
    assert reply["decision"]["reason"] == "PausedByOperator" and reply["decision"]["actor"] == "ana"


def test_full_true_answers_the_whole_document(world: World) -> None:
    world.engine.on_model_registered(world.model())
    by_query = body(act("fraud", "pause", {"reason": "checking"}, full="true"))
    assert "decisions" in by_query and by_query["rollout"]["paused"] is True
    by_body = body(act("fraud", "resume", {"reason": "fine", "full": True}))
    assert "decisions" in by_body and by_body["rollout"]["paused"] is False


def test_promote_full_in_the_body_still_promotes_to_100_percent(world: World) -> None:
    world.engine.on_model_registered(world.model())
    for _ in range(8):
        world.tick(70)
    assert world.store.read("fraud").active.phase in (Phase.SHADOWING, Phase.CANARY)  # type: ignore[union-attr]
    reply = body(act("fraud", "promote", {"reason": "ship it", "full": True}))
    assert reply["decision"]["reason"] == "PromotedByOperator"
    assert reply["rollout"]["phase"] == "Promoting"


def test_retry_starts_the_rolled_back_version_again_under_a_new_rollout_id(world: World) -> None:
    world.engine.on_model_registered(world.model())
    first = world.store.read("fraud").active
    assert first is not None
    _end(world, Phase.ROLLED_BACK)
    resp = act("fraud", "retry", {"reason": "the feature store is back", "actor": "ana"})
    reply = body(resp)
    assert resp.status_code == 200 and reply["outcome"] == "started"
    assert reply["rollout"]["id"] != first.id and reply["rollout"]["version"] == "7"
    assert reply["decision"]["reason"] == "RetriedByOperator"
    assert reply["decision"]["evidence"]["retry_of"] == first.id


def test_retry_of_an_active_rollout_is_a_409_naming_its_phase(world: World) -> None:
    world.engine.on_model_registered(world.model())
    resp = act("fraud", "retry", {"reason": "again"})
    err = body(resp)["error"]
    assert resp.status_code == 409 and err["code"] == "not_retryable"
    assert "Provisioning" in err["message"]


def test_cancel_drops_the_waiting_version_and_lists_it_as_ignored(world: World) -> None:
    world.engine.on_model_registered(world.model(version="7"))
    world.engine.on_model_registered(world.model(version="8"))
    reply = body(act("fraud", "cancel", {"reason": "bad build", "actor": "ana"}))
    assert reply["outcome"] == "cancelled" and reply["cancelled"]["model"]["version"] == "8"
    assert reply["decision"]["reason"] == "WaitingVersionCancelled"
    assert reply["waiting"] is None and world.store.read("fraud").waiting is None
    ignored = world.store.ignored_events()
    assert [(e.model.version, e.reason) for e in ignored] == [("8", "WaitingVersionCancelled")]
    again = act("fraud", "cancel", {"reason": "twice"})
    assert again.status_code == 409 and body(again)["error"]["code"] == "nothing_waiting"


def test_manual_start_is_201_with_the_new_rollout_matched_by_the_policy(world: World) -> None:
    resp = start({"model": "fraud", "version": "7", "reason": "event lost", "actor": "ana"})
    reply = body(resp)
    assert resp.status_code == 201 and reply["endpoint"] == "fraud"
    assert reply["rollout"]["model"] == "fraud" and reply["rollout"]["version"] == "7"
    assert reply["decision"]["reason"] == "StartedByOperator"
    assert reply["decision"]["actor"] == "ana"


def test_manual_start_on_a_busy_endpoint_is_202_and_waits(world: World) -> None:
    world.engine.on_model_registered(world.model(version="7"))
    resp = start({"model": "fraud", "version": "8", "reason": "next"})
    reply = body(resp)
    assert resp.status_code == 202 and reply["outcome"] == "waiting"
    assert reply["waiting"]["model"]["version"] == "8" and reply["rollout"]["version"] == "7"


def test_manual_start_refusals_say_why(world: World) -> None:
    nowhere = start({"model": "other", "version": "1", "reason": "x"})
    assert nowhere.status_code == 409 and body(nowhere)["error"]["details"]["reason"] == (
        "NoMatchingRule"
    )
    elsewhere = start({"model": "fraud", "version": "7", "reason": "x", "endpoint": "churn"})
    assert elsewhere.status_code == 400
    assert body(elsewhere)["error"]["code"] == "endpoint_mismatch"
    live = start({"model": "fraud", "version": "1", "reason": "x"})
    assert live.status_code == 409 and body(live)["error"]["details"]["reason"] == (
        "VersionAlreadyLive"
    )
    bad = start({"model": "fraud", "reason": "x"})
    assert bad.status_code == 400 and "version" in body(bad)["error"]["message"]


def test_manual_downgrade_needs_allow_downgrade(world: World) -> None:
    world.endpoints.add_endpoint("fraud", {"green": "azureml:fraud:9"}, {"green": 100})
    refused = start({"model": "fraud", "version": "8", "reason": "back"})
    assert refused.status_code == 409
    assert body(refused)["error"]["details"]["reason"] == "OlderThanLiveVersion"
    started = start({"model": "fraud", "version": "8", "reason": "back", "allow_downgrade": True})
    assert started.status_code == 201
    assert "older" in body(started)["decision"]["evidence"]["downgrade"]


def test_a_bad_full_parameter_is_a_400_before_the_action_is_taken(world: World) -> None:
    world.engine.on_model_registered(world.model(version="7"))
    resp = act("fraud", "pause", {"reason": "look"}, full="yes")
    assert resp.status_code == 400
    active = world.store.read("fraud").active
    assert active is not None and not active.paused
    decisions = world.store.page_decisions("fraud", active.id, 100, None).items
    assert all(d.reason != "PausedByOperator" for d in decisions)


def test_a_bad_full_parameter_on_a_manual_start_starts_nothing(world: World) -> None:
    resp = start({"model": "fraud", "version": "7", "reason": "event lost"}, full="1")
    assert resp.status_code == 400
    assert world.store.read("fraud").active is None


def test_a_lone_surrogate_in_a_manual_start_is_a_400_that_writes_nothing(world: World) -> None:
    raw = b'{"model": "fraud\\ud800", "version": "7", "reason": "x"}'
    resp = api_actions.start_rollout(
        func.HttpRequest("POST", "/api/rollouts", headers=dict(API_HEADERS), params={}, body=raw)
    )
    assert resp.status_code == 400 and "surrogate" in body(resp)["error"]["message"]
    assert world.store.read("fraud").active is None


def test_a_replaced_waiting_version_is_listed_with_the_ignored_events(world: World) -> None:
    world.engine.on_model_registered(world.model(version="7"))
    world.engine.on_model_registered(world.model(version="8"))
    resp = start({"model": "fraud", "version": "9", "reason": "hotfix"})
    assert resp.status_code == 202 and body(resp)["waiting"]["model"]["version"] == "9"
    ignored = world.store.ignored_events()
    assert [(e.model.version, e.reason) for e in ignored] == [("8", "WaitingVersionReplaced")]
    assert ignored[0].detail == "waiting azureml:fraud:8 replaced by azureml:fraud:9"


def test_cancel_is_done_even_when_listing_the_dropped_version_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot write holds the cancel (and its decision): a failure to list it with the
    ignored events afterwards never answers 503 for a cancel that happened."""
    world.engine.on_model_registered(world.model(version="7"))
    world.engine.on_model_registered(world.model(version="8"))

    def fail(_: object) -> bool:
        raise TransientUpstreamError("table storage unavailable")

    monkeypatch.setattr(world.store, "record_ignored", fail)
    resp = act("fraud", "cancel", {"reason": "bad build"})
    assert resp.status_code == 200 and body(resp)["outcome"] == "cancelled"
    assert world.store.read("fraud").waiting is None
    assert body(resp)["decision"]["reason"] == "WaitingVersionCancelled"


def test_a_model_name_with_a_colon_is_refused_before_anything_starts(world: World) -> None:
    """ ":" separates name and version in azureml:name:version: such a name cannot be deployed,
    and would defeat the check against the live version."""
    resp = start({"model": "fraud:x", "version": "7", "reason": "x"})
    assert resp.status_code == 400 and "fraud:x" in body(resp)["error"]["message"]
    assert world.store.read("fraud").active is None
