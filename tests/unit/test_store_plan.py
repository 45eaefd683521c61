"""The rollout store's write plan (transaction order, one active rollout, limits), no-op
detection and the stale-ETag retry helper."""

from __future__ import annotations

import pytest

from shared import store_plan as sp
from shared.errors import ActiveRolloutExists, InvalidInput, NotFound, StaleState
from shared.model import Phase
from shared.ports import Slot, SlotWrite
from tests.unit.store_rows import decision, rollout


def test_a_transaction_over_4_mib_is_refused() -> None:
    records = tuple(decision(i, logs="x" * 450_000) for i in range(1, 11))
    before = Slot("ep", rollout(), None, "etag")
    with pytest.raises(InvalidInput, match="at most"):
        sp.plan_write(before, SlotWrite(active=rollout(), waiting=None, decisions=records))


def test_plan_orders_slot_event_rollouts_decisions() -> None:
    before = Slot("ep", rollout(), None, "etag")
    nxt = rollout(seq=1)
    plan = sp.plan_write(
        before, SlotWrite(nxt, None, rollouts=(nxt,), decisions=(decision(1),), event_id="e")
    )
    assert plan.slot["RowKey"] == "slot" and plan.event is not None
    assert plan.event_index == 1 and plan.first_decision_index == 3 and plan.operations == 4


def test_plan_adds_the_row_of_a_changed_active_rollout() -> None:
    plan = sp.plan_write(Slot("ep"), SlotWrite(rollout(), None))
    assert [r["RowKey"] for r in plan.rollouts] == ["rollout|r1"]


def test_plan_refuses_a_listed_rollout_that_differs_from_the_active_one() -> None:
    with pytest.raises(InvalidInput, match="differs"):
        sp.plan_write(Slot("ep"), SlotWrite(rollout(seq=1), None, rollouts=(rollout(seq=2),)))


def test_plan_refuses_a_replacement_while_the_old_rollout_stays_active() -> None:
    before = Slot("ep", rollout("r1"), None, "etag")
    with pytest.raises(ActiveRolloutExists):
        sp.plan_write(before, SlotWrite(rollout("r2"), None, rollouts=(rollout("r2"),)))


def test_plan_allows_a_replacement_that_ends_the_old_rollout_in_the_same_write() -> None:
    before = Slot("ep", rollout("r1"), None, "etag")
    plan = sp.plan_write(
        before,
        SlotWrite(rollout("r2"), None, rollouts=(rollout("r1", Phase.SUPERSEDED), rollout("r2"))),
    )
    assert plan.slot["ActiveId"] == "r2"
    assert {r["RolloutId"]: r["Active"] for r in plan.rollouts} == {"r1": False, "r2": True}


def test_plan_lets_an_ended_rollout_stay_in_the_slot_and_be_replaced() -> None:
    ended = rollout("r1", Phase.ROLLED_BACK)
    plan = sp.plan_write(Slot("ep", ended, None, "etag"), SlotWrite(rollout("r2"), None))
    assert plan.slot["ActiveId"] == "r2" and plan.slot["Busy"] is True


def test_noop_is_only_a_change_of_nothing() -> None:
    before = Slot("ep", rollout(), None, "etag")
    assert sp.is_noop(before, SlotWrite(rollout(), None))
    assert not sp.is_noop(before, SlotWrite(rollout(), None, event_id="e"))
    assert not sp.is_noop(before, SlotWrite(rollout(seq=1), None))


def test_retry_on_stale_retries_until_success() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise StaleState("stale")
        return "ok"

    assert sp.retry_on_stale(fn, attempts=5, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2 and all(0 <= s <= 0.2 for s in sleeps)


def test_retry_on_stale_gives_up_after_its_attempts() -> None:
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        raise StaleState("stale")

    with pytest.raises(StaleState):
        sp.retry_on_stale(fn, attempts=4, sleep=lambda _: None)
    assert len(calls) == 4


def test_retry_on_stale_does_not_retry_other_errors() -> None:
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        raise NotFound("gone")

    with pytest.raises(NotFound):
        sp.retry_on_stale(fn, attempts=4, sleep=lambda _: None)
    assert len(calls) == 1
