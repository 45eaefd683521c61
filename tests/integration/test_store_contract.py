"""One contract for RolloutStore, run against the in-memory fake and the Table Storage adapter
(on Azurite), so the fake stays honest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.azure.tables import TableRolloutStore
from shared.effects import OutboxEvent
from shared.errors import ActiveRolloutExists, Conflict, DuplicateEvent, InvalidInput, StaleState
from shared.fakes.store import InMemoryRolloutStore
from shared.model import DecisionRecord, ModelRef, Phase, Rollout, Waiting
from shared.policy import RolloutPolicy
from shared.ports import IgnoredEvent, RolloutQuery, RolloutStore, Slot, SlotWrite

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NASTY = "ep/a\\b#c?d|e%f~g\x01h\x7fi\u0085j"


def model(name: str = "fraud", version: str = "1", **tags: str) -> ModelRef:
    return ModelRef(name=name, version=version, tags=tags, event_id=f"ev-{name}-{version}")


def rollout(
    rid: str,
    endpoint: str = "ep-1",
    *,
    phase: Phase = Phase.CANARY,
    name: str = "fraud",
    version: str = "1",
    created: datetime = T0,
    seq: int = 0,
) -> Rollout:
    return Rollout(
        id=rid,
        endpoint=endpoint,
        model=model(name, version),
        policy=RolloutPolicy(endpoint=endpoint),
        phase=phase,
        baseline="blue",
        canary=f"{name}-v{version}",
        created_at=created,
        phase_since=created,
        stage=0 if phase is Phase.CANARY else -1,
        traffic={"blue": 90, f"{name}-v{version}": 10},
        seq=seq,
    )


def decision(rid: str, seq: int, **evidence: Any) -> DecisionRecord:
    return DecisionRecord(
        seq=seq,
        at=T0 + timedelta(minutes=seq),
        rollout_id=rid,
        phase_from=Phase.CANARY,
        phase_to=Phase.CANARY,
        stage_from=0,
        stage_to=0,
        reason="StageHeld",
        message=f"decision {seq}",
        evidence=evidence,
    )


def start(store: RolloutStore, r: Rollout, event_id: str | None = None) -> Slot:
    """Put ``r`` as the active rollout of its (empty or ended) endpoint."""
    before = store.read(r.endpoint)
    return store.write(before, SlotWrite(active=r, waiting=before.waiting, event_id=event_id))


@pytest.fixture(params=["fake", "table"])
def store(request: pytest.FixtureRequest) -> Iterator[RolloutStore]:
    if request.param == "fake":
        yield InMemoryRolloutStore()
        return
    connection = request.getfixturevalue("azurite")
    table = TableRolloutStore.from_connection_string(
        connection, request.getfixturevalue("table_name")
    )
    try:
        yield table
    finally:
        table.close()


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
