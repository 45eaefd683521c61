"""A waiting version, once its endpoint is free: started, or dropped and listed with the
ignored events when the endpoint now serves it or a newer version (the check a new event
gets: :func:`shared.machine.waiting_stale`). A function over the store port; the engine
passes its own, and the live models it read."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from shared.applying import record_dropped
from shared.decisionlog import log_decisions
from shared.errors import StaleState
from shared.machine import operator_event_id, start_waiting, waiting_stale
from shared.ports import IgnoredEvent, RolloutStore, Slot, SlotWrite

log = logging.getLogger("autocanary")


def waiting_to_start(slot: Slot) -> bool:
    """Whether the slot holds a waiting version and no active rollout: it is due to start."""
    active = slot.active
    return slot.waiting is not None and (active is None or active.phase.terminal)


def start_or_drop(
    store: RolloutStore, slot: Slot, live_models: Mapping[str, str | None], now: datetime
) -> None:
    """Start the slot's waiting version, or drop it (nothing lost: it is listed with the
    ignored events, with the reason, before it leaves the slot). Written under the slot's
    ETag; when the slot changed meanwhile nothing more is done (someone else started it: the
    caller re-reads)."""
    if not waiting_to_start(slot):
        return  # started meanwhile (another tick), or a rollout is active: nothing to do
    waiting = slot.waiting
    assert waiting is not None

    stale = waiting_stale(waiting, live_models)
    if stale is not None:
        # Listed first (idempotent by event id), then dropped: a crash between the two leaves
        # it waiting, and the next try drops it again, so it is never dropped unlisted.
        model = waiting.model
        event_id = model.event_id or operator_event_id("waited", now, model.asset_id)
        record_dropped(store, IgnoredEvent(event_id, model, stale[0], stale[1], now))
        try:
            store.write(slot, SlotWrite(active=slot.active, waiting=None))
        except StaleState:
            return
        log.info("waiting version %s not started: %s", model.asset_id, stale[1])
        return
    started = start_waiting(waiting, now)
    assert started.record is not None
    try:
        store.write(
            slot,
            SlotWrite(
                active=started.rollout,
                waiting=None,
                rollouts=(started.rollout,),
                decisions=(started.record,),
            ),
        )
    except StaleState:
        return
    log_decisions((started.record,), (started.rollout,))
