"""The RolloutStore contract for slot writes: round trips, etags, no-ops, one active rollout."""

from __future__ import annotations

import pytest

from shared.errors import ActiveRolloutExists, InvalidInput, StaleState
from shared.model import Phase, Waiting
from shared.policy import RolloutPolicy
from shared.ports import RolloutQuery, RolloutStore, Slot, SlotWrite
from tests.integration.store_contract_support import model, rollout, start

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------- read / write


def test_unknown_endpoint_reads_as_empty_slot(store: RolloutStore) -> None:
    assert store.read("nowhere") == Slot(endpoint="nowhere")


def test_write_then_read_round_trips_active_waiting_and_etag(store: RolloutStore) -> None:
    r = rollout("r1")
    waiting = Waiting(model("fraud", "2"), RolloutPolicy(endpoint="ep-1"))
    written = store.write(store.read("ep-1"), SlotWrite(active=r, waiting=waiting))
    read = store.read("ep-1")
    assert read == written
    assert read.active == r and read.waiting == waiting and read.etag


def test_write_records_the_active_rollout_row_even_if_not_listed(store: RolloutStore) -> None:
    start(store, rollout("r1"))
    assert store.list_rollouts(RolloutQuery(endpoint="ep-1")) == [rollout("r1")]


def test_returned_etag_allows_the_next_write(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    for seq in range(1, 4):
        nxt = rollout("r1", seq=seq)
        slot = store.write(slot, SlotWrite(active=nxt, waiting=None, rollouts=(nxt,)))
    assert store.read("ep-1").active == rollout("r1", seq=3)


def test_stale_etag_raises_and_changes_nothing(store: RolloutStore) -> None:
    first = start(store, rollout("r1"))
    second = store.write(first, SlotWrite(active=rollout("r1", seq=1), waiting=None))
    with pytest.raises(StaleState):
        store.write(first, SlotWrite(active=rollout("r1", seq=2), waiting=None))
    assert store.read("ep-1") == second


def test_creating_a_slot_that_exists_raises_stale(store: RolloutStore) -> None:
    empty = store.read("ep-1")
    start(store, rollout("r1"))
    with pytest.raises(StaleState):
        store.write(empty, SlotWrite(active=rollout("r2"), waiting=None))
    assert store.read("ep-1").active == rollout("r1")


def test_mutating_a_read_result_does_not_change_the_store(store: RolloutStore) -> None:
    start(store, rollout("r1"))
    got = store.read("ep-1").active
    assert got is not None
    got.traffic["blue"] = 0  # type: ignore[index]
    got.model.tags["x"] = "y"  # type: ignore[index]
    assert store.read("ep-1").active == rollout("r1")


def test_waiting_version_is_stored_and_cleared(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    waiting = Waiting(model("fraud", "3"), RolloutPolicy(endpoint="ep-1"))
    slot = store.write(slot, SlotWrite(active=slot.active, waiting=waiting))
    assert store.read("ep-1").waiting == waiting
    store.write(slot, SlotWrite(active=slot.active, waiting=None))
    assert store.read("ep-1").waiting is None


# ------------------------------------------------------------------------------- no-op


def test_noop_write_returns_before_without_touching_the_service(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    store.write(slot, SlotWrite(active=rollout("r1", seq=1), waiting=None))
    # ``slot`` is stale now: a write that reached the service would raise StaleState.
    assert store.write(slot, SlotWrite(active=slot.active, waiting=None)) is slot


def test_noop_write_leaves_the_etag_unchanged(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    store.write(slot, SlotWrite(active=rollout("r1"), waiting=None))
    assert store.read("ep-1").etag == slot.etag


# ------------------------------------------------------------------------------- one active


def test_a_second_active_rollout_is_refused(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    with pytest.raises(ActiveRolloutExists):
        store.write(slot, SlotWrite(active=rollout("r2"), waiting=None, rollouts=(rollout("r2"),)))
    assert store.read("ep-1") == slot
    assert [r.id for r in store.list_rollouts(RolloutQuery())] == ["r1"]


def test_an_active_rollout_cannot_leave_the_slot_unended(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    with pytest.raises(ActiveRolloutExists):
        store.write(slot, SlotWrite(active=None, waiting=None))
    assert store.read("ep-1") == slot


def test_a_new_rollout_may_start_once_the_old_one_ended(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    ended = rollout("r1", phase=Phase.SUCCEEDED)
    slot = store.write(slot, SlotWrite(active=None, waiting=None, rollouts=(ended,)))
    slot = store.write(slot, SlotWrite(active=rollout("r2", version="2"), waiting=None))
    assert slot.active is not None and slot.active.id == "r2"
    assert {r.id: r.active for r in store.list_rollouts(RolloutQuery())} == {
        "r1": False,
        "r2": True,
    }


def test_ending_a_rollout_and_starting_its_successor_in_one_write(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    superseded = rollout("r1", phase=Phase.SUPERSEDED)
    successor = rollout("r2", version="2")
    store.write(slot, SlotWrite(active=successor, waiting=None, rollouts=(superseded, successor)))
    assert store.read("ep-1").active == successor
    assert store.list_rollouts(RolloutQuery(active_only=True)) == [successor]


def test_a_stray_active_rollout_row_is_refused(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    with pytest.raises(InvalidInput):
        store.write(slot, SlotWrite(active=slot.active, waiting=None, rollouts=(rollout("r9"),)))
    assert store.list_rollouts(RolloutQuery(endpoint="ep-1")) == [rollout("r1")]


def test_a_rollout_of_another_endpoint_is_refused(store: RolloutStore) -> None:
    with pytest.raises(InvalidInput):
        store.write(store.read("ep-1"), SlotWrite(active=rollout("r1", "ep-2"), waiting=None))
    assert store.read("ep-1").etag is None and store.read("ep-2").etag is None
