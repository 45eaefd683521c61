"""The RolloutStore contract for events: claimed once per endpoint, ignored ones, the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.effects import OutboxEvent
from shared.errors import Conflict, DuplicateEvent, StaleState
from shared.model import Phase, Waiting
from shared.policy import RolloutPolicy
from shared.ports import IgnoredEvent, RolloutStore, SlotWrite
from tests.integration.store_contract_support import T0, decision, model, rollout, start

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------- events


def test_claimed_event_is_seen_for_its_endpoint_only(store: RolloutStore) -> None:
    start(store, rollout("r1"), event_id="evt-1")
    assert store.event_seen("ep-1", "evt-1")
    assert not store.event_seen("ep-2", "evt-1")
    assert not store.event_seen(None, "evt-1")
    assert not store.event_seen("ep-1", "evt-2")


def test_claiming_an_event_twice_raises_duplicate_and_changes_nothing(
    store: RolloutStore,
) -> None:
    first = start(store, rollout("r1"), event_id="evt-1")
    waiting = Waiting(model("fraud", "2"), RolloutPolicy(endpoint="ep-1"))
    with pytest.raises(DuplicateEvent):
        store.write(first, SlotWrite(active=first.active, waiting=waiting, event_id="evt-1"))
    assert store.read("ep-1") == first


def test_stale_slot_wins_over_duplicate_event(store: RolloutStore) -> None:
    """A stale slot is reported as StaleState even when the event is claimed too."""
    first = start(store, rollout("r1"), event_id="evt-1")
    store.write(first, SlotWrite(active=rollout("r1", seq=1), waiting=None))
    with pytest.raises(StaleState):
        store.write(first, SlotWrite(active=first.active, waiting=None, event_id="evt-1"))


def test_recording_a_decision_twice_is_a_conflict(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    slot = store.write(
        slot, SlotWrite(active=slot.active, waiting=None, decisions=(decision("r1", 1),))
    )
    with pytest.raises(Conflict):
        store.write(
            slot,
            SlotWrite(active=rollout("r1", seq=1), waiting=None, decisions=(decision("r1", 1),)),
        )
    assert store.read("ep-1") == slot


def test_ignored_events_are_recorded_once(store: RolloutStore) -> None:
    event = IgnoredEvent("evt-9", model("churn", "4"), "NoMatchingRule", "no rule", T0)
    assert store.record_ignored(event) is True
    assert store.record_ignored(event) is False
    assert store.event_seen(None, "evt-9")
    assert not store.event_seen("ep-1", "evt-9")
    assert store.ignored_events() == [event]


def test_ignored_events_are_listed_newest_first_up_to_limit(store: RolloutStore) -> None:
    for i in range(5):
        store.record_ignored(
            IgnoredEvent(f"e{i}", model("m", str(i)), "OptedOutByTag", "", T0 + timedelta(i))
        )
    assert [e.event_id for e in store.ignored_events(limit=3)] == ["e4", "e3", "e2"]


# ------------------------------------------------------------------------------- outbox


def _event(i: int) -> OutboxEvent:
    return OutboxEvent(f"r2:{i}:0", "Autocanary.Rollout.RolloutFailed", "endpoints/ep-b", {"n": i})


def test_the_outbox_round_trips_and_is_kept_by_writes_that_do_not_name_it(
    store: RolloutStore,
) -> None:
    slot = start(store, rollout("r1"))
    slot = store.write(slot, SlotWrite(active=rollout("r1"), waiting=None, outbox=(_event(1),)))
    assert store.read("ep-1").outbox == (_event(1),) == slot.outbox
    nxt = rollout("r1", seq=1)
    slot = store.write(slot, SlotWrite(active=nxt, waiting=None, rollouts=(nxt,)))
    assert store.read("ep-1").outbox == (_event(1),) == slot.outbox
    store.write(slot, SlotWrite(active=nxt, waiting=None, outbox=()))
    assert store.read("ep-1").outbox == ()


def test_a_slot_with_unsent_events_stays_in_the_index_until_they_are_sent(
    store: RolloutStore,
) -> None:
    slot = start(store, rollout("r2", "ep-b"))
    failed = rollout("r2", "ep-b", phase=Phase.FAILED)
    slot = store.write(
        slot, SlotWrite(active=None, waiting=None, rollouts=(failed,), outbox=(_event(1),))
    )
    assert store.active_endpoints() == ["ep-b"]
    store.write(slot, SlotWrite(active=None, waiting=None, outbox=()))
    assert store.active_endpoints() == []
