"""Lifecycle events (Event Grid) carry the decision's cause in words and its numbers, as
``data.cause`` and ``data.why``: the same the API, the logs and the chat notices show."""

from __future__ import annotations

import json

from shared.ports import RolloutQuery
from tests.engine_support import make_world


def test_every_lifecycle_event_carries_cause_and_why() -> None:
    w = make_world()
    w.judge.set("promote", "Cleared")
    w.engine.on_model_registered(w.model())
    for _ in range(30):
        w.tick(70)
        if w.store.read("fraud").active is None:
            break
    assert w.events.events
    for event_type, _, data in w.events.events:
        assert isinstance(data["cause"], str) and data["cause"], event_type
        assert data["why"]["reason"] and data["why"]["phase"], event_type
        assert "minutes_used" not in data["why"]  # kept small: it waits in the slot's outbox
        json.dumps(data)  # JSON-ready, as a CloudEvent's data must be


def test_the_decision_record_keeps_its_events_without_the_explanation() -> None:
    w = make_world()
    w.engine.on_model_registered(w.model())
    w.tick(70)
    r = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    published = [
        e
        for d in w.store.decisions("fraud", r.id)
        for e in d.effects
        if e.get("kind") == "publish_event"
    ]
    assert published and all("cause" not in json.dumps(e) for e in published)
