"""The slot's event outbox stays within its bounds (``shared.writes.bounded_outbox``): a
lifecycle topic that keeps refusing events never grows the slot's row until no state write of
the endpoint fits (Table Storage: 1 MiB a row)."""

from __future__ import annotations

import logging

import pytest

from shared import writes
from shared.effects import OutboxEvent
from tests.engine_support import make_world


def _event(i: int, size: int = 10) -> OutboxEvent:
    return OutboxEvent(f"r:{i}:0", "Autocanary.Rollout.X", "endpoints/fraud", {"pad": "x" * size})


def test_the_newest_events_are_kept_in_order_up_to_the_count() -> None:
    events = [_event(i) for i in range(writes.MAX_OUTBOX_EVENTS + 30)]
    kept, dropped = writes.bounded_outbox(events)
    assert len(kept) == writes.MAX_OUTBOX_EVENTS
    assert kept == tuple(events[30:]) and dropped == tuple(events[:30])


def test_large_events_are_bounded_by_their_bytes_too() -> None:
    events = [_event(i, size=20_000) for i in range(20)]  # about 40 KB each, as stored
    kept, dropped = writes.bounded_outbox(events)
    assert 0 < len(kept) < 20 and kept == tuple(events[len(dropped) :])
    assert sum(2 * len(str(e.to_dict())) for e in kept) <= writes.MAX_OUTBOX_BYTES * 1.1


def test_an_outbox_within_its_bounds_is_kept_whole() -> None:
    events = [_event(i) for i in range(5)]
    assert writes.bounded_outbox(events) == (tuple(events), ())


def test_a_topic_that_stays_down_never_blocks_rollouts_and_the_drop_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every publish refused (a missing EventGrid Data Sender role, a deleted topic): rollouts
    go on, each registration is admitted, and the outbox never holds more than its bound
    (made small here so a few rollouts reach it; in production about 150 rollouts filled the
    row and then every write of the endpoint was refused, a rollback's too)."""
    monkeypatch.setattr(writes, "MAX_OUTBOX_EVENTS", 8)
    caplog.set_level(logging.ERROR, logger="autocanary")
    w = make_world()
    w.events.fail = True
    w.judge.set("promote")
    for v in range(2, 6):
        w.engine.on_model_registered(w.model(version=str(v)))
        for _ in range(60):
            w.clock.advance(70)
            outcomes = w.engine.reconcile_all()
            assert not any(o.error for o in outcomes), outcomes
            assert len(w.store.read("fraud").outbox) <= 8
            if w.store.read("fraud").active is None:
                break
        assert w.endpoints.traffic("fraud") == {f"fraud-v{v}": 100}
    assert any("event outbox of fraud is full" in r.getMessage() for r in caplog.records)
    w.events.fail = False
    w.clock.advance(70)
    w.engine.reconcile_all()
    assert not w.store.read("fraud").outbox  # what was kept goes out once the topic is back


def test_an_event_sent_after_an_outage_carries_its_decisions_time() -> None:
    """CloudEvents' time is when the occurrence happened: azure-core stamps the send's time
    when none is given, so every event held back by an outage read as the recovery's."""
    w = make_world()
    w.events.fail = True
    w.judge.set("promote")
    w.engine.on_model_registered(w.model(version="2"))
    decided = w.clock.now()
    w.clock.advance(3600)
    w.events.fail = False
    w.engine.reconcile_all()
    assert w.events.types()[0] == "Autocanary.Rollout.RolloutStarted"
    assert w.events.times[0] == decided  # not an hour later, when it went out
