"""What the engine writes for an admission: the one slot write (the slot as admitted, the new
rollout's row and records, its lifecycle events into the outbox) and the outbox entries of a
transition's events. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from shared.machine import Admission
from shared.model import Effect, OutboxEvent, PublishEvent, Rollout
from shared.ports import Slot, SlotWrite

EVENT_PREFIX = "Autocanary.Rollout."
# reads and writes of one slot before a use case gives up on a slot that keeps changing (each
# stale ETag means another writer decided first: read again and decide again)
MAX_ATTEMPTS = 8


def admission_write(slot: Slot, adm: Admission, event_id: str | None = None) -> SlotWrite:
    """The one write of an admission: the slot as admitted, the new rollout's row and records,
    its events into the outbox, and (for a registration) the event id claimed."""
    rollouts = tuple(r for r in (adm.active,) if r is not None)
    news = outbox_events(adm.active, adm.effects) if adm.active is not None else ()
    return SlotWrite(
        active=adm.active,
        waiting=adm.waiting,
        rollouts=rollouts,
        decisions=adm.records,
        event_id=event_id,
        outbox=slot.outbox + news if news else None,
    )


def outbox_events(r: Rollout, effects: Sequence[Effect]) -> tuple[OutboxEvent, ...]:
    """The transition's lifecycle events as outbox entries, with ids stable across resends:
    the rollout, its seq after the transition (its decision's), and the position."""
    events = [e for e in effects if isinstance(e, PublishEvent)]
    return tuple(
        OutboxEvent(
            id=f"{r.id}:{r.seq}:{i}",
            type=EVENT_PREFIX + e.type,
            subject=f"endpoints/{r.endpoint}/rollouts/{r.id}",
            data=e.data,
        )
        for i, e in enumerate(events)
    )
