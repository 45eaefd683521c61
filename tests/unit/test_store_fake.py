"""InMemoryRolloutStore specifics that the contract suite cannot see from outside."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import StaleState
from shared.fakes.store import InMemoryRolloutStore
from shared.model import ModelRef, Phase, Rollout
from shared.policy import RolloutPolicy
from shared.ports import SlotWrite

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rollout(seq: int = 0) -> Rollout:
    return Rollout(
        id="r1",
        endpoint="ep",
        model=ModelRef("m", "1"),
        policy=RolloutPolicy(),
        phase=Phase.PENDING,
        baseline="blue",
        canary="m-v1",
        created_at=T0,
        phase_since=T0,
        seq=seq,
    )


def test_rows_hold_only_table_property_values_not_objects() -> None:
    store = InMemoryRolloutStore()
    store.write(store.read("ep"), SlotWrite(rollout(), None, event_id="e1"))
    values = [v for row in store.rows() for v in row.values()]
    assert values and all(isinstance(v, str | int | bool | datetime) for v in values)


def test_a_noop_write_makes_no_transaction() -> None:
    store = InMemoryRolloutStore()
    slot = store.write(store.read("ep"), SlotWrite(rollout(), None))
    store.write(slot, SlotWrite(rollout(), None))
    assert store.transactions == 1


def test_a_refused_write_changes_no_row() -> None:
    store = InMemoryRolloutStore()
    first = store.write(store.read("ep"), SlotWrite(rollout(), None))
    store.write(first, SlotWrite(rollout(1), None))
    snapshot = store.rows()
    with pytest.raises(StaleState):
        store.write(first, SlotWrite(rollout(2), None, event_id="e2"))
    assert store.rows() == snapshot


def test_every_write_gets_a_new_etag() -> None:
    store = InMemoryRolloutStore()
    slot = store.write(store.read("ep"), SlotWrite(rollout(), None))
    etags = {slot.etag}
    for seq in range(1, 5):
        slot = store.write(slot, SlotWrite(rollout(seq), None))
        etags.add(slot.etag)
    assert len(etags) == 5
