"""The store's index of busy slots, history pages and retention: the parts of the layout
(:mod:`shared.store_layout`) that keep a tick and the history reads small, shared by the Table
Storage adapter and the in-memory fake.

Index of busy slots: a tick reads the ``~active`` partition (one partition-scoped query) instead
of scanning every row ever written. Table Storage transactions are per PartitionKey ("all
entities subject to operations as part of the transaction must have the same PartitionKey
value", at most 100 operations and 4 MiB: learn.microsoft.com/rest/api/storageservices/
performing-entity-group-transactions), so the index row cannot share the slot's transaction.
It is kept a superset of the busy slots instead:

- a write that makes an idle slot busy upserts the index row first (a fresh ETag and ``Since``);
- a write that makes a busy slot idle reads the index row's ETag before its transaction and
  deletes the row with that ETag after it: a concurrent write that made the slot busy again
  upserted the row after that read (it had to read the idle slot first), so the delete fails
  with 412 and the row stays;
- a row whose slot is idle (a crash between the two steps) is dropped by the tick, with its
  ETag and only once older than :data:`INDEX_GRACE`, far longer than any single write takes;
- a store written before the index existed is indexed once (one scan), then marked
  ``~meta/active-index-v1``.

Pages: a continuation token is the (PartitionKey, RowKey) a page resumes from, opaque to
clients. Retention: ignored events by a range of their time-ordered rows, ended rollouts by
their ``Active`` and ``UpdatedAt`` columns, inbox rows by ``At``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from shared.errors import InvalidInput
from shared.ports import IgnoredEvent, IndexEntry, Slot
from shared.store_layout import (
    IGNORED_PARTITION,
    MAX_OPERATIONS,
    _checked,
    _component,
    event_row,
    ignored_entity,
    partition_key,
    prefix_range,
)

T = TypeVar("T")

IGNORED_AT_PREFIX = "at|"
ACTIVE_PARTITION = "~active"
META_PARTITION = "~meta"
INDEX_MARKER_ROW = "active-index-v1"
RETENTION_ROW = "retention"
INDEX_GRACE = timedelta(minutes=10)
# Milliseconds since the epoch fit 13 digits until the year 2286; inverted they sort newest first.
_MAX_MS = 10**13 - 1
# Retention: rows deleted per purge call and rollout pages read per call, at most.
PURGE_ROWS = 2000
PURGE_PAGES = 5
MAX_PAGE = 1000  # Table Storage returns at most 1000 entities per query response


def _inverted_ms(at: datetime) -> int:
    return _MAX_MS - int(at.timestamp() * 1000)


def ignored_time_row(at: datetime, event_id: str) -> str:
    """The time-ordered row of an ignored event: ascending RowKey order is newest first."""
    if at.tzinfo is None:
        raise InvalidInput("an ignored event needs a timezone-aware time")
    return _checked(
        f"{IGNORED_AT_PREFIX}{_inverted_ms(at):013d}|{_component(event_id, 'event id')}",
        "event id",
    )


def ignored_older_than(cutoff: datetime) -> tuple[str, str]:
    """[low, high) RowKeys of the time-ordered ignored rows strictly older than ``cutoff``."""
    low = f"{IGNORED_AT_PREFIX}{_inverted_ms(cutoff) + 1:013d}"
    return low, prefix_range(IGNORED_AT_PREFIX)[1]


def ignored_rows(event: IgnoredEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two rows of an ignored event, written in one transaction of the ``~ignored``
    partition: the claim (``event|<id>``, point-read by :meth:`event_seen`) and the
    time-ordered row carrying the data (paging newest first, retention by range)."""
    data_row = ignored_entity(event)
    data_row["RowKey"] = ignored_time_row(event.at, event.event_id)
    claim = {
        "PartitionKey": IGNORED_PARTITION,
        "RowKey": event_row(event.event_id),
        "EventId": event.event_id,
        "At": event.at,
        "AtRow": data_row["RowKey"],
    }
    return claim, data_row


def index_entity(endpoint: str, now: datetime) -> dict[str, Any]:
    return {
        "PartitionKey": ACTIVE_PARTITION,
        "RowKey": partition_key(endpoint),
        "Endpoint": endpoint,
        "Since": now,
    }


def index_from_entity(entity: Mapping[str, Any], etag: str) -> IndexEntry:
    since = entity.get("Since")
    return IndexEntry(
        endpoint=str(entity["Endpoint"]),
        since=since if isinstance(since, datetime) else None,
        etag=etag,
    )


def slot_busy(slot: Slot) -> bool:
    """Whether the slot has an active rollout, a waiting version or unsent events (it needs
    reconciling)."""
    return (
        (slot.active is not None and slot.active.active)
        or slot.waiting is not None
        or bool(slot.outbox)
    )


def index_expired(entry: IndexEntry, now: datetime) -> bool:
    """Whether an index row is old enough to be dropped when its slot reads idle."""
    return entry.since is None or now - entry.since >= INDEX_GRACE


def utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------- pages


def encode_token(next_key: Mapping[str, Any] | None) -> str | None:
    """An opaque continuation token for the next page: the (PartitionKey, RowKey) from which
    Table Storage resumes (x-ms-continuation-NextPartitionKey / NextRowKey; the SDK hands it
    out as a dict, azure/data/tables/_models.py TableEntityPropertiesPaged)."""
    if not next_key:
        return None
    pk, rk = next_key.get("PartitionKey"), next_key.get("RowKey")
    if not pk and not rk:
        return None
    raw = json.dumps([pk or "", rk or ""], ensure_ascii=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def decode_token(token: str | None) -> dict[str, str] | None:
    """The resume key of a token from :func:`encode_token`; InvalidInput for anything else."""
    if token is None:
        return None
    bad = InvalidInput("continuation token is malformed", code="bad_continuation")
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad from exc  # RecursionError: a token of deeply nested brackets
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, str) for v in value)
        or not any(value)
    ):
        raise bad
    return {"PartitionKey": value[0], "RowKey": value[1]}


def check_page_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, got {limit!r}")
    return limit


# ------------------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class PurgeFilter:
    """What one purge deletes: ended rollouts (with their decisions) last updated before
    ``cutoff``, event inbox rows claimed before it and ignored events older than it."""

    cutoff: datetime
    max_rows: int

    def expired_rollout(self, entity: Mapping[str, Any]) -> bool:
        updated = entity.get("UpdatedAt")
        return (
            entity.get("Active") is False
            and isinstance(updated, datetime)
            and updated < self.cutoff
        )

    def expired_event(self, entity: Mapping[str, Any]) -> bool:
        at = entity.get("At")
        return isinstance(at, datetime) and at < self.cutoff


def purge_filter(cutoff: datetime, max_rows: int = PURGE_ROWS) -> PurgeFilter:
    if not isinstance(cutoff, datetime) or cutoff.tzinfo is None:
        raise InvalidInput("the retention cutoff must be a timezone-aware time")
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise InvalidInput(f"max_rows must be a positive integer, got {max_rows!r}")
    return PurgeFilter(cutoff, max_rows)


def chunks(rows: list[T], size: int = MAX_OPERATIONS) -> Iterable[list[T]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
