"""An in-memory RolloutStore that behaves like the Table Storage adapter.

It keeps the very rows the adapter writes (:mod:`shared.store_layout` builds both), as plain
dicts of JSON text, so every read decodes fresh objects and a caller mutating what it got back
cannot change what is stored. ETags come from a counter; a write is checked and applied under
one lock in the order the service applies a transaction (slot ETag, event row, decision rows),
so StaleState, DuplicateEvent, ActiveRolloutExists, the no-op skip and the size limits are the
same as on Table Storage. The index of busy slots, pages (in (PartitionKey, RowKey) order, with
the same continuation tokens) and retention follow the adapter's steps one by one.

``reads``, ``queries``, ``transactions`` and ``index_writes`` count the service calls a Table
store would make.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from shared import store_index as si
from shared import store_layout as su
from shared import store_plan as sp
from shared.errors import Conflict, DuplicateEvent, StaleState
from shared.model import DecisionRecord, Rollout
from shared.ports import (
    IgnoredEvent,
    IndexEntry,
    Page,
    PurgeReport,
    RolloutQuery,
    Slot,
    SlotWrite,
)

Row = dict[str, Any]
Key = tuple[str, str]


class InMemoryRolloutStore:
    """RolloutStore in memory; thread safe."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.Lock()
        self._rows: dict[Key, tuple[Row, str]] = {}
        self._etags = itertools.count(1)
        self._now = clock or si.utcnow
        self._indexed = False
        self.transactions = 0  # slot and history transactions a Table store would have made
        self.index_writes = 0  # upserts and deletes of index rows
        self.reads = 0  # point reads
        self.queries = 0  # query pages

    def _etag(self) -> str:
        return f'W/"fake-{next(self._etags)}"'

    def _scan(self, partition: str | None = None) -> Iterator[Row]:
        with self._lock:
            self.queries += 1
            rows = [
                dict(row)
                for (pk, _), (row, _) in sorted(self._rows.items())
                if partition is None or pk == partition
            ]
        yield from rows

    def _get(self, key: Key) -> tuple[Row, str] | None:
        with self._lock:
            self.reads += 1
            found = self._rows.get(key)
        return (dict(found[0]), found[1]) if found else None

    # ----------------------------------------------------------------------------- RolloutStore

    def read(self, endpoint: str) -> Slot:
        found = self._get((su.partition_key(endpoint), su.SLOT_ROW))
        if found is None:
            return Slot(endpoint=endpoint)
        row, etag = found
        return su.slot_from_entity(endpoint, row, etag)

    def write(self, before: Slot, change: SlotWrite) -> Slot:
        if sp.is_noop(before, change):
            return before
        plan = sp.plan_write(before, change, self._now())
        index_key = (si.ACTIVE_PARTITION, plan.partition)
        was_busy = si.slot_busy(before)
        if plan.busy and not was_busy:
            with self._lock:  # upsert the index row first (its own service call)
                self._rows[index_key] = (
                    si.index_entity(before.endpoint, self._now()),
                    self._etag(),
                )
                self.index_writes += 1
        index_etag = None
        if was_busy and not plan.busy:
            found = self._get(index_key)
            index_etag = found[1] if found else None
        slot_key = (plan.partition, su.SLOT_ROW)
        with self._lock:
            current = self._rows.get(slot_key)
            if (before.etag is None and current is not None) or (
                before.etag is not None and (current is None or current[1] != before.etag)
            ):
                raise StaleState(f"the slot of {before.endpoint!r} changed since it was read")
            if plan.event is not None and (plan.partition, plan.event["RowKey"]) in self._rows:
                raise DuplicateEvent(
                    f"event {plan.event['EventId']!r} was already recorded for {before.endpoint!r}",
                    details={"endpoint": before.endpoint},
                )
            for row in plan.decisions:
                if (plan.partition, row["RowKey"]) in self._rows:
                    raise Conflict(
                        f"decision {row['Seq']} of rollout {row['RolloutId']!r} is already recorded"
                    )
            rows = [plan.slot, *([plan.event] if plan.event else []), *plan.rollouts]
            rows.extend(plan.decisions)
            etags = [self._etag() for _ in rows]
            for row, etag in zip(rows, etags, strict=True):
                self._rows[(plan.partition, row["RowKey"])] = (dict(row), etag)
            self.transactions += 1
        if index_etag is not None:
            self._delete_if(index_key, index_etag)
        return sp.written_slot(before, change, etags[0])

    def _delete_if(self, key: Key, etag: str) -> bool:
        with self._lock:
            self.index_writes += 1
            found = self._rows.get(key)
            if found is None or found[1] != etag:
                return False  # 404 / 412 on Table Storage
            del self._rows[key]
            return True

    def event_seen(self, endpoint: str | None, event_id: str) -> bool:
        partition = su.IGNORED_PARTITION if endpoint is None else su.partition_key(endpoint)
        return self._get((partition, su.event_row(event_id))) is not None

    def record_ignored(self, event: IgnoredEvent) -> bool:
        claim, data = si.ignored_rows(event)
        key = (su.IGNORED_PARTITION, claim["RowKey"])
        with self._lock:
            self.transactions += 1
            if key in self._rows:
                return False
            self._rows[key] = (claim, self._etag())
            self._rows[(su.IGNORED_PARTITION, data["RowKey"])] = (data, self._etag())
        return True

    # ----------------------------------------------------------------------------- the index

    def active_index(self) -> list[IndexEntry]:
        self._index_once()
        with self._lock:
            self.queries += 1
            return [
                si.index_from_entity(row, etag)
                for (pk, _), (row, etag) in sorted(self._rows.items())
                if pk == si.ACTIVE_PARTITION
            ]

    def active_endpoints(self) -> list[str]:
        return sorted(e.endpoint for e in self.active_index())

    def unindex(self, entry: IndexEntry, slot: Slot) -> bool:
        if si.slot_busy(slot) or not si.index_expired(entry, self._now()):
            return False
        return self._delete_if((si.ACTIVE_PARTITION, su.partition_key(entry.endpoint)), entry.etag)

    def _index_once(self) -> None:
        """Index a store written before the index existed (one scan), then mark it."""
        if self._indexed:
            return
        if self._get((si.META_PARTITION, si.INDEX_MARKER_ROW)) is None:
            now = self._now()
            with self._lock:
                self.queries += 1
                busy = [
                    str(row["Endpoint"])
                    for (_, rk), (row, _) in list(self._rows.items())
                    if rk == su.SLOT_ROW and row.get("Busy") is True
                ]
                legacy = [
                    row
                    for (pk, rk), (row, _) in list(self._rows.items())
                    if pk == su.IGNORED_PARTITION
                    and rk.startswith(su.EVENT_PREFIX)
                    and "AtRow" not in row
                ]
                for endpoint in busy:
                    self._rows[(si.ACTIVE_PARTITION, su.partition_key(endpoint))] = (
                        si.index_entity(endpoint, now),
                        self._etag(),
                    )
                for row in legacy:
                    event = su.ignored_from_entity(row)
                    claim, data = si.ignored_rows(event)
                    self._rows[(su.IGNORED_PARTITION, data["RowKey"])] = (data, self._etag())
                    self._rows[(su.IGNORED_PARTITION, claim["RowKey"])] = (claim, self._etag())
                marker = {"PartitionKey": si.META_PARTITION, "RowKey": si.INDEX_MARKER_ROW}
                self._rows[(si.META_PARTITION, si.INDEX_MARKER_ROW)] = (marker, self._etag())
        self._indexed = True

    # ----------------------------------------------------------------------------- history

    def list_rollouts(self, query: RolloutQuery) -> list[Rollout]:
        flt = sp.rollout_filter(query)
        low, high = su.prefix_range(su.ROLLOUT_PREFIX)
        rows = (r for r in self._scan() if low <= r["RowKey"] < high and flt.matches(r))
        return sp.newest_rollouts((su.rollout_from_entity(r) for r in rows), flt.limit)

    def page_rollouts(self, query: RolloutQuery, continuation: str | None = None) -> Page[Rollout]:
        flt = sp.rollout_filter(query)
        si.check_page_limit(flt.limit)
        low, high = su.prefix_range(su.ROLLOUT_PREFIX)
        rows, token = self._page(
            lambda pk, r: low <= r["RowKey"] < high and flt.matches(r),
            flt.limit,
            si.decode_token(continuation),
        )
        return Page([su.rollout_from_entity(r) for r in rows], token)

    def page_ignored(self, limit: int = 100, continuation: str | None = None) -> Page[IgnoredEvent]:
        si.check_page_limit(limit)
        low, high = su.prefix_range(si.IGNORED_AT_PREFIX)
        self._index_once()
        rows, token = self._page(
            lambda pk, r: pk == su.IGNORED_PARTITION and low <= r["RowKey"] < high,
            limit,
            si.decode_token(continuation),
        )
        return Page([su.ignored_from_entity(r) for r in rows], token)

    def _page(
        self,
        match: Callable[[str, Row], bool],
        limit: int,
        start: Mapping[str, str] | None,
    ) -> tuple[list[Row], str | None]:
        begin = (start["PartitionKey"], start["RowKey"]) if start else ("", "")
        with self._lock:
            self.queries += 1
            keys = sorted(k for k in self._rows if k >= begin)
            out: list[Row] = []
            for key in keys:
                row = self._rows[key][0]
                if not match(key[0], row):
                    continue
                if len(out) == limit:
                    return out, si.encode_token({"PartitionKey": key[0], "RowKey": key[1]})
                out.append(dict(row))
        return out, None

    def decisions(self, endpoint: str, rollout_id: str) -> list[DecisionRecord]:
        low, high = su.prefix_range(su.decision_prefix(rollout_id))
        rows = self._scan(su.partition_key(endpoint))
        records = [su.decision_from_entity(r) for r in rows if low <= r["RowKey"] < high]
        return sorted(records, key=lambda d: d.seq)

    def page_decisions(
        self,
        endpoint: str,
        rollout_id: str,
        limit: int = 100,
        continuation: str | None = None,
        from_seq: int = 1,
    ) -> Page[DecisionRecord]:
        si.check_page_limit(limit)
        pk = su.partition_key(endpoint)
        low = su.decision_row(rollout_id, max(1, from_seq))
        high = su.prefix_range(su.decision_prefix(rollout_id))[1]
        start = si.decode_token(continuation) or {"PartitionKey": pk, "RowKey": low}
        rows, token = self._page(lambda p, r: p == pk and low <= r["RowKey"] < high, limit, start)
        return Page([su.decision_from_entity(r) for r in rows], token)

    def get_rollout(self, endpoint: str, rollout_id: str) -> Rollout | None:
        found = self._get((su.partition_key(endpoint), su.rollout_row(rollout_id)))
        return None if found is None else su.rollout_from_entity(found[0])

    def ignored_events(self, limit: int = 100) -> list[IgnoredEvent]:
        sp.newest_ignored((), limit)
        return self.page_ignored(min(limit, si.MAX_PAGE)).items

    # ----------------------------------------------------------------------------- retention

    def purge(self, cutoff: datetime, max_rows: int = si.PURGE_ROWS) -> PurgeReport:
        flt = si.purge_filter(cutoff, max_rows)
        budget = flt.max_rows
        ignored = 0
        low, high = si.ignored_older_than(flt.cutoff)
        with self._lock:
            self.queries += 1
            expired = sorted(
                (row["RowKey"], row.get("EventId"))
                for (pk, rk), (row, _) in self._rows.items()
                if pk == su.IGNORED_PARTITION and low <= rk < high
            )
            for at_row, event_id in expired[: budget // 2]:
                self._rows.pop((su.IGNORED_PARTITION, at_row), None)
                self._rows.pop((su.IGNORED_PARTITION, su.event_row(str(event_id))), None)
                ignored += 1
            self.transactions += (ignored + 49) // 50
            budget -= 2 * ignored
            done = len(expired) <= ignored
            rollouts = decisions = events = 0
            low_r, high_r = su.prefix_range(su.ROLLOUT_PREFIX)
            low_e, high_e = su.prefix_range(su.EVENT_PREFIX)
            old = [
                (pk, rk, row)
                for (pk, rk), (row, _) in sorted(self._rows.items())
                if low_r <= rk < high_r and not pk.startswith("~") and flt.expired_rollout(row)
            ]
            touched: set[str] = set()
            for pk, rk, row in old:
                lo, hi = su.prefix_range(su.decision_prefix(str(row["RolloutId"])))
                rows = [k for k in self._rows if k[0] == pk and lo <= k[1] < hi]
                if len(rows) + 1 > budget:  # its decisions in part, its row for the next call
                    part = sorted(rows)[: max(0, budget)]
                    for key in part:
                        del self._rows[key]
                    decisions += len(part)
                    budget -= len(part)
                    done = False
                    break
                for key in rows:
                    del self._rows[key]
                del self._rows[(pk, rk)]
                self.transactions += (len(rows) + 1 + su.MAX_OPERATIONS - 1) // su.MAX_OPERATIONS
                decisions += len(rows)
                rollouts += 1
                budget -= len(rows) + 1
                touched.add(pk)
            for pk in sorted(touched):
                inbox = [
                    k
                    for k, (row, _) in self._rows.items()
                    if k[0] == pk and low_e <= k[1] < high_e and flt.expired_event(row)
                ]
                inbox = sorted(inbox)[: max(0, budget)]
                for key in inbox:
                    del self._rows[key]
                events += len(inbox)
                budget -= len(inbox)
        return PurgeReport(rollouts, decisions, events, ignored, done)

    # ----------------------------------------------------------------------------- for tests

    def rows(self) -> list[Mapping[str, Any]]:
        """Every stored row (copies), for tests that inspect the layout."""
        return list(self._scan())
