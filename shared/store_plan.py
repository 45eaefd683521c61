"""The rollout store's write plan and read filters, shared by the Table Storage adapter and the
fake (the rows themselves are :mod:`shared.store_layout`'s): what one slot write turns into,
validated by the same code for both stores (one active rollout per endpoint, the transaction
limits), the filters of a history query, and the stale-ETag retry around a read-decide-write.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shared.effects import OutboxEvent
from shared.errors import ActiveRolloutExists, InvalidInput, StaleState
from shared.model import Rollout
from shared.ports import IgnoredEvent, RolloutQuery, Slot, SlotWrite
from shared.store_layout import (
    MAX_LIMIT,
    MAX_OPERATIONS,
    MAX_TRANSACTION_BYTES,
    decision_entity,
    event_entity,
    partition_key,
    rollout_entity,
    slot_entity,
    wire_bytes,
)

T = TypeVar("T")


# ------------------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class WritePlan:
    """The rows one SlotWrite turns into, in transaction order: the slot first (index 0), then
    the event inbox row, then rollout rows (upserts), then decision rows (creates)."""

    partition: str
    slot: dict[str, Any]
    event: dict[str, Any] | None
    rollouts: tuple[dict[str, Any], ...]
    decisions: tuple[dict[str, Any], ...]

    @property
    def operations(self) -> int:
        return 1 + (self.event is not None) + len(self.rollouts) + len(self.decisions)

    @property
    def event_index(self) -> int | None:
        return 1 if self.event is not None else None

    @property
    def first_decision_index(self) -> int:
        return 1 + (self.event is not None) + len(self.rollouts)

    @property
    def busy(self) -> bool:
        return bool(self.slot["Busy"])


def is_noop(before: Slot, change: SlotWrite) -> bool:
    return (
        change.active == before.active
        and change.waiting == before.waiting
        and not change.rollouts
        and not change.decisions
        and change.event_id is None
        and (change.outbox is None or change.outbox == before.outbox)
    )


def outbox_after(before: Slot, change: SlotWrite) -> tuple[OutboxEvent, ...]:
    return before.outbox if change.outbox is None else change.outbox


def written_slot(before: Slot, change: SlotWrite, etag: str) -> Slot:
    """The slot as ``change`` left it, under its new ETag."""
    return Slot(before.endpoint, change.active, change.waiting, etag, outbox_after(before, change))


def check_one_active(before: Slot, change: SlotWrite) -> None:
    """One active rollout per endpoint, enforced on the ETag-guarded ``before``: a different
    rollout may take the slot only once the stored one has ended (reached a terminal phase),
    before or in the same atomic write."""
    old = before.active
    if old is None or not old.active:
        return
    ended_here = any(r.id == old.id and not r.active for r in change.rollouts)
    if change.active is not None and change.active.id != old.id and not ended_here:
        raise ActiveRolloutExists(
            f"endpoint {before.endpoint!r} already has active rollout {old.id!r} "
            f"({old.phase.value}); end it before starting {change.active.id!r}",
            details={"endpoint": before.endpoint, "active": old.id},
        )
    if change.active is None and not ended_here:
        raise ActiveRolloutExists(
            f"endpoint {before.endpoint!r}: active rollout {old.id!r} ({old.phase.value}) "
            "cannot leave the slot without being ended in the same write",
            details={"endpoint": before.endpoint, "active": old.id},
        )


def plan_write(before: Slot, change: SlotWrite, now: datetime | None = None) -> WritePlan:
    """Validate ``change`` against ``before`` and build its rows. Raises InvalidInput or
    ActiveRolloutExists (nothing is written); the caller applies the plan atomically.
    ``now`` stamps the event inbox row (retention)."""
    endpoint = before.endpoint
    partition = partition_key(endpoint)
    check_one_active(before, change)
    if change.active is not None and change.active.endpoint != endpoint:
        raise InvalidInput(
            f"rollout {change.active.id!r} belongs to endpoint {change.active.endpoint!r}, "
            f"not {endpoint!r}"
        )
    rollouts: dict[str, Rollout] = {}
    for r in change.rollouts:
        if r.endpoint != endpoint:
            raise InvalidInput(
                f"rollout {r.id!r} belongs to endpoint {r.endpoint!r}, not {endpoint!r}"
            )
        if r.id in rollouts and rollouts[r.id] != r:
            raise InvalidInput(f"rollout {r.id!r} appears twice with different content")
        rollouts[r.id] = r
    active_id = change.active.id if change.active else None
    if change.active is not None:
        listed = rollouts.get(change.active.id)
        if listed is not None and listed != change.active:
            raise InvalidInput(
                f"rollout {change.active.id!r} differs between the slot and the rollout rows"
            )
        if listed is None and change.active != before.active:
            rollouts[change.active.id] = change.active  # keep its row in step with the slot
    stray = [r.id for r in rollouts.values() if r.active and r.id != active_id]
    if stray:
        raise InvalidInput(
            f"rollout(s) {', '.join(map(repr, stray))} are not terminal but are not the "
            f"active rollout of {endpoint!r}"
        )
    seen: set[tuple[str, int]] = set()
    decisions: list[dict[str, Any]] = []
    for d in change.decisions:
        if (d.rollout_id, d.seq) in seen:
            raise InvalidInput(f"decision {d.seq} of rollout {d.rollout_id!r} appears twice")
        seen.add((d.rollout_id, d.seq))
        decisions.append(decision_entity(endpoint, d))
    event = (
        event_entity(endpoint, change.event_id, active_id or "", now)
        if change.event_id is not None
        else None
    )
    plan = WritePlan(
        partition=partition,
        slot=slot_entity(endpoint, change.active, change.waiting, outbox_after(before, change)),
        event=event,
        rollouts=tuple(rollout_entity(r) for r in rollouts.values()),
        decisions=tuple(decisions),
    )
    check_transaction(plan)
    return plan


def check_transaction(plan: WritePlan) -> None:
    if plan.operations > MAX_OPERATIONS:
        raise InvalidInput(
            f"a slot write may touch at most {MAX_OPERATIONS} rows, this one touches "
            f"{plan.operations}; write fewer rollouts or decisions at once"
        )
    rows: list[dict[str, Any]] = [plan.slot, *plan.rollouts, *plan.decisions]
    if plan.event is not None:
        rows.append(plan.event)
    wire = sum(wire_bytes(row) for row in rows)
    if wire > MAX_TRANSACTION_BYTES:
        raise InvalidInput(
            f"a slot write may carry at most {MAX_TRANSACTION_BYTES} bytes, this one carries "
            f"about {wire}; write its decisions in separate changes or trim their evidence",
            details={"bytes": wire, "limit": MAX_TRANSACTION_BYTES},
        )


# ------------------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class RolloutFilter:
    """A RolloutQuery as equality conditions on rollout-row columns."""

    conditions: tuple[tuple[str, Any], ...]
    limit: int

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return all(entity.get(column) == value for column, value in self.conditions)


_EXTRA_COLUMNS = {"version": "ModelVersion"}


def rollout_filter(query: RolloutQuery) -> RolloutFilter:
    if isinstance(query.limit, bool) or not isinstance(query.limit, int):
        raise InvalidInput("limit must be an integer")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
    unknown = sorted(set(query.extra) - set(_EXTRA_COLUMNS))
    if unknown:
        raise InvalidInput(
            f"unsupported rollout filter(s) {', '.join(unknown)}; "
            f"supported: endpoint, model, phase, active_only, {', '.join(_EXTRA_COLUMNS)}"
        )
    conditions: list[tuple[str, Any]] = []
    if query.endpoint is not None:
        conditions.append(("PartitionKey", partition_key(query.endpoint)))
    if query.model is not None:
        conditions.append(("ModelName", str(query.model)))
    if query.phase is not None:
        conditions.append(("Phase", query.phase.value))
    if query.active_only:
        conditions.append(("Active", True))
    for key, value in query.extra.items():
        conditions.append((_EXTRA_COLUMNS[key], str(value)))
    return RolloutFilter(tuple(conditions), query.limit)


def newest_rollouts(rollouts: Iterable[Rollout], limit: int) -> list[Rollout]:
    return sorted(rollouts, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]


def newest_ignored(events: Iterable[IgnoredEvent], limit: int) -> list[IgnoredEvent]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")
    return sorted(events, key=lambda e: (e.at, e.event_id), reverse=True)[:limit]


# ------------------------------------------------------------------------------------- retry


def retry_on_stale(
    fn: Callable[[], T],
    attempts: int = 5,
    *,
    base_delay: float = 0.005,
    max_delay: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` (which must re-read and re-decide each time) until it does not raise
    StaleState, at most ``attempts`` times, with a short jittered pause between tries; the last
    StaleState propagates. Other errors propagate at once."""
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(attempts):
        try:
            return fn()
        except StaleState:
            if attempt == attempts - 1:
                raise
            sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover
