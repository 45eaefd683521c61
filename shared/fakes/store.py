"""An in-memory RolloutStore that behaves like the Table Storage adapter.

It keeps the very rows the adapter writes (:mod:`shared.store_util` builds both), as plain
dicts of JSON text, so every read decodes fresh objects and a caller mutating what it got back
cannot change what is stored. ETags come from a counter; a write is checked and applied under
one lock in the order the service applies a transaction (slot ETag, event row, decision rows),
so StaleState, DuplicateEvent, ActiveRolloutExists, the no-op skip and the size limits are the
same as on Table Storage.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from shared import store_util as su
from shared.errors import Conflict, DuplicateEvent, StaleState
from shared.model import DecisionRecord, Rollout
from shared.ports import IgnoredEvent, RolloutQuery, Slot, SlotWrite

Row = dict[str, Any]


class InMemoryRolloutStore:
    """RolloutStore in memory; thread safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], tuple[Row, str]] = {}
        self._etags = itertools.count(1)
        self.transactions = 0  # service calls a Table store would have made for writes

    def _etag(self) -> str:
        return f'W/"fake-{next(self._etags)}"'

    def _scan(self, partition: str | None = None) -> Iterator[Row]:
        with self._lock:
            rows = [
                dict(row)
                for (pk, _), (row, _) in sorted(self._rows.items())
                if partition is None or pk == partition
            ]
        yield from rows

    # ----------------------------------------------------------------------------- RolloutStore

    def read(self, endpoint: str) -> Slot:
        key = (su.partition_key(endpoint), su.SLOT_ROW)
        with self._lock:
            found = self._rows.get(key)
        if found is None:
            return Slot(endpoint=endpoint)
        row, etag = found
        return su.slot_from_entity(endpoint, row, etag)

    def write(self, before: Slot, change: SlotWrite) -> Slot:
        if su.is_noop(before, change):
            return before
        plan = su.plan_write(before, change)
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
        return Slot(before.endpoint, change.active, change.waiting, etags[0])

    def event_seen(self, endpoint: str | None, event_id: str) -> bool:
        partition = su.IGNORED_PARTITION if endpoint is None else su.partition_key(endpoint)
        key = (partition, su.event_row(event_id))
        with self._lock:
            return key in self._rows

    def record_ignored(self, event: IgnoredEvent) -> bool:
        row = su.ignored_entity(event)
        key = (su.IGNORED_PARTITION, row["RowKey"])
        with self._lock:
            if key in self._rows:
                return False
            self._rows[key] = (row, self._etag())
        return True

    def active_endpoints(self) -> list[str]:
        return sorted(
            str(row["Endpoint"])
            for row in self._scan()
            if row["RowKey"] == su.SLOT_ROW and row.get("Busy") is True
        )

    def list_rollouts(self, query: RolloutQuery) -> list[Rollout]:
        flt = su.rollout_filter(query)
        low, high = su.prefix_range(su.ROLLOUT_PREFIX)
        rows = (r for r in self._scan() if low <= r["RowKey"] < high and flt.matches(r))
        return su.newest_rollouts((su.rollout_from_entity(r) for r in rows), flt.limit)

    def decisions(self, endpoint: str, rollout_id: str) -> list[DecisionRecord]:
        low, high = su.prefix_range(su.decision_prefix(rollout_id))
        rows = self._scan(su.partition_key(endpoint))
        records = [su.decision_from_entity(r) for r in rows if low <= r["RowKey"] < high]
        return sorted(records, key=lambda d: d.seq)

    def ignored_events(self, limit: int = 100) -> list[IgnoredEvent]:
        su.newest_ignored((), limit)
        rows = self._scan(su.IGNORED_PARTITION)
        return su.newest_ignored((su.ignored_from_entity(r) for r in rows), limit)

    # ----------------------------------------------------------------------------- for tests

    def rows(self) -> list[Mapping[str, Any]]:
        """Every stored row (copies), for tests that inspect the layout."""
        return list(self._scan())
