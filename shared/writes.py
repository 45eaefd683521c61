"""What the engine writes: for an admission, the one slot write (the slot as admitted, the new
rollout's row and records, its lifecycle events into the outbox); for a transition, the slot
write it needs, if any (nothing when only what moves every tick changed); and the outbox
entries of a transition's events. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from shared.effects import Effect, OutboxEvent, PublishEvent
from shared.machine import Admission, Transition
from shared.model import DecisionRecord, Rollout
from shared.ports import Slot, SlotWrite
from shared.settle import steady_evidence, steady_reading

EVENT_PREFIX = "Autocanary.Rollout."
# reads and writes of one slot before a use case gives up on a slot that keeps changing (each
# stale ETag means another writer decided first: read again and decide again)
MAX_ATTEMPTS = 8
# Evidence keys that change on every tick without the state changing: never a reason to write.
VOLATILE_EVIDENCE = frozenset({"elapsed_s"})
# The outbox keeps the lifecycle events not sent yet (the topic down, or refusing them: a
# missing role, a deleted topic) in the slot's row, which Table Storage holds to 1 MiB. Without
# a bound, every decision made while the topic refuses adds its events for good, until no
# state write of the endpoint fits (about 150 rollouts): then no rollback commits and every
# registration is refused. So the outbox keeps the newest events within both bounds and the
# oldest are dropped (logged where the write is committed): publishing is best effort, state
# writes are not. Bytes as the JSON text, twice over (Table Storage counts UTF-16).
MAX_OUTBOX_EVENTS = 100
MAX_OUTBOX_BYTES = 192 * 1024


def admission_write(slot: Slot, adm: Admission, event_id: str | None = None) -> SlotWrite:
    """The one write of an admission: the slot as admitted, the new rollout's row and records,
    its events into the outbox, and (for a registration) the event id claimed."""
    rollouts = tuple(r for r in (adm.active,) if r is not None)
    at = adm.records[-1].at if adm.records else None
    news = outbox_events(adm.active, adm.effects, at) if adm.active is not None else ()
    outbox, dropped = _outbox(slot.outbox, news)
    return SlotWrite(
        active=adm.active,
        waiting=adm.waiting,
        rollouts=rollouts,
        decisions=adm.records,
        event_id=event_id,
        outbox=outbox,
        dropped=dropped,
    )


def outbox_events(
    r: Rollout, effects: Sequence[Effect], at: datetime | None = None
) -> tuple[OutboxEvent, ...]:
    """The transition's lifecycle events as outbox entries, with ids stable across resends:
    the rollout, its seq after the transition (its decision's), and the position; ``at``, the
    decision's time, is the events' time (else the rollout's last update)."""
    events = [e for e in effects if isinstance(e, PublishEvent)]
    when = at or r.updated_at
    return tuple(
        OutboxEvent(
            id=f"{r.id}:{r.seq}:{i}",
            type=EVENT_PREFIX + e.type,
            subject=f"endpoints/{r.endpoint}/rollouts/{r.id}",
            data=e.data,
            time=when.isoformat() if when is not None else "",
        )
        for i, e in enumerate(events)
    )


def transition_write(slot: Slot, t: Transition) -> SlotWrite | None:
    """The slot write of a transition: the rollout as it now stands (a terminal one leaves the
    slot; a waiting version stays, for the engine to check against what the endpoint serves
    then and start), its decision, and its lifecycle events into the outbox. None when
    nothing changed but what moves every tick."""
    nxt = t.rollout
    decisions: list[DecisionRecord] = [t.record] if t.record else []
    active: Rollout | None = None if nxt.phase.terminal else nxt
    waiting = slot.waiting
    rollouts = [nxt]
    news = outbox_events(nxt, t.effects, t.record.at if t.record else None)
    if not decisions and not news and same_state(nxt, slot.active):
        return None
    outbox, dropped = _outbox(slot.outbox, news)
    return SlotWrite(
        active=active,
        waiting=waiting,
        rollouts=tuple(rollouts),
        decisions=tuple(decisions),
        outbox=outbox,
        dropped=dropped,
    )


def bounded_outbox(
    events: Sequence[OutboxEvent],
) -> tuple[tuple[OutboxEvent, ...], tuple[OutboxEvent, ...]]:
    """(kept, dropped): the newest events within :data:`MAX_OUTBOX_EVENTS` and
    :data:`MAX_OUTBOX_BYTES`, in order, and the older ones beyond them."""
    kept = 0
    size = 0
    for e in reversed(events):
        cost = 2 * len(json.dumps(e.to_dict(), separators=(",", ":")))
        if kept >= MAX_OUTBOX_EVENTS or size + cost > MAX_OUTBOX_BYTES:
            break
        kept += 1
        size += cost
    cut = len(events) - kept
    return tuple(events[cut:]), tuple(events[:cut])


def _outbox(
    outbox: tuple[OutboxEvent, ...], news: tuple[OutboxEvent, ...]
) -> tuple[tuple[OutboxEvent, ...] | None, tuple[OutboxEvent, ...]]:
    """The outbox a write leaves (None: unchanged) and the events it drops."""
    if not news:
        return None, ()
    return bounded_outbox(outbox + news)


def _steady(r: Rollout) -> Rollout:
    evidence = {k: v for k, v in r.evidence.items() if k not in VOLATILE_EVIDENCE}
    if isinstance(evidence.get("minutes"), Mapping):
        evidence["minutes"] = steady_evidence(evidence["minutes"])
    return replace(r, evidence=evidence, readings=steady_reading(r.readings))


def same_state(nxt: Rollout, stored: Rollout | None) -> bool:
    """Whether ``nxt`` differs from what is stored only by what moves every tick: the seconds
    a stage has run, and the settle reading's horizon while no new minute entered it
    (:data:`shared.settle.MOVING_READING`): then nothing is written."""
    if stored is None:
        return False
    if nxt == stored:
        return True
    return _steady(nxt) == _steady(stored)
