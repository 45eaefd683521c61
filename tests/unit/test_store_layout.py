"""The rollout store's shared layout: JSON chunking, size limits, write plans, retry helper."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import store_layout as su
from shared.errors import ActiveRolloutExists, InvalidInput, NotFound, StaleState
from shared.model import DecisionRecord, ModelRef, Phase, Rollout
from shared.policy import RolloutPolicy
from shared.ports import Slot, SlotWrite

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rollout(rid: str = "r1", phase: Phase = Phase.CANARY, seq: int = 0) -> Rollout:
    return Rollout(
        id=rid,
        endpoint="ep",
        model=ModelRef("m", "1"),
        policy=RolloutPolicy(),
        phase=phase,
        baseline="blue",
        canary="m-v1",
        created_at=T0,
        phase_since=T0,
        seq=seq,
    )


def decision(seq: int, **evidence: object) -> DecisionRecord:
    return DecisionRecord(
        seq, T0, "r1", Phase.CANARY, Phase.CANARY, 0, 0, "StageHeld", "", evidence=evidence
    )


def test_large_json_is_split_into_chunks_of_at_most_32000_characters() -> None:
    payload = {"logs": "é" * 20_000 + "x" * 50_000}  # 170K characters as ASCII JSON
    props = su.json_properties("Data", payload, "test")
    chunks = [props[f"Data{i}"] for i in range(props["DataN"])]
    assert props["DataN"] == 6 and all(len(c) <= su.CHUNK_CHARS for c in chunks)
    assert all(c.isascii() for c in chunks)
    assert su.load_json(props, "Data") == payload


def test_missing_json_reads_as_none() -> None:
    assert su.load_json(su.json_properties("Data", None, "test"), "Data") is None


def test_a_missing_chunk_is_reported_as_malformed() -> None:
    props = su.json_properties("Data", {"logs": "x" * 40_000}, "test")
    del props["Data1"]
    with pytest.raises(InvalidInput, match="malformed"):
        su.load_json(props, "Data")


def test_entity_size_follows_the_table_storage_formula() -> None:
    entity = {"PartitionKey": "pk", "RowKey": "rk", "Name": "abc", "On": True, "N": 7}
    # 4 + 2*4 + (8 + 2*4 + 4 + 2*3) + (8 + 2*2 + 1) + (8 + 2*1 + 4)
    assert su.entity_bytes(entity) == 4 + 8 + 26 + 13 + 14


def test_an_entity_over_1_mib_is_refused_with_its_size() -> None:
    with pytest.raises(InvalidInput, match="too large") as info:
        su.decision_entity("ep", decision(1, logs="x" * 530_000))
    assert info.value.details["bytes"] > su.MAX_ENTITY_BYTES


def test_a_transaction_over_4_mib_is_refused() -> None:
    records = tuple(decision(i, logs="x" * 450_000) for i in range(1, 11))
    before = Slot("ep", rollout(), None, "etag")
    with pytest.raises(InvalidInput, match="at most"):
        su.plan_write(before, SlotWrite(active=rollout(), waiting=None, decisions=records))


def test_plan_orders_slot_event_rollouts_decisions() -> None:
    before = Slot("ep", rollout(), None, "etag")
    nxt = rollout(seq=1)
    plan = su.plan_write(
        before, SlotWrite(nxt, None, rollouts=(nxt,), decisions=(decision(1),), event_id="e")
    )
    assert plan.slot["RowKey"] == "slot" and plan.event is not None
    assert plan.event_index == 1 and plan.first_decision_index == 3 and plan.operations == 4


def test_plan_adds_the_row_of_a_changed_active_rollout() -> None:
    plan = su.plan_write(Slot("ep"), SlotWrite(rollout(), None))
    assert [r["RowKey"] for r in plan.rollouts] == ["rollout|r1"]


def test_plan_refuses_a_listed_rollout_that_differs_from_the_active_one() -> None:
    with pytest.raises(InvalidInput, match="differs"):
        su.plan_write(Slot("ep"), SlotWrite(rollout(seq=1), None, rollouts=(rollout(seq=2),)))


def test_plan_refuses_a_replacement_while_the_old_rollout_stays_active() -> None:
    before = Slot("ep", rollout("r1"), None, "etag")
    with pytest.raises(ActiveRolloutExists):
        su.plan_write(before, SlotWrite(rollout("r2"), None, rollouts=(rollout("r2"),)))


def test_plan_allows_a_replacement_that_ends_the_old_rollout_in_the_same_write() -> None:
    before = Slot("ep", rollout("r1"), None, "etag")
    plan = su.plan_write(
        before,
        SlotWrite(rollout("r2"), None, rollouts=(rollout("r1", Phase.SUPERSEDED), rollout("r2"))),
    )
    assert plan.slot["ActiveId"] == "r2"
    assert {r["RolloutId"]: r["Active"] for r in plan.rollouts} == {"r1": False, "r2": True}


def test_plan_lets_an_ended_rollout_stay_in_the_slot_and_be_replaced() -> None:
    ended = rollout("r1", Phase.ROLLED_BACK)
    plan = su.plan_write(Slot("ep", ended, None, "etag"), SlotWrite(rollout("r2"), None))
    assert plan.slot["ActiveId"] == "r2" and plan.slot["Busy"] is True


def test_noop_is_only_a_change_of_nothing() -> None:
    before = Slot("ep", rollout(), None, "etag")
    assert su.is_noop(before, SlotWrite(rollout(), None))
    assert not su.is_noop(before, SlotWrite(rollout(), None, event_id="e"))
    assert not su.is_noop(before, SlotWrite(rollout(seq=1), None))


def test_retry_on_stale_retries_until_success() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise StaleState("stale")
        return "ok"

    assert su.retry_on_stale(fn, attempts=5, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2 and all(0 <= s <= 0.2 for s in sleeps)


def test_retry_on_stale_gives_up_after_its_attempts() -> None:
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        raise StaleState("stale")

    with pytest.raises(StaleState):
        su.retry_on_stale(fn, attempts=4, sleep=lambda _: None)
    assert len(calls) == 4


def test_retry_on_stale_does_not_retry_other_errors() -> None:
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        raise NotFound("gone")

    with pytest.raises(NotFound):
        su.retry_on_stale(fn, attempts=4, sleep=lambda _: None)
    assert len(calls) == 1
