"""History reads over HTTP are paged: ``?limit=`` and the ``continuation`` of the last page."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from handlers import api, api_history, reconcile
from shared import bootstrap
from shared.model import Phase
from shared.ports import RolloutQuery, SlotWrite
from shared.store_index import encode_token
from tests.engine_support import API_HEADERS, World, make_world


@pytest.fixture
def world() -> Iterator[World]:
    w = make_world()
    bootstrap.use_engine(w.engine)
    yield w
    bootstrap.use_engine(None)


def get(fn: Any, url: str, **params: str) -> tuple[int, dict[str, Any]]:
    resp = fn(func.HttpRequest("GET", url, headers=dict(API_HEADERS), params=params, body=b""))
    return resp.status_code, json.loads(resp.get_body())


def run_and_end(w: World, name: str, version: str) -> None:
    assert w.engine.on_model_registered(w.model(name, version)).outcome == "started"
    endpoint = "fraud" if name.startswith("fraud") else "churn"
    slot = w.store.read(endpoint)
    assert slot.active is not None
    done = slot.active.evolve(phase=Phase.FAILED, updated_at=w.clock.now())
    w.store.write(slot, SlotWrite(active=None, waiting=None, rollouts=(done,)))
    w.clock.advance(60)


def test_rollouts_are_listed_page_by_page_until_no_continuation(world: World) -> None:
    for version in ("2", "3", "4"):  # version 1 is live: it starts no rollout
        run_and_end(world, "fraud", version)
    run_and_end(world, "churn", "2")
    ids: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    for _ in range(5):  # bounded: four rollouts at two a page
        status, page = get(api.list_rollouts, "/api/rollouts", **params)
        assert status == 200 and page["count"] == len(page["rollouts"]) <= 2
        ids.extend(r["id"] for r in page["rollouts"])
        if page["continuation"] is None:
            break
        params = {"limit": "2", "continuation": page["continuation"]}
    stored = world.store.list_rollouts(RolloutQuery(limit=10))
    assert sorted(ids) == sorted(r.id for r in stored) and len(ids) == 4


def test_a_malformed_continuation_is_a_400_that_names_it(world: World) -> None:
    status, body = get(api.list_rollouts, "/api/rollouts", continuation="garbage!")
    assert status == 400 and body["error"]["code"] == "bad_continuation"


def test_ignored_events_are_paged_newest_first(world: World) -> None:
    for i in range(3):
        world.engine.on_model_registered(world.model("ranker", str(i)))
        world.clock.advance(60)
    status, first = get(api.list_ignored_events, "/api/ignored-events", limit="2")
    assert status == 200
    assert [e["model"]["version"] for e in first["events"]] == ["2", "1"]
    status, rest = get(
        api.list_ignored_events,
        "/api/ignored-events",
        limit="2",
        continuation=first["continuation"],
    )
    assert [e["model"]["version"] for e in rest["events"]] == ["0"]
    assert rest["continuation"] is None


def test_the_retention_timer_deletes_old_history(world: World) -> None:
    run_and_end(world, "fraud", "2")
    world.clock.advance((world.engine.retention + timedelta(days=1)).total_seconds())
    reconcile.purge_history(TimerRequest(past_due=False))
    assert world.store.list_rollouts(RolloutQuery(endpoint="fraud")) == []


def test_a_deeply_nested_continuation_is_a_400_not_a_crash(world: World) -> None:
    deep = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")
    status, body = get(api.list_rollouts, "/api/rollouts", continuation=deep)
    assert status == 400 and body["error"]["code"] == "bad_continuation"


def test_a_continuation_never_answers_for_an_unknown_endpoint_or_rollout(world: World) -> None:
    token = encode_token({"PartitionKey": "p", "RowKey": "r"})
    assert token is not None
    req = func.HttpRequest(
        "GET",
        "/api/rollouts/nope/history",
        headers=dict(API_HEADERS),
        params={"continuation": token},
        route_params={"endpoint": "nope"},
        body=b"",
    )
    assert api_history.rollout_history(req).status_code == 404
    req = func.HttpRequest(
        "GET",
        "/api/rollouts/nope/history/zz/decisions",
        headers=dict(API_HEADERS),
        params={"continuation": token},
        route_params={"endpoint": "nope", "rollout_id": "zz"},
        body=b"",
    )
    assert api_history.rollout_decisions(req).status_code == 404
