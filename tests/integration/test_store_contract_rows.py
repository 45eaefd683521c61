"""The RolloutStore contract for rows: size limits, key characters, rollout queries, the index."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import InvalidInput
from shared.model import Phase, Waiting
from shared.policy import RolloutPolicy
from shared.ports import IgnoredEvent, RolloutQuery, RolloutStore, SlotWrite
from tests.integration.store_contract_support import NASTY, T0, decision, model, rollout, start

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------- size limits


def test_large_evidence_round_trips_exactly(store: RolloutStore) -> None:
    logs = "".join(f'line {i}: é✓ "quoted" \\ tab\t 🚀\n' for i in range(6000))  # ~250K chars
    record = decision("r1", 1, logs=logs, counts=[1, 2, 3])
    slot = start(store, rollout("r1"))
    store.write(slot, SlotWrite(active=slot.active, waiting=None, decisions=(record,)))
    assert store.decisions("ep-1", "r1") == [record]


def test_evidence_too_large_for_a_row_is_refused_and_nothing_written(
    store: RolloutStore,
) -> None:
    slot = start(store, rollout("r1"))
    record = decision("r1", 1, logs="x" * 600_000)
    with pytest.raises(InvalidInput, match="too large"):
        store.write(slot, SlotWrite(active=rollout("r1", seq=1), waiting=None, decisions=(record,)))
    assert store.read("ep-1") == slot
    assert store.decisions("ep-1", "r1") == []


def test_more_than_100_rows_in_one_write_is_refused(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    many = tuple(decision("r1", i) for i in range(100))
    with pytest.raises(InvalidInput, match="at most 100"):
        store.write(slot, SlotWrite(active=slot.active, waiting=None, decisions=many))
    assert store.decisions("ep-1", "r1") == []


def test_non_json_evidence_is_refused(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    record = decision("r1", 1, when=T0)
    with pytest.raises(InvalidInput, match="JSON"):
        store.write(slot, SlotWrite(active=slot.active, waiting=None, decisions=(record,)))
    assert store.read("ep-1") == slot


# ------------------------------------------------------------------------------- keys


def test_names_with_forbidden_key_characters_work_everywhere(store: RolloutStore) -> None:
    rid, event_id = "id/\\#?|%~\x00\x1f", "evt#/?\\\n"
    r = rollout(rid, NASTY)
    slot = start(store, r, event_id=event_id)
    slot = store.write(slot, SlotWrite(active=r, waiting=None, decisions=(decision(rid, 1),)))
    assert store.read(NASTY) == slot
    assert store.event_seen(NASTY, event_id)
    assert store.decisions(NASTY, rid) == [decision(rid, 1)]
    assert store.list_rollouts(RolloutQuery(endpoint=NASTY)) == [r]
    assert store.active_endpoints() == [NASTY]


def test_similar_names_do_not_collide(store: RolloutStore) -> None:
    names = ["ep", "ep/", "ep~2F", "Ep", "ep%2F", "~ignored"]
    for i, name in enumerate(names):
        start(store, rollout(f"r{i}", name))
    store.record_ignored(IgnoredEvent("x", model(), "NoMatchingRule", "", T0))
    for i, name in enumerate(names):
        assert [r.id for r in store.list_rollouts(RolloutQuery(endpoint=name))] == [f"r{i}"]
    assert store.active_endpoints() == sorted(names)
    assert [e.event_id for e in store.ignored_events()] == ["x"]


def test_decisions_of_a_rollout_exclude_those_of_similar_ids(store: RolloutStore) -> None:
    slot = start(store, rollout("r1"))
    records = (decision("r1", 2), decision("r1", 1), decision("r10", 1), decision("r1|x", 1))
    store.write(slot, SlotWrite(active=slot.active, waiting=None, decisions=records))
    assert store.decisions("ep-1", "r1") == [decision("r1", 1), decision("r1", 2)]
    assert store.decisions("ep-1", "r1|x") == [decision("r1|x", 1)]


def test_empty_names_are_refused(store: RolloutStore) -> None:
    with pytest.raises(InvalidInput):
        store.read("")
    with pytest.raises(InvalidInput):
        store.event_seen("ep-1", "")


# ------------------------------------------------------------------------------- queries


@pytest.fixture
def history(store: RolloutStore) -> RolloutStore:
    """ep-1: r1 (succeeded, fraud 1) then r3 (canary, fraud 2); ep-2: r2 (canary, churn 7)."""
    slot = start(store, rollout("r1", created=T0))
    slot = store.write(
        slot, SlotWrite(active=None, waiting=None, rollouts=(rollout("r1", phase=Phase.SUCCEEDED),))
    )
    store.write(
        slot,
        SlotWrite(active=rollout("r3", version="2", created=T0 + timedelta(hours=2)), waiting=None),
    )
    start(store, rollout("r2", "ep-2", name="churn", version="7", created=T0 + timedelta(hours=1)))
    return store


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (RolloutQuery(), ["r3", "r2", "r1"]),
        (RolloutQuery(limit=2), ["r3", "r2"]),
        (RolloutQuery(endpoint="ep-1"), ["r3", "r1"]),
        (RolloutQuery(model="churn"), ["r2"]),
        (RolloutQuery(phase=Phase.SUCCEEDED), ["r1"]),
        (RolloutQuery(active_only=True), ["r3", "r2"]),
        (RolloutQuery(endpoint="ep-1", active_only=True), ["r3"]),
        (RolloutQuery(model="fraud", extra={"version": "1"}), ["r1"]),
        (RolloutQuery(endpoint="ep-3"), []),
    ],
)
def test_list_rollouts_filters_and_orders_newest_first(
    history: RolloutStore, query: RolloutQuery, expected: list[str]
) -> None:
    assert [r.id for r in history.list_rollouts(query)] == expected


def test_active_endpoints_are_those_with_active_or_waiting(store: RolloutStore) -> None:
    start(store, rollout("r1", "ep-a"))
    slot = start(store, rollout("r2", "ep-b"))
    failed = rollout("r2", "ep-b", phase=Phase.FAILED)
    store.write(slot, SlotWrite(active=None, waiting=None, rollouts=(failed,)))
    waiting = Waiting(model("m", "1"), RolloutPolicy(endpoint="ep-c"))
    store.write(store.read("ep-c"), SlotWrite(active=None, waiting=waiting))
    assert store.active_endpoints() == ["ep-a", "ep-c"]


@pytest.mark.parametrize(
    "query",
    [RolloutQuery(limit=0), RolloutQuery(extra={"color": "red"}), RolloutQuery(endpoint="")],
)
def test_bad_rollout_queries_are_refused(store: RolloutStore, query: RolloutQuery) -> None:
    with pytest.raises(InvalidInput):
        store.list_rollouts(query)


def test_filter_values_are_parameters_not_query_text(store: RolloutStore) -> None:
    """Quotes, spaces, '@' and OData words in a value only ever match themselves."""
    odd = "o'brien @p2 or RowKey ne ''"
    start(store, rollout("r1", name=odd))
    start(store, rollout("r2", "ep-2", name="plain"))
    assert [r.id for r in store.list_rollouts(RolloutQuery(model=odd))] == ["r1"]
    assert store.list_rollouts(RolloutQuery(model="o'brien")) == []
