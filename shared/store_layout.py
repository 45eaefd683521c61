"""The rollout store's layout, shared by the Table Storage adapter and the fake.

Both stores keep the same rows (plain dicts of Table properties), validate changes with the same
code (:func:`shared.store_plan.plan_write`) and apply the same limits, so the fake behaves like
Table Storage.

Layout (one table; partition per endpoint)::

    PartitionKey              RowKey                          what
    <key(endpoint)>           slot                            active rollout + waiting version
                                                              + outbox of unsent events;
                                                              its ETag guards the whole endpoint
    <key(endpoint)>           rollout|<key(id)>               one per rollout (active or ended)
    <key(endpoint)>           decision|<key(id)>|<seq:010d>   one per decision (append only)
    <key(endpoint)>           event|<key(event id)>           inbox: events that changed a slot
    ~ignored                  event|<key(event id)>           events that started no rollout
    ~ignored                  at|<inverted ms>|<key(id)>      the same, newest first (paging,
                                                              retention); same transaction
    ~active                   <key(endpoint)>                 index of busy slots
    ~meta                     active-index-v1 | retention     migration marker, purge cursor

The index of busy slots, page tokens and retention are in :mod:`shared.store_index`.

Keys: Table Storage forbids ``/ \\ # ?`` and control characters in PartitionKey and RowKey and
limits each to 1 KiB (512 UTF-16 characters) (learn.microsoft.com/rest/api/storageservices/
understanding-the-table-service-data-model). :func:`encode_key` escapes those characters,
``|`` (our separator), ``%`` and the escape character ``~`` itself as ``~XX`` (two hex digits):
reversible and collision free. ``~ignored``, ``~active`` and ``~meta`` can never be an encoded
endpoint, because an encoded ``~`` is always followed by two upper-case hex digits.

Payloads: a string property holds at most 64 KiB (32K UTF-16 characters) and an entity at most
1 MiB and 252 custom properties (same page); an entity group transaction at most 100 operations
and 4 MiB (learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions).
JSON is written ASCII-only and split across ``<prefix>0..<prefix>N-1`` properties; anything
that still does not fit is refused with InvalidInput, never truncated.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.effects import OutboxEvent
from shared.errors import InvalidInput
from shared.model import DecisionRecord, ModelRef, Rollout, Waiting, iso, parse_time
from shared.ports import IgnoredEvent, Slot

DEFAULT_TABLE = "autocanary"
SLOT_ROW = "slot"
ROLLOUT_PREFIX = "rollout|"
DECISION_PREFIX = "decision|"
EVENT_PREFIX = "event|"
IGNORED_PARTITION = "~ignored"
# '}' is the character after '|': [prefix, prefix with '|' -> '}') is a prefix range.
_RANGE_END = "}"

ESCAPE = "~"
_ALWAYS_ESCAPED = frozenset("/\\#?|%~")
MAX_KEY_UTF16 = 512
# A decision's seq is stored as a plain int, which azure-data-tables sends as Edm.Int32 and
# refuses (TypeError) from 2**31 on (its _serialize.py; azure-sdk-for-python issue 35554): the
# row key has room for ten digits, the property for 2**31 - 1.
MAX_SEQ = 2**31 - 1

CHUNK_CHARS = 32_000
MAX_ENTITY_BYTES = 1024 * 1024
MAX_PROPERTIES = 252
MAX_OPERATIONS = 100
# 4 MiB per transaction, less room for the multipart envelope of 100 operations.
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024 - 200 * 1024
MAX_LIMIT = 10_000


# ------------------------------------------------------------------------------------- keys


def _escaped(ch: str) -> bool:
    return ch in _ALWAYS_ESCAPED or unicodedata.category(ch) == "Cc"


def encode_key(value: str) -> str:
    """A Table key component for any string: ``/ \\ # ? | % ~`` and control characters become
    ``~XX``. Reversible (:func:`decode_key`) and case-preserving."""
    if not isinstance(value, str):
        raise InvalidInput(f"a key must be a string, not {type(value).__name__}")
    return "".join(f"{ESCAPE}{ord(ch):02X}" if _escaped(ch) else ch for ch in value)


def decode_key(key: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(key):
        ch = key[i]
        if ch == ESCAPE:
            digits = key[i + 1 : i + 3]
            if len(digits) != 2 or any(c not in "0123456789ABCDEF" for c in digits):
                raise InvalidInput(f"malformed key {key!r} at position {i}")
            out.append(chr(int(digits, 16)))
            i += 3
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _checked(key: str, what: str) -> str:
    if len(key.encode("utf-16-le")) // 2 > MAX_KEY_UTF16:
        raise InvalidInput(f"{what} is too long for a Table key (max {MAX_KEY_UTF16} characters)")
    return key


def _component(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string")
    return encode_key(value)


def partition_key(endpoint: str) -> str:
    return _checked(_component(endpoint, "endpoint name"), "endpoint name")


def rollout_row(rollout_id: str) -> str:
    return _checked(ROLLOUT_PREFIX + _component(rollout_id, "rollout id"), "rollout id")


def decision_prefix(rollout_id: str) -> str:
    return DECISION_PREFIX + _component(rollout_id, "rollout id") + "|"


def decision_row(rollout_id: str, seq: int) -> str:
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise InvalidInput(f"decision seq must be an integer in [0, {MAX_SEQ}], got {seq!r}")
    return _checked(f"{decision_prefix(rollout_id)}{seq:010d}", "rollout id")


def event_row(event_id: str) -> str:
    return _checked(EVENT_PREFIX + _component(event_id, "event id"), "event id")


def prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) bounds of the RowKeys that start with ``prefix`` (which ends with '|')."""
    return prefix, prefix[:-1] + _RANGE_END


# ------------------------------------------------------------------------------------- JSON


def dumps(payload: Mapping[str, Any], what: str) -> str:
    try:
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} cannot be stored as JSON: {exc}") from exc


def json_properties(prefix: str, payload: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """``<prefix>N`` (chunk count) and ``<prefix>0..N-1`` holding the ASCII JSON of payload."""
    if payload is None:
        return {f"{prefix}N": 0}
    text = dumps(payload, what)
    chunks = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
    props: dict[str, Any] = {f"{prefix}N": len(chunks)}
    for i, chunk in enumerate(chunks):
        props[f"{prefix}{i}"] = chunk
    return props


def load_json(entity: Mapping[str, Any], prefix: str) -> dict[str, Any] | None:
    try:
        count = int(entity.get(f"{prefix}N") or 0)
        if count == 0:
            return None
        text = "".join(str(entity[f"{prefix}{i}"]) for i in range(count))
        value = json.loads(text)
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"stored {prefix} payload is malformed: {exc!r}") from exc
    if not isinstance(value, dict):
        raise InvalidInput(f"stored {prefix} payload is not a JSON object")
    return value


# ------------------------------------------------------------------------------------- sizes


def _value_bytes(value: Any) -> int:
    # Sizes per learn.microsoft.com/rest/api/storageservices/
    # understanding-the-table-service-data-model#property-limitations.
    if isinstance(value, str):
        return 4 + len(value.encode("utf-16-le"))
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return 4 if -(2**31) <= value < 2**31 else 8
    if isinstance(value, bytes):
        return 4 + len(value)
    return 8  # float, datetime


def entity_bytes(entity: Mapping[str, Any]) -> int:
    """Stored size of an entity: 4 + 2*len(PK+RK) + per property 8 + 2*len(name) + value."""
    keys = str(entity["PartitionKey"]) + str(entity["RowKey"])
    size = 4 + 2 * len(keys)
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey"):
            continue
        size += 8 + 2 * len(name) + _value_bytes(value)
    return size


def wire_bytes(entity: Mapping[str, Any]) -> int:
    return len(json.dumps(entity, default=str, ensure_ascii=True)) + 512


def check_entity(entity: Mapping[str, Any], what: str) -> None:
    size = entity_bytes(entity)
    if size > MAX_ENTITY_BYTES:
        raise InvalidInput(
            f"{what} is too large to store: {size} bytes, Table Storage allows "
            f"{MAX_ENTITY_BYTES} per row; trim its evidence",
            details={"bytes": size, "limit": MAX_ENTITY_BYTES, "store_limit": True},
        )
    custom = len(entity) - 2
    if custom > MAX_PROPERTIES:
        raise InvalidInput(f"{what} has {custom} properties, Table Storage allows {MAX_PROPERTIES}")


# ------------------------------------------------------------------------------------- rows


def _dt(value: datetime | None) -> datetime | str:
    return value if value is not None else ""


def slot_entity(
    endpoint: str,
    active: Rollout | None,
    waiting: Waiting | None,
    outbox: tuple[OutboxEvent, ...] = (),
) -> dict[str, Any]:
    # A slot with unsent events stays in the index of busy slots: the tick sends them.
    busy = (active is not None and active.active) or waiting is not None or bool(outbox)
    entity: dict[str, Any] = {
        "PartitionKey": partition_key(endpoint),
        "RowKey": SLOT_ROW,
        "Endpoint": endpoint,
        "ActiveId": active.id if active else "",
        "ActivePhase": active.phase.value if active else "",
        "Busy": busy,
    }
    entity.update(json_properties("ActiveData", active.to_dict() if active else None, "rollout"))
    entity.update(
        json_properties("WaitingData", waiting.to_dict() if waiting else None, "waiting version")
    )
    entity.update(
        json_properties(
            "OutboxData",
            {"events": [e.to_dict() for e in outbox]} if outbox else None,
            "event outbox",
        )
    )
    check_entity(entity, f"the slot of endpoint {endpoint!r}")
    return entity


def slot_from_entity(endpoint: str, entity: Mapping[str, Any], etag: str | None) -> Slot:
    active = load_json(entity, "ActiveData")
    waiting = load_json(entity, "WaitingData")
    outbox = load_json(entity, "OutboxData") or {}
    try:
        return Slot(
            endpoint=endpoint,
            active=Rollout.from_dict(active) if active is not None else None,
            waiting=Waiting.from_dict(waiting) if waiting is not None else None,
            etag=etag,
            outbox=tuple(OutboxEvent.from_dict(e) for e in outbox.get("events") or ()),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"stored slot of {endpoint!r} is malformed: {exc!r}") from exc


def rollout_entity(rollout: Rollout) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": partition_key(rollout.endpoint),
        "RowKey": rollout_row(rollout.id),
        "RolloutId": rollout.id,
        "Endpoint": rollout.endpoint,
        "Phase": rollout.phase.value,
        "Active": rollout.active,
        "ModelName": rollout.model.name,
        "ModelVersion": rollout.model.version,
        "CreatedAt": rollout.created_at,
        "UpdatedAt": _dt(rollout.updated_at),
    }
    entity.update(json_properties("Data", rollout.to_dict(), f"rollout {rollout.id!r}"))
    check_entity(entity, f"rollout {rollout.id!r}")
    return entity


def rollout_from_entity(entity: Mapping[str, Any]) -> Rollout:
    data = load_json(entity, "Data")
    if data is None:
        raise InvalidInput(f"stored rollout row {entity.get('RowKey')!r} has no data")
    return Rollout.from_dict(data)


def decision_entity(endpoint: str, record: DecisionRecord) -> dict[str, Any]:
    what = f"decision {record.seq} of rollout {record.rollout_id!r}"
    entity: dict[str, Any] = {
        "PartitionKey": partition_key(endpoint),
        "RowKey": decision_row(record.rollout_id, record.seq),
        "RolloutId": record.rollout_id,
        "Seq": record.seq,
        "Reason": record.reason,
        "At": record.at,
    }
    entity.update(json_properties("Data", record.to_dict(), what))
    check_entity(entity, what)
    return entity


def decision_from_entity(entity: Mapping[str, Any]) -> DecisionRecord:
    data = load_json(entity, "Data")
    if data is None:
        raise InvalidInput(f"stored decision row {entity.get('RowKey')!r} has no data")
    try:
        return DecisionRecord.from_dict(data)
    except (KeyError, ValueError, TypeError, AssertionError) as exc:
        raise InvalidInput(f"stored decision is malformed: {exc!r}") from exc


def event_entity(
    endpoint: str, event_id: str, rollout_id: str, at: datetime | None = None
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": partition_key(endpoint),
        "RowKey": event_row(event_id),
        "EventId": event_id,
        "RolloutId": rollout_id,
    }
    if at is not None:
        entity["At"] = at  # when it was claimed: retention deletes inbox rows by this
    return entity


def ignored_entity(event: IgnoredEvent) -> dict[str, Any]:
    if event.at is None or event.at.tzinfo is None:
        raise InvalidInput("an ignored event needs a timezone-aware time")
    data = {
        "event_id": event.event_id,
        "model": event.model.to_dict(),
        "reason": event.reason,
        "detail": event.detail,
        "at": iso(event.at),
    }
    entity: dict[str, Any] = {
        "PartitionKey": IGNORED_PARTITION,
        "RowKey": event_row(event.event_id),
        "EventId": event.event_id,
        "Reason": event.reason,
        "ModelName": event.model.name,
        "At": event.at,
    }
    entity.update(json_properties("Data", data, f"ignored event {event.event_id!r}"))
    check_entity(entity, f"ignored event {event.event_id!r}")
    return entity


def ignored_from_entity(entity: Mapping[str, Any]) -> IgnoredEvent:
    data = load_json(entity, "Data")
    try:
        assert data is not None
        at = parse_time(data["at"])
        assert at is not None
        return IgnoredEvent(
            event_id=str(data["event_id"]),
            model=ModelRef.from_dict(data["model"]),
            reason=str(data["reason"]),
            detail=str(data.get("detail") or ""),
            at=at,
        )
    except (AssertionError, KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"stored ignored event is malformed: {exc!r}") from exc
