"""The RolloutStore contract for the index of busy slots, paged history reads and retention, run
against the in-memory fake and the Table Storage adapter on Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import store_index as si
from shared import store_layout as su
from shared.azure.tables import TableRolloutStore
from shared.clock import FakeClock
from shared.errors import InvalidInput, StaleState
from shared.fakes.store import InMemoryRolloutStore
from shared.model import ModelRef, Phase, Rollout
from shared.policy import RolloutPolicy
from shared.ports import IgnoredEvent, RolloutQuery, RolloutStore, Slot, SlotWrite
from tests.integration.store_contract_support import decision

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def rollout(
    rid: str, endpoint: str = "ep-1", *, phase: Phase = Phase.CANARY, at: datetime = T0
) -> Rollout:
    return Rollout(
        id=rid,
        endpoint=endpoint,
        model=ModelRef("fraud", rid, event_id=f"ev-{rid}"),
        policy=RolloutPolicy(endpoint=endpoint),
        phase=phase,
        baseline="blue",
        canary=f"fraud-v{rid}",
        created_at=at,
        phase_since=at,
        updated_at=at,
        stage=0 if phase is Phase.CANARY else -1,
        traffic={"blue": 90, f"fraud-v{rid}": 10},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=["fake", "table"])
def store(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[RolloutStore]:
    if request.param == "fake":
        yield InMemoryRolloutStore(clock=clock.now)
        return
    table = TableRolloutStore.from_connection_string(
        request.getfixturevalue("azurite"), request.getfixturevalue("table_name"), clock=clock.now
    )
    try:
        yield table
    finally:
        table.close()


def run(store: RolloutStore, r: Rollout, decisions: int = 0, event_id: str | None = None) -> Slot:
    """Start ``r`` on its endpoint with ``decisions`` decision rows."""
    before = store.read(r.endpoint)
    records = tuple(decision(r.id, i, r.created_at) for i in range(1, decisions + 1))
    return store.write(
        before, SlotWrite(active=r, waiting=None, decisions=records, event_id=event_id)
    )


def end(store: RolloutStore, slot: Slot, at: datetime) -> Slot:
    assert slot.active is not None
    done = replace(slot.active, phase=Phase.SUCCEEDED, updated_at=at)
    return store.write(slot, SlotWrite(active=None, waiting=None, rollouts=(done,)))


# ------------------------------------------------------------------------------- the index


def test_a_busy_slot_is_in_the_index_and_leaves_it_when_it_ends(store: RolloutStore) -> None:
    slot = run(store, rollout("r1"))
    assert [e.endpoint for e in store.active_index()] == ["ep-1"]
    end(store, slot, T0)
    assert store.active_index() == []


def test_an_index_entry_left_by_a_failed_write_is_dropped_only_after_the_grace(
    store: RolloutStore, clock: FakeClock
) -> None:
    end(store, run(store, rollout("r1")), T0)
    with pytest.raises(StaleState):  # index row upserted, then the slot write refused
        store.write(Slot("ep-1"), SlotWrite(active=rollout("r2"), waiting=None))
    (entry,) = store.active_index()
    idle = store.read("ep-1")
    assert store.unindex(entry, idle) is False  # younger than the grace: a write may be in flight
    clock.advance((si.INDEX_GRACE + timedelta(seconds=1)).total_seconds())
    assert store.unindex(entry, idle) is True
    assert store.active_index() == []


def test_an_index_entry_of_a_busy_slot_is_never_dropped(
    store: RolloutStore, clock: FakeClock
) -> None:
    slot = run(store, rollout("r1"))
    (entry,) = store.active_index()
    clock.advance(86400)
    assert store.unindex(entry, slot) is False
    assert [e.endpoint for e in store.active_index()] == ["ep-1"]


def test_an_index_entry_rewritten_since_it_was_read_is_kept(
    store: RolloutStore, clock: FakeClock
) -> None:
    end(store, run(store, rollout("r1")), T0)
    with pytest.raises(StaleState):
        store.write(Slot("ep-1"), SlotWrite(active=rollout("r2"), waiting=None))
    (old,) = store.active_index()
    clock.advance(3600)
    idle = store.read("ep-1")
    run(store, rollout("r3"))  # made busy again: the index row is rewritten (new ETag)
    assert store.unindex(old, idle) is False
    assert [e.endpoint for e in store.active_index()] == ["ep-1"]


# ------------------------------------------------------------------------------- pages


def test_rollout_pages_chain_through_every_match_once_in_store_order(
    store: RolloutStore,
) -> None:
    for i, ep in enumerate(["ep-b", "ep-a", "ep-c", "ep-a", "ep-b"]):
        slot = store.read(ep)
        if slot.active is not None:
            end(store, slot, T0)
        run(store, rollout(f"r{i}", ep, at=T0 + timedelta(minutes=i)))
    seen: list[tuple[str, str]] = []
    token: str | None = None
    for _ in range(10):  # bounded: 5 rows at 2 a page
        page = store.page_rollouts(RolloutQuery(limit=2), token)
        assert len(page.items) <= 2
        seen.extend((r.endpoint, r.id) for r in page.items)
        token = page.continuation
        if token is None:
            break
    assert seen == [
        ("ep-a", "r1"),
        ("ep-a", "r3"),
        ("ep-b", "r0"),
        ("ep-b", "r4"),
        ("ep-c", "r2"),
    ]


def test_decision_pages_chain_in_seq_order_and_stay_within_the_rollout(
    store: RolloutStore,
) -> None:
    run(store, rollout("r1"), decisions=5)
    other = store.read("ep-1")
    store.write(
        other, SlotWrite(active=other.active, waiting=None, decisions=(decision("r10", 1, T0),))
    )
    seqs: list[int] = []
    token: str | None = None
    for _ in range(10):  # bounded: 5 rows at 2 a page
        page = store.page_decisions("ep-1", "r1", 2, token)
        assert len(page.items) <= 2
        seqs.extend(d.seq for d in page.items)
        token = page.continuation
        if token is None:
            break
    assert seqs == [1, 2, 3, 4, 5]


def test_a_decision_page_may_start_at_a_seq(store: RolloutStore) -> None:
    run(store, rollout("r1"), decisions=12)
    page = store.page_decisions("ep-1", "r1", 50, from_seq=10)
    assert [d.seq for d in page.items] == [10, 11, 12]


def test_a_rollout_is_read_by_id_and_an_unknown_id_is_none(store: RolloutStore) -> None:
    run(store, rollout("r1"))
    found = store.get_rollout("ep-1", "r1")
    assert found is not None and found.id == "r1"
    assert store.get_rollout("ep-1", "r2") is None
    assert store.get_rollout("ep-2", "r1") is None


def test_rollout_pages_apply_the_filters(store: RolloutStore) -> None:
    slot = run(store, rollout("r1"))
    end(store, slot, T0)
    run(store, rollout("r2"))
    page = store.page_rollouts(RolloutQuery(active_only=True, limit=10))
    assert [r.id for r in page.items] == ["r2"] and page.continuation is None


@pytest.mark.parametrize("token", ["", "not a token", "W10", "eyJhIjoxfQ", "x" * 5000])
def test_a_malformed_continuation_token_is_refused(store: RolloutStore, token: str) -> None:
    with pytest.raises(InvalidInput):
        store.page_rollouts(RolloutQuery(), token or "=")


def test_a_page_limit_above_a_table_response_is_refused(store: RolloutStore) -> None:
    with pytest.raises(InvalidInput):
        store.page_rollouts(RolloutQuery(limit=1001))


def test_ignored_event_pages_are_newest_first(store: RolloutStore) -> None:
    for i in range(5):
        event = IgnoredEvent(f"e{i}", ModelRef("m", str(i)), "NoMatchingRule", "", T0)
        store.record_ignored(replace(event, at=T0 + timedelta(minutes=i)))
    first = store.page_ignored(limit=3)
    assert [e.event_id for e in first.items] == ["e4", "e3", "e2"]
    assert first.continuation is not None
    rest = store.page_ignored(limit=3, continuation=first.continuation)
    assert [e.event_id for e in rest.items] == ["e1", "e0"] and rest.continuation is None
    assert store.event_seen(None, "e0")


# ------------------------------------------------------------------------------- retention


def _ids(store: RolloutStore) -> list[str]:
    return sorted(r.id for r in store.list_rollouts(RolloutQuery(limit=100)))


def test_purge_deletes_old_ended_rollouts_with_their_decisions_and_events(
    store: RolloutStore, clock: FakeClock
) -> None:
    old = run(store, rollout("r1"), decisions=3, event_id="ev-old")
    end(store, old, T0)
    clock.advance(100 * 86400)
    now = clock.now()
    recent = run(store, rollout("r2", at=now), decisions=2, event_id="ev-new")
    report = store.purge(now - timedelta(days=90))
    assert (report.rollouts, report.decisions, report.events, report.done) == (1, 3, 1, True)
    assert _ids(store) == ["r2"]
    assert store.decisions("ep-1", "r1") == []
    assert not store.event_seen("ep-1", "ev-old") and store.event_seen("ep-1", "ev-new")
    assert store.read("ep-1") == recent


def test_purge_never_touches_an_active_rollout_however_old(
    store: RolloutStore, clock: FakeClock
) -> None:
    slot = run(store, rollout("r1"), decisions=2)
    clock.advance(365 * 86400)
    report = store.purge(clock.now() - timedelta(days=90))
    assert report.rows == 0 and report.done
    assert store.read("ep-1") == slot and len(store.decisions("ep-1", "r1")) == 2


def test_purge_deletes_old_ignored_events_and_keeps_recent_ones(
    store: RolloutStore, clock: FakeClock
) -> None:
    for i, days in enumerate([200, 120, 10]):
        at = T0 + timedelta(days=200 - days)
        store.record_ignored(IgnoredEvent(f"e{i}", ModelRef("m", str(i)), "NoMatchingRule", "", at))
    cutoff = T0 + timedelta(days=200) - timedelta(days=90)
    report = store.purge(cutoff)
    assert report.ignored == 2
    assert [e.event_id for e in store.ignored_events()] == ["e2"]
    assert not store.event_seen(None, "e0") and store.event_seen(None, "e2")


def _purge_until_done(store: RolloutStore, cutoff: datetime, calls: int = 10) -> list[Any]:
    """Purge at most 10 rows a call until done (bounded), each call within its budget."""
    reports = []
    for _ in range(calls):
        report = store.purge(cutoff, max_rows=10)
        reports.append(report)
        assert report.rows <= 10
        if report.done:
            break
    assert reports[-1].done, reports
    return reports


def test_purge_deletes_at_most_max_rows_a_call_and_later_calls_finish(
    store: RolloutStore, clock: FakeClock
) -> None:
    for i in range(6):
        end(store, run(store, rollout(f"r{i}", f"ep-{i}"), decisions=4), T0)
    clock.advance(100 * 86400)
    cutoff = clock.now() - timedelta(days=90)
    reports = _purge_until_done(store, cutoff)  # 30 rows at up to 10 a call
    assert sum(r.rollouts for r in reports) == 6 and sum(r.decisions for r in reports) == 24
    assert _ids(store) == []


def test_a_rollout_with_more_decisions_than_a_call_deletes_is_purged_over_several_calls(
    store: RolloutStore, clock: FakeClock
) -> None:
    """Its decisions go a call's budget at a time, its row last: before, it never fit, the
    cursor stayed on it, and nothing after it in the table was ever purged."""
    end(store, run(store, rollout("r0", "ep-0"), decisions=25), T0)
    end(store, run(store, rollout("r1", "ep-1"), decisions=2), T0)
    clock.advance(100 * 86400)
    cutoff = clock.now() - timedelta(days=90)
    reports = _purge_until_done(store, cutoff)  # 29 rows at up to 10 a call
    assert sum(r.rollouts for r in reports) == 2 and sum(r.decisions for r in reports) == 27
    assert _ids(store) == [] and store.decisions("ep-0", "r0") == []


@pytest.mark.parametrize(
    ("cutoff", "rows"), [(datetime(2026, 1, 1), 10), (T0, 0), (T0, -1), ("2026-01-01", 10)]
)
def test_a_bad_purge_request_is_refused(store: RolloutStore, cutoff: Any, rows: int) -> None:
    with pytest.raises(InvalidInput):
        store.purge(cutoff, max_rows=rows)


def test_a_table_written_before_the_index_is_indexed_once_on_first_use(
    azurite: str, table_name: str
) -> None:
    """Busy slots and ignored events stored by an older version (no ~active rows, no
    time-ordered ignored rows) are found by the first tick and the first page."""
    from azure.data.tables import TableClient, UpdateMode

    client = TableClient.from_connection_string(azurite, table_name=table_name)
    client.create_table()
    client.upsert_entity(
        su.slot_entity("ep-old", rollout("r1", "ep-old"), None), UpdateMode.REPLACE
    )
    event = IgnoredEvent("e-old", ModelRef("m", "1"), "NoMatchingRule", "", T0)
    client.upsert_entity(su.ignored_entity(event), UpdateMode.REPLACE)
    store = TableRolloutStore.from_connection_string(azurite, table_name)
    try:
        assert [e.endpoint for e in store.active_index()] == ["ep-old"]
        assert [e.event_id for e in store.ignored_events()] == ["e-old"]
        assert store.event_seen(None, "e-old")
        fresh = TableRolloutStore.from_connection_string(azurite, table_name)
        assert fresh.active_endpoints() == ["ep-old"]  # marked: not scanned again
        assert fresh.read("ep-old").active == rollout("r1", "ep-old")
        fresh.close()
    finally:
        store.close()
        client.close()


def test_a_purge_batch_whose_answer_was_lost_after_it_committed_is_not_an_error(
    request: pytest.FixtureRequest, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table Storage only: the first delete transaction commits and its answer is lost (a
    connection reset), so the retry loop sends it again and every row in it is gone (404,
    an entity group transaction fails as a whole). The purge goes on row by row, a row
    already gone being no error, and nothing is left behind."""
    from azure.core.exceptions import ServiceResponseError

    store = TableRolloutStore.from_connection_string(
        request.getfixturevalue("azurite"), request.getfixturevalue("table_name"), clock=clock.now
    )
    try:
        old = run(store, rollout("r1"), decisions=3, event_id="ev-old")
        end(store, old, T0)
        clock.advance(100 * 86400)
        client = store._client
        submit = client.submit_transaction
        lost: list[int] = []

        def answer_lost_once(operations: Any, **kwargs: Any) -> Any:
            result = submit(operations, **kwargs)
            if not lost and all(op[0] == "delete" for op in operations):
                lost.append(len(operations))
                raise ServiceResponseError("Connection reset by peer")
            return result

        monkeypatch.setattr(client, "submit_transaction", answer_lost_once)
        report = store.purge(clock.now() - timedelta(days=90))
        assert lost, "no delete transaction was sent"
        assert (report.rollouts, report.decisions, report.done) == (1, 3, True)
        assert _ids(store) == []
        assert store.decisions("ep-1", "r1") == []
    finally:
        store.close()


def test_ignored_events_deleted_one_by_one_lose_their_claim_row_before_their_own(
    request: pytest.FixtureRequest, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table Storage only: the batch refused 404 is deleted row by row; each event's claim
    row goes first, so a crash in between leaves the event row (found by the next purge),
    never a claim row that no purge would ever find."""
    from azure.core.exceptions import ServiceResponseError

    store = TableRolloutStore.from_connection_string(
        request.getfixturevalue("azurite"), request.getfixturevalue("table_name"), clock=clock.now
    )
    try:
        for i in range(2):
            event = IgnoredEvent(f"e{i}", ModelRef("m", str(i)), "NoMatchingRule", "", T0)
            store.record_ignored(event)
        clock.advance(200 * 86400)
        client = store._client
        submit, delete = client.submit_transaction, client.delete_entity
        lost: list[int] = []
        deleted: list[str] = []

        def answer_lost_once(operations: Any, **kwargs: Any) -> Any:
            result = submit(operations, **kwargs)
            if not lost:
                lost.append(len(operations))
                raise ServiceResponseError("Connection reset by peer")
            return result

        def recorded(partition: str, row: str, **kwargs: Any) -> None:
            deleted.append(row)
            delete(partition, row, **kwargs)

        monkeypatch.setattr(client, "submit_transaction", answer_lost_once)
        monkeypatch.setattr(client, "delete_entity", recorded)
        report = store.purge(clock.now() - timedelta(days=90))
        assert lost == [4] and report.ignored == 2
        claims = {su.event_row(f"e{i}") for i in range(2)}
        assert len(deleted) == 4
        for first, second in zip(deleted[::2], deleted[1::2], strict=True):
            assert first in claims and second not in claims, deleted
        assert store.ignored_events() == [] and not store.event_seen(None, "e0")
    finally:
        store.close()
